"""Artifact transfer through the server's artifact proxy (`mlflow-artifacts:/` URIs).

Every byte goes through the server as the acting principal, with the workspace header of the
side it touches, so the server's own authorization decides what may be read and written.
A copy streams each file from the source download straight into the target upload (see
stream_copy.py: download and upload overlap, memory bounded by a few chunks), with a known
Content-Length. `version_root` says where a version's files are.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar
from urllib.parse import urlparse

from lakegate.promotion.local.rest import READ, VERSIONS, MlflowHttp, RegistryRest
from lakegate.promotion.local.workspaces import mlflow_address
from lakegate.promotion.registry import ModelVersion, RegistryError

from .stream_copy import CopiedFile, copy_file

if TYPE_CHECKING:
    from .copy_cache import StagedCopy

SCHEME = "mlflow-artifacts"
T = TypeVar("T")
_DOWNLOAD_CHUNK = 1024 * 1024
_PARALLEL_FILES = 4


@dataclass(frozen=True)
class ArtifactFile:
    relpath: str  # relative to the artifact root, posix separators
    size: int


def proxy_path(artifact_uri: str) -> str:
    """`mlflow-artifacts:/workspaces/dev/2/models/m-1/artifacts` -> the proxy path after the scheme."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme != SCHEME:
        raise RegistryError(
            f"artifact location {artifact_uri!r} is not served by the local registry's artifact proxy"
        )
    return parsed.path.strip("/")


def version_root(rest: RegistryRest, name: str, version: str, known: ModelVersion | None = None) -> str:
    """The proxy path of the version's files. A version registered from an artifact location
    (every copy) is downloaded from its `source` as is (MLflow's download URI is the source
    then); only `models:/...` sources need the registry to resolve them."""
    if known is not None and known.source.startswith(f"{SCHEME}:"):
        return proxy_path(known.source)
    workspace, model = mlflow_address(name)
    body = rest.call(READ, name, "GET", f"{VERSIONS}/get-download-uri", workspace,
                     params={"name": model, "version": str(version)})
    return proxy_path(body["artifact_uri"])


def workspace_of(path: str) -> str | None:
    """The workspace a proxy path belongs to (`workspaces/<ws>/...`), None for the default one."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "workspaces" else None


def walk(http: MlflowHttp, root: str) -> list[ArtifactFile]:
    """Every file under the proxy path `root`, recursively."""
    workspace = workspace_of(root)
    found: list[ArtifactFile] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        listing = http.list_artifacts(workspace or "", posixpath.join(root, rel_dir) if rel_dir else root)
        for entry in listing:
            rel = posixpath.join(rel_dir, posixpath.basename(entry["path"].rstrip("/")))
            if entry.get("is_dir"):
                pending.append(rel)
            else:
                found.append(ArtifactFile(rel, int(entry.get("file_size") or 0)))
    return sorted(found, key=lambda f: f.relpath)


def copy_tree(
    http: MlflowHttp,
    source_root: str,
    target_root: str,
    files: list[ArtifactFile],
    progress: Callable[[int, int], None] | None = None,
    staged: StagedCopy | None = None,
) -> list[CopiedFile]:
    """Stream every file from source_root into target_root, a few files at a time (a model is
    mostly small files, where round trips dominate), each one downloaded and uploaded at once (see
    stream_copy.py). With `staged`, the bytes are also kept locally (copy_cache.py).
    Returns what was copied: each file's size and SHA-256."""
    source_ws, target_ws = workspace_of(source_root) or "", workspace_of(target_root) or ""
    total = sum(f.size for f in files)
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            if progress:
                progress(done, total)

    def copy_one(item: ArtifactFile) -> CopiedFile:
        sink = staged.sink(item.relpath) if staged is not None else None
        try:
            copied = copy_file(http, (source_ws, posixpath.join(source_root, item.relpath)),
                               (target_ws, posixpath.join(target_root, item.relpath)), item.relpath,
                               expected_size=item.size, on_bytes=advance, sink=sink)
        except BaseException:
            if sink is not None:
                sink.close()
            raise
        if staged is not None:
            staged.seal(copied, sink)
        return copied

    if progress:
        progress(0, total)
    # Largest first: the long transfer starts at once and the small files fill in beside it.
    return _run_parallel(copy_one, sorted(files, key=lambda f: -f.size))


def _run_parallel(fn: Callable[[ArtifactFile], T], files: list[ArtifactFile]) -> list[T]:
    """fn over files on a small pool, in order; the first failure is raised once all started work ends."""
    if len(files) <= 1:
        return [fn(item) for item in files]
    with ThreadPoolExecutor(max_workers=min(_PARALLEL_FILES, len(files)), thread_name_prefix="lakegate-copy") as pool:
        futures = [pool.submit(fn, item) for item in files]
        return [future.result() for future in futures]


def download_tree(http: MlflowHttp, root: str, files: list[ArtifactFile], dest: Path) -> Path:
    """Download the files under the proxy path `root` into `dest` (created if needed)."""
    workspace = workspace_of(root) or ""

    def fetch(item: ArtifactFile) -> None:
        target = dest.joinpath(*item.relpath.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        download_file(http, workspace, posixpath.join(root, item.relpath), target)

    _run_parallel(fetch, files)
    return dest


def download_file(http: MlflowHttp, workspace: str, path: str, target: Path) -> None:
    response = http.open_artifact(workspace, path)
    try:
        with open(target, "wb") as handle:
            for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                handle.write(chunk)
    finally:
        response.close()


def hash_tree(http: MlflowHttp, root: str, files: list[ArtifactFile]) -> list[tuple[str, int, str]]:
    """(relpath, size, sha256) of each file under the proxy path `root`, streamed (never kept)."""
    workspace = workspace_of(root) or ""

    def one(item: ArtifactFile) -> tuple[str, int, str]:
        digest, size = hashlib.sha256(), 0
        response = http.open_artifact(workspace, posixpath.join(root, item.relpath))
        try:
            for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        finally:
            response.close()
        return item.relpath, size, digest.hexdigest()

    return _run_parallel(one, files)


def read_text(http: MlflowHttp, root: str, relpath: str) -> str:
    response = http.request("GET", f"/api/2.0/mlflow-artifacts/artifacts/{posixpath.join(root, relpath)}",
                            workspace=workspace_of(root) or None)
    return response.content.decode("utf-8")
