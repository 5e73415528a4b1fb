"""The files of a Unity Catalog model version, through the Databricks Files API.

Every UC model version exposes its files under `/Models/<catalog>/<schema>/<model>/<version>/`; this
is the path MLflow's own `DatabricksSDKModelsArtifactRepository` reads and writes. Going through the
workspace (not straight to ADLS with temporary SAS credentials) keeps one identity, one client and
one error mapping for everything the adapter does.
"""

from __future__ import annotations

import hashlib
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from databricks.sdk.service.files import FilesAPI

CHUNK = 1024 * 1024


def version_root(full_name: str, version: str) -> str:
    return "/Models/" + full_name.replace(".", "/") + f"/{version}"


@dataclass(frozen=True)
class RemoteFile:
    path: str       # absolute Files API path
    size: int


def walk(files: FilesAPI, root: str) -> list[RemoteFile]:
    """Every file under `root`, depth first, sorted (a listing is one level and may be paged)."""
    found: list[RemoteFile] = []
    for entry in files.list_directory_contents(root):
        if entry.is_directory:
            found.extend(walk(files, entry.path))
        else:
            found.append(RemoteFile(entry.path, entry.file_size or 0))
    return sorted(found, key=lambda f: f.path)


def download(files: FilesAPI, path: str, dest: Path) -> int:
    """Stream one remote file to `dest`; returns the bytes written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    contents = files.download(path).contents
    with open(dest, "wb") as out:
        while chunk := contents.read(CHUNK):
            out.write(chunk)
            written += len(chunk)
    return written


def hash_file(files: FilesAPI, path: str) -> tuple[int, str]:
    """(size, sha256) of one remote file, streamed."""
    digest, size = hashlib.sha256(), 0
    contents = files.download(path).contents
    while chunk := contents.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def read_bytes(files: FilesAPI, path: str) -> bytes:
    """A small remote file (MLmodel, an input example) in memory."""
    return files.download(path).contents.read()


def download_tree(files: FilesAPI, root: str, dest_dir: Path) -> list[str]:
    """Download every file under `root` into `dest_dir`; returns their relative paths."""
    fetched = []
    for remote in walk(files, root):
        relative = posixpath.relpath(remote.path, root)
        download(files, remote.path, dest_dir / relative)
        fetched.append(relative)
    return fetched


def copy_tree(
    files: FilesAPI,
    sources: list[RemoteFile],
    src_root: str,
    dst_root: str,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Copy `sources` (from `walk(src_root)`) to the same relative paths under `dst_root`; returns bytes.

    Each file passes through a local temporary file: the upload needs a seekable stream to use a
    single-shot PUT for small files (and multipart for large ones) instead of the unknown-length path.
    """
    total = sum(f.size for f in sources)
    done = 0
    if progress:
        progress(0, total)
    with tempfile.TemporaryDirectory(prefix="lakegate-uc-copy-") as scratch:
        staged = Path(scratch) / "file"
        for remote in sources:
            download(files, remote.path, staged)
            with open(staged, "rb") as stream:
                files.upload(posixpath.join(dst_root, posixpath.relpath(remote.path, src_root)), stream,
                             overwrite=True)
            done += staged.stat().st_size
            if progress:
                progress(done, max(total, done))
    return done
