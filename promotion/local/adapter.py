"""`RegistryAdapter` over the local MLflow server, acting as one principal.

Addressing (see workspaces.py): `catalog.schema.model` -> workspace `catalog`, registered model
`schema.model`. Each adapter holds its own credentials and sends the workspace as a header on each
call, so adapters for several principals can live in one process and be used from many threads.

Errors: a refusal (403, or a 5xx whose body says permission denied) becomes
`PermissionRefused(principal, action, target)`; a missing model, version or file becomes
`NotFound` (rest.py). Copies are made by a `VersionCopy` (version_copy.py) sharing the adapter's REST
client and copy cache; the reads below take a version this adapter has just copied from that cache.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from lakegate.promotion.local import relocate
from lakegate.promotion.local.rest import (MODELS, READ, RUNS, VERSIONS, WORKSPACES, HttpFailure, MlflowHttp, RegistryRest,
                                  is_unknown_alias, quote)
from lakegate.promotion.local.transfer import artifacts, private_tmp
from lakegate.promotion.local.transfer.copy_cache import DEFAULT_MAX_BYTES, CopyCache
from lakegate.promotion.local.version_copy import VersionCopy
from lakegate.promotion.local.workspaces import mlflow_address
from lakegate.promotion.mlmodel import parse_mlmodel, run_metrics
from lakegate.promotion.registry import (ModelVersion, NotFound, PermissionRefused, ProgressCallback, RegistryError,
                                artifacts_digest, version_from_json)

T = TypeVar("T")
_SAFE_FILTER_VALUE = re.compile(r"^[\w.\-:/@+= ]*$")


class LocalRegistryAdapter:
    def __init__(self, url: str, principal: str, password: str, *, timeout: float = 120.0,
                 race_retries: int = 6, copy_cache_bytes: int = DEFAULT_MAX_BYTES, state_dir: Path | None = None):
        self.principal = principal
        # The registry's state folder: its lakehouse (`<state_dir>/lakehouse`) is where the gates read the
        # environment's validation table (pipelines/tables.py), as this same principal.
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.url = url.rstrip("/")
        self._http = MlflowHttp(self.url, principal, password, timeout=timeout)
        self._rest = RegistryRest(self._http, principal)
        self._race_retries = race_retries
        self._copies = CopyCache(max_bytes=copy_cache_bytes)
        self._copier = VersionCopy(self._rest, self._copies)

    def __repr__(self) -> str:
        return f"LocalRegistryAdapter(url={self.url!r}, principal={self.principal!r})"

    @property
    def copy_cache(self) -> CopyCache:
        """The local copies of the versions this adapter copied (transfer/copy_cache.py); `close()` frees them."""
        return self._copies

    # -- reads ----------------------------------------------------------------------------------

    def get_version(self, name: str, version: str) -> ModelVersion:
        return self._rest.get_version(name, version)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """None when no version carries the alias, or the model does not exist yet."""
        workspace, model = mlflow_address(name)
        try:
            body = self._call(READ, name, "GET", f"{MODELS}/alias", workspace,
                              params={"name": model, "alias": alias})
        except NotFound:
            return None
        except RegistryError as exc:
            if is_unknown_alias(exc):
                return None
            raise
        return version_from_json(body["model_version"], name)

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self._search_versions(name, f"name = '{quote(mlflow_address(name)[1])}'")

    def find_version_by_tag(self, name: str, key: str, value: str) -> ModelVersion | None:
        model = mlflow_address(name)[1]
        if _SAFE_FILTER_VALUE.match(key) and _SAFE_FILTER_VALUE.match(value):
            query = f"name = '{quote(model)}' AND tags.`{key}` = '{value}'"
        else:  # no quoting games with odd characters: filter on our side
            query = f"name = '{quote(model)}'"
        matches = [v for v in self._search_versions(name, query) if v.tags.get(key) == value]
        return max(matches, key=lambda v: int(v.version)) if matches else None

    def model_info(self, name: str, version: str) -> dict[str, Any]:
        """{'signature': {'inputs': [...], 'outputs': [...], 'params': ...} | None,
        'input_example': <decoded JSON as logged> | None, 'input_example_info': {...} | None,
        'metrics': {name: latest value}, 'flavors': [...]}. For the example as the model's own
        type (DataFrame, ndarray...) use `load_pyfunc(...).input_example`.
        A version this adapter has just copied is read from its local copy (transfer/copy_cache.py)."""
        mv = self.get_version(name, version)
        cached = self._copies.lookup(name, mv.version, mv.source, mv.run_id)
        root = None if cached is not None else artifacts.version_root(self._rest, name, version, mv)

        def read(relpath: str) -> str:
            nonlocal cached, root
            if cached is not None and self._copies.verified(cached, [relpath]):
                return cached.path(relpath).read_text(encoding="utf-8")
            cached = None
            root = root or artifacts.version_root(self._rest, name, version, mv)
            return self._guard(READ, name, lambda: artifacts.read_text(self._http, root, relpath))

        info = parse_mlmodel(yaml.safe_load(read("MLmodel")))
        example_path = (info.get("input_example_info") or {}).get("artifact_path")
        info["input_example"] = json.loads(read(example_path)) if example_path else None
        info["metrics"] = self._metrics(name, mv.run_id)
        return info

    def load_pyfunc(self, name: str, version: str) -> Any:
        """Load the version with mlflow.pyfunc from a private folder that lives as long as the model:
        the files this adapter has just copied into that version (checked against the size and hash
        taken while copying), else a download of its files as this principal."""
        from lakegate.promotion.model_requirements import load_pyfunc_model

        local = self._cached_files(name, version)
        if local is None:
            root = artifacts.version_root(self._rest, name, version)
            files = self._guard(READ, name, lambda: artifacts.walk(self._http, root))
            local = private_tmp.make(private_tmp.MODEL)
            try:
                self._guard(READ, name, lambda: artifacts.download_tree(self._http, root, files, local))
            except BaseException:
                shutil.rmtree(local, ignore_errors=True)
                raise
        try:
            model = load_pyfunc_model(local)
        except BaseException:
            shutil.rmtree(local, ignore_errors=True)
            raise
        weakref.finalize(model, shutil.rmtree, str(local), True)  # files live as long as the model
        return model

    def artifact_digest(self, name: str, version: str) -> str:
        """The digest of the version's files (promotion.registry.artifacts_digest), hashed while
        streaming them from the server as this principal; a version this adapter has just copied is
        taken from the hashes of the copy (the bytes streamed and verified on upload, transfer/copy_cache.py)."""
        mv = self.get_version(name, version)
        cached = self._copies.lookup(name, mv.version, mv.source, mv.run_id)
        if cached is not None and self._copies.verified(cached):
            return artifacts_digest((f.relpath, f.size, f.sha256) for f in cached.files.values())
        root = artifacts.version_root(self._rest, name, version, mv)
        files = self._guard(READ, name, lambda: artifacts.walk(self._http, root))
        if not files:
            raise NotFound(f"{name} version {version} has no artifacts")
        return artifacts_digest(self._guard(READ, name, lambda: artifacts.hash_tree(self._http, root, files)))

    def content_digest(self, name: str, version: str) -> str:
        """Like artifact_digest, with the MLmodel's location fields left out (relocate.canonical): a copy
        and its source agree on it exactly when the copy holds the source's content."""
        mv = self.get_version(name, version)
        cached = self._copies.lookup(name, mv.version, mv.source, mv.run_id)
        if cached is not None and self._copies.verified(cached):
            hashed = [(f.relpath, f.size, f.sha256) for f in cached.files.values() if f.relpath != relocate.MLMODEL]
            mlmodel = cached.path(relocate.MLMODEL).read_text(encoding="utf-8") \
                if relocate.MLMODEL in cached.files else None
        else:
            root = artifacts.version_root(self._rest, name, version, mv)
            files = self._guard(READ, name, lambda: artifacts.walk(self._http, root))
            if not files:
                raise NotFound(f"{name} version {version} has no artifacts")
            others = [f for f in files if f.relpath != relocate.MLMODEL]
            hashed = self._guard(READ, name, lambda: artifacts.hash_tree(self._http, root, others))
            mlmodel = self._guard(READ, name, lambda: artifacts.read_text(self._http, root, relocate.MLMODEL)) \
                if len(others) != len(files) else None
        if mlmodel is not None:
            canonical = relocate.canonical(mlmodel)
            hashed = [*hashed, (relocate.MLMODEL, len(canonical), hashlib.sha256(canonical).hexdigest())]
        return artifacts_digest(hashed)

    def digests(self, name: str, version: str) -> tuple[str, str]:
        """(artifact_digest, content_digest) of one version from one pass over its files: a recheck needs both of
        the same version (the approval signs the files, the copy must hold its source's content)."""
        mv = self.get_version(name, version)
        cached = self._copies.lookup(name, mv.version, mv.source, mv.run_id)
        if cached is not None and self._copies.verified(cached):
            return self.artifact_digest(name, version), self.content_digest(name, version)  # both from the copy's hashes
        root = artifacts.version_root(self._rest, name, version, mv)
        files = self._guard(READ, name, lambda: artifacts.walk(self._http, root))
        if not files:
            raise NotFound(f"{name} version {version} has no artifacts")
        hashed = self._guard(READ, name, lambda: artifacts.hash_tree(self._http, root, files))
        others = [h for h in hashed if h[0] != relocate.MLMODEL]
        if len(others) != len(hashed):
            mlmodel = self._guard(READ, name, lambda: artifacts.read_text(self._http, root, relocate.MLMODEL))
            canonical = relocate.canonical(mlmodel)
            others.append((relocate.MLMODEL, len(canonical), hashlib.sha256(canonical).hexdigest()))
        return artifacts_digest(hashed), artifacts_digest(others)

    def get_model_tag(self, name: str, key: str) -> str | None:
        workspace, model = mlflow_address(name)
        body = self._call(READ, name, "GET", f"{MODELS}/get", workspace, params={"name": model})
        tags = {t["key"]: t.get("value", "") for t in body["registered_model"].get("tags") or []}
        return tags.get(key)

    # -- writes ---------------------------------------------------------------------------------

    def copy_version(self, source: ModelVersion, target_name: str, tags: dict[str, str],
                     progress: ProgressCallback | None = None) -> ModelVersion:
        """Copy the source version's files into a new version of `target_name` (version_copy.py); the
        copied files stay in this adapter's copy cache, so loading the new version (smoke gate) does
        not download them again."""
        return self._copier.copy(source, target_name, tags, progress)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        workspace, model = mlflow_address(name)
        self._retry_races(lambda: self._call(
            f"tag registered model with {key}", name, "POST", f"{MODELS}/set-tag", workspace,
            json={"name": model, "key": key, "value": str(value)}))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        workspace, model = mlflow_address(name)
        self._retry_races(lambda: self._call(
            f"set alias {alias}", name, "POST", f"{MODELS}/alias", workspace,
            json={"name": model, "alias": alias, "version": str(version)}))

    def delete_alias(self, name: str, alias: str) -> None:
        """Idempotent: deleting an alias that is not set is not an error."""
        workspace, model = mlflow_address(name)
        try:
            self._call(f"delete alias {alias}", name, "DELETE", f"{MODELS}/alias", workspace,
                       json={"name": model, "alias": alias})
        except RegistryError as exc:
            if not is_unknown_alias(exc):
                raise

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        workspace, model = mlflow_address(name)
        self._retry_races(lambda: self._call(
            f"tag version {version}", name, "POST", f"{VERSIONS}/set-tag", workspace,
            json={"name": model, "version": str(version), "key": key, "value": str(value)}))

    def delete_version(self, name: str, version: str) -> None:
        """Delete one version of the model (its aliases go with it). The copy's run and files stay
        in the promotion experiment, like those of any deleted version."""
        workspace, model = mlflow_address(name)
        self._copies.drop(name, str(version))
        self._call(f"delete version {version}", name, "DELETE", f"{VERSIONS}/delete", workspace,
                   json={"name": model, "version": str(version)})

    # -- helpers --------------------------------------------------------------------------------

    def _call(self, action: str, target: str, method: str, path: str, workspace: str, **kwargs: Any) -> dict:
        return self._rest.call(action, target, method, path, workspace, **kwargs)

    def _guard(self, action: str, target: str, fn: Callable[[], T]) -> T:
        return self._rest.guard(action, target, fn)

    def _search_versions(self, name: str, query: str) -> list[ModelVersion]:
        workspace = mlflow_address(name)[0]
        versions: list[ModelVersion] = []
        token = None
        while True:
            params = {"filter": query, "max_results": 10000, **({"page_token": token} if token else {})}
            body = self._call(READ, name, "GET", f"{VERSIONS}/search", workspace, params=params)
            versions += [version_from_json(mv, name) for mv in body.get("model_versions", [])]
            token = body.get("next_page_token")
            if not token:
                break
        if not versions:
            self._check_workspace_visible(name)  # search is filtered, so silence may mean refusal
            return []
        self._copier.known_models.add(name)
        aliases = self._aliases(name)  # search results leave the aliases out
        versions = [replace(v, aliases=tuple(sorted(aliases.get(v.version, ())))) for v in versions]
        return sorted(versions, key=lambda v: int(v.version))

    def _aliases(self, name: str) -> dict[str, list[str]]:
        workspace, model = mlflow_address(name)
        body = self._call(READ, name, "GET", f"{MODELS}/get", workspace, params={"name": model})
        by_version: dict[str, list[str]] = {}
        for entry in body["registered_model"].get("aliases") or []:
            by_version.setdefault(str(entry["version"]), []).append(entry["alias"])
        return by_version

    def _check_workspace_visible(self, name: str) -> None:
        workspace = mlflow_address(name)[0]
        listed = self._call(READ, name, "GET", WORKSPACES, "").get("workspaces", [])
        if workspace not in {w["name"] for w in listed}:
            raise PermissionRefused(self.principal, READ, name, detail=f"no role in workspace {workspace}")

    def _cached_files(self, name: str, version: str) -> Path | None:
        """A private folder holding the version's files from the copy cache, when this adapter
        copied that very version and its files are still the sealed ones (transfer/copy_cache.py)."""
        entry = self._copies.get(name, version)
        if entry is None:
            return None
        mv = self.get_version(name, version)  # as this principal, now: it may read it, and what it is
        if self._copies.lookup(name, mv.version, mv.source, mv.run_id) is not entry or not self._copies.verified(entry):
            return None
        try:
            return self._copies.linked_copy(entry)
        except OSError:
            return None

    def _metrics(self, name: str, run_id: str) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            run = self._call(READ, name, "GET", f"{RUNS}/get", mlflow_address(name)[0], params={"run_id": run_id})
        except NotFound:
            return {}
        return run_metrics(run["run"])

    def _retry_races(self, fn: Callable[[], T]) -> T:
        """First-time alias/tag writes from concurrent clients can hit a unique-constraint 400."""
        for attempt in range(self._race_retries):
            try:
                return fn()
            except RegistryError as exc:
                cause = exc.__cause__
                if not (isinstance(cause, HttpFailure) and cause.is_race) or attempt == self._race_retries - 1:
                    raise
                time.sleep(0.02 * 2 ** attempt)
        raise AssertionError("unreachable")
