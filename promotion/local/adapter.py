"""`RegistryAdapter` over the local MLflow server, acting as one principal.

Addressing (see naming.py): `catalog.schema.model` -> workspace `catalog`, registered model
`schema.model`. Each adapter holds its own credentials and sends the workspace as a header on each
call, so adapters for several principals can live in one process and be used from many threads.

Errors: a refusal (403, or a 5xx whose body says permission denied) becomes
`PermissionRefused(principal, action, target)`; a missing model, version or file becomes
`NotFound`. MLflow answers 403 for a model that does not exist too, so a 403 is double-checked:
when the principal can see the workspace but the model is not there, it is `NotFound`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from promotion.local import artifacts
from promotion.local.copy_cache import DEFAULT_MAX_BYTES, CopyCache, discard
from promotion.local.errors import HttpFailure, classify
from promotion.local.http import MlflowHttp
from promotion.local.naming import split_full_name
from promotion.local.model_files import parse_mlmodel, run_metrics
from promotion.registry import ModelVersion, NotFound, PermissionRefused, ProgressCallback, RegistryError

T = TypeVar("T")
_MODELS = "/api/2.0/mlflow/registered-models"
_VERSIONS = "/api/2.0/mlflow/model-versions"
_RUNS = "/api/2.0/mlflow/runs"
_EXPERIMENTS = "/api/2.0/mlflow/experiments"
_SAFE_FILTER_VALUE = re.compile(r"^[\w.\-:/@+= ]*$")
PROMOTION_EXPERIMENT = "promotions/{model}"   # per target workspace; holds one run per copy
READ = "read"
WRITE = "write"


class LocalRegistryAdapter:
    def __init__(self, url: str, principal: str, password: str, *, timeout: float = 120.0,
                 race_retries: int = 6, copy_cache_bytes: int = DEFAULT_MAX_BYTES):
        self.principal = principal
        self.url = url.rstrip("/")
        self._http = MlflowHttp(self.url, principal, password, timeout=timeout)
        self._race_retries = race_retries
        self._copies = CopyCache(max_bytes=copy_cache_bytes)

    def __repr__(self) -> str:
        return f"LocalRegistryAdapter(url={self.url!r}, principal={self.principal!r})"

    # -- reads ----------------------------------------------------------------------------------

    def get_version(self, name: str, version: str) -> ModelVersion:
        workspace, model = split_full_name(name)
        body = self._call(READ, name, "GET", f"{_VERSIONS}/get", workspace,
                          params={"name": model, "version": str(version)})
        return _to_version(name, body["model_version"])

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        """None when no version carries the alias, or the model does not exist yet."""
        workspace, model = split_full_name(name)
        try:
            body = self._call(READ, name, "GET", f"{_MODELS}/alias", workspace,
                              params={"name": model, "alias": alias})
        except NotFound:
            return None
        except RegistryError as exc:
            if _is_unknown_alias(exc):
                return None
            raise
        return _to_version(name, body["model_version"])

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self._search_versions(name, f"name = '{_quote(split_full_name(name)[1])}'")

    def find_version_by_tag(self, name: str, key: str, value: str) -> ModelVersion | None:
        model = split_full_name(name)[1]
        if _SAFE_FILTER_VALUE.match(key) and _SAFE_FILTER_VALUE.match(value):
            query = f"name = '{_quote(model)}' AND tags.`{key}` = '{value}'"
        else:  # no quoting games with odd characters: filter on our side
            query = f"name = '{_quote(model)}'"
        matches = [v for v in self._search_versions(name, query) if v.tags.get(key) == value]
        return max(matches, key=lambda v: int(v.version)) if matches else None

    def model_info(self, name: str, version: str) -> dict[str, Any]:
        """{'signature': {'inputs': [...], 'outputs': [...], 'params': ...} | None,
        'input_example': <decoded JSON as logged> | None, 'input_example_info': {...} | None,
        'metrics': {name: latest value}, 'flavors': [...]}. For the example as the model's own
        type (DataFrame, ndarray...) use `load_pyfunc(...).input_example`.
        A version this adapter has just copied is read from its local copy (copy_cache.py)."""
        mv = self.get_version(name, version)
        cached = self._copies.lookup(name, mv.version, mv.source, mv.run_id)
        root = None if cached is not None else self._artifact_root(name, version, mv)

        def read(relpath: str) -> str:
            nonlocal cached, root
            if cached is not None and self._copies.verified(cached, [relpath]):
                return cached.path(relpath).read_text(encoding="utf-8")
            cached = None
            root = root or self._artifact_root(name, version, mv)
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
        import mlflow.pyfunc

        local = self._cached_files(name, version)
        if local is None:
            root = self._artifact_root(name, version)
            files = self._guard(READ, name, lambda: artifacts.walk(self._http, root))
            local = Path(tempfile.mkdtemp(prefix="lakegate-model-"))
            try:
                self._guard(READ, name, lambda: artifacts.download_tree(self._http, root, files, local))
            except BaseException:
                shutil.rmtree(local, ignore_errors=True)
                raise
        try:
            model = mlflow.pyfunc.load_model(str(local))
        except BaseException:
            shutil.rmtree(local, ignore_errors=True)
            raise
        weakref.finalize(model, shutil.rmtree, str(local), True)  # files live as long as the model
        return model

    # -- writes ---------------------------------------------------------------------------------

    def copy_version(self, source: ModelVersion, target_name: str, tags: dict[str, str],
                     progress: ProgressCallback | None = None) -> ModelVersion:
        """Really copy: stream the source version's files, read as this principal from the source
        workspace, into a run of the target workspace's promotion experiment, then register that
        run's copy as a new version of the target model (created if missing) carrying `tags`.
        The source run's metrics and params are copied onto that run so the target's gates can
        read them without access to the source. The copied files are also kept in this adapter's
        local copy cache, so loading the new version (smoke gate) does not download them again."""
        target_ws, target_model = split_full_name(target_name)
        source_root = self._artifact_root(source.name, source.version, source)
        files = self._guard(READ, source.name, lambda: artifacts.walk(self._http, source_root))
        if not files:
            raise RegistryError(f"{source.name} version {source.version} has no artifacts to copy")
        run_data = self._source_run_data(source)

        self._ensure_registered_model(target_name)
        experiment_id = self._ensure_experiment(target_name, PROMOTION_EXPERIMENT.format(model=target_model))
        run_tags = {**tags, "lakegate.promoted_from": f"{source.name}/{source.version}",
                    "mlflow.runName": f"copy of {source.name} v{source.version}"}
        run = self._call(WRITE, target_name, "POST", f"{_RUNS}/create", target_ws, json={
            "experiment_id": experiment_id, "start_time": _now_ms(),
            "tags": [{"key": k, "value": str(v)} for k, v in run_tags.items()],
        })["run"]["info"]
        run_id = run["run_id"]
        model_uri = f"{run['artifact_uri'].rstrip('/')}/model"
        staged = self._copies.stage(sum(f.size for f in files))
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakegate-run-data") as beside:
                logged = beside.submit(self._log_run_data, target_name, target_ws, run_id, run_data)
                copied = self._guard(WRITE, target_name, lambda: artifacts.copy_tree(
                    self._http, source_root, artifacts.proxy_path(model_uri), files, progress, staged))
                logged.result()
            created = self._call(WRITE, target_name, "POST", f"{_VERSIONS}/create", target_ws, json={
                "name": target_model, "source": model_uri, "run_id": run_id,
                "tags": [{"key": k, "value": str(v)} for k, v in tags.items()],
                "description": f"Copied from {source.name} version {source.version}",
            })["model_version"]
            self._call(WRITE, target_name, "POST", f"{_RUNS}/update", target_ws,
                       json={"run_id": run_id, "status": "FINISHED", "end_time": _now_ms()})
            version = self._wait_ready(target_name, _to_version(target_name, created))
        except BaseException:
            discard(staged)
            raise
        if staged is not None:
            self._copies.keep(staged, target_name, version.version, version.source, version.run_id, copied)
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        workspace, model = split_full_name(name)
        self._retry_races(lambda: self._call(
            f"set alias {alias}", name, "POST", f"{_MODELS}/alias", workspace,
            json={"name": model, "alias": alias, "version": str(version)}))

    def delete_alias(self, name: str, alias: str) -> None:
        """Idempotent: deleting an alias that is not set is not an error."""
        workspace, model = split_full_name(name)
        try:
            self._call(f"delete alias {alias}", name, "DELETE", f"{_MODELS}/alias", workspace,
                       json={"name": model, "alias": alias})
        except RegistryError as exc:
            if not _is_unknown_alias(exc):
                raise

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        workspace, model = split_full_name(name)
        self._retry_races(lambda: self._call(
            f"tag version {version}", name, "POST", f"{_VERSIONS}/set-tag", workspace,
            json={"name": model, "version": str(version), "key": key, "value": str(value)}))

    def delete_version(self, name: str, version: str) -> None:
        """Delete one version of the model (its aliases go with it). The copy's run and files stay
        in the promotion experiment, like those of any deleted version."""
        workspace, model = split_full_name(name)
        self._copies.drop(name, str(version))
        self._call(f"delete version {version}", name, "DELETE", f"{_VERSIONS}/delete", workspace,
                   json={"name": model, "version": str(version)})

    # -- helpers --------------------------------------------------------------------------------

    def _call(self, action: str, target: str, method: str, path: str, workspace: str, **kwargs: Any) -> dict:
        return self._guard(action, target, lambda: self._http.call(method, path, workspace=workspace, **kwargs))

    def _guard(self, action: str, target: str, fn: Callable[[], T]) -> T:
        """Run fn, turning HTTP failures into registry errors for this principal/action/target."""
        try:
            return fn()
        except HttpFailure as failure:
            error = classify(failure, self.principal, action, target)
            if failure.is_refusal and self._model_is_missing(target):
                error = NotFound(f"{target} not found (or not visible to principal {self.principal})")
            raise error from failure

    def _model_is_missing(self, full_name: str) -> bool:
        """After a 403: True when the principal can see the workspace but the model is not there
        (MLflow answers 403, not 404, for a registered model that does not exist)."""
        try:
            workspace, model = split_full_name(full_name)
            visible = {w["name"] for w in self._http.call("GET", "/api/3.0/mlflow/workspaces").get("workspaces", [])}
            if workspace not in visible:
                return False
            found = self._http.call("GET", f"{_MODELS}/search", workspace=workspace,
                                    params={"filter": f"name = '{_quote(model)}'", "max_results": 1})
            return not found.get("registered_models")
        except (HttpFailure, RegistryError):
            return False

    def _search_versions(self, name: str, query: str) -> list[ModelVersion]:
        workspace = split_full_name(name)[0]
        versions: list[ModelVersion] = []
        token = None
        while True:
            params = {"filter": query, "max_results": 10000, **({"page_token": token} if token else {})}
            body = self._call(READ, name, "GET", f"{_VERSIONS}/search", workspace, params=params)
            versions += [_to_version(name, mv) for mv in body.get("model_versions", [])]
            token = body.get("next_page_token")
            if not token:
                break
        if not versions:
            self._check_workspace_visible(name)  # search is filtered, so silence may mean refusal
            return []
        aliases = self._aliases(name)  # search results leave the aliases out
        versions = [replace(v, aliases=tuple(sorted(aliases.get(v.version, ())))) for v in versions]
        return sorted(versions, key=lambda v: int(v.version))

    def _aliases(self, name: str) -> dict[str, list[str]]:
        workspace, model = split_full_name(name)
        body = self._call(READ, name, "GET", f"{_MODELS}/get", workspace, params={"name": model})
        by_version: dict[str, list[str]] = {}
        for entry in body["registered_model"].get("aliases") or []:
            by_version.setdefault(str(entry["version"]), []).append(entry["alias"])
        return by_version

    def _check_workspace_visible(self, name: str) -> None:
        workspace = split_full_name(name)[0]
        listed = self._call(READ, name, "GET", "/api/3.0/mlflow/workspaces", "").get("workspaces", [])
        if workspace not in {w["name"] for w in listed}:
            raise PermissionRefused(self.principal, READ, name, detail=f"no role in workspace {workspace}")

    def _artifact_root(self, name: str, version: str, known: ModelVersion | None = None) -> str:
        """The proxy path of the version's files. A version registered from an artifact location
        (every copy) is downloaded from its `source` as is (MLflow's download URI is the source
        then); only `models:/...` sources need the registry to resolve them."""
        if known is not None and known.source.startswith(f"{artifacts.SCHEME}:"):
            return artifacts.proxy_path(known.source)
        workspace, model = split_full_name(name)
        body = self._call(READ, name, "GET", f"{_VERSIONS}/get-download-uri", workspace,
                          params={"name": model, "version": str(version)})
        return artifacts.proxy_path(body["artifact_uri"])

    def _cached_files(self, name: str, version: str) -> Path | None:
        """A private folder holding the version's files from the copy cache, when this adapter
        copied that very version and every file still has the size and hash taken while copying."""
        entry = self._copies.get(name, version)
        if entry is None:
            return None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakegate-verify") as beside:
            intact = beside.submit(self._copies.verified, entry)  # hashing overlaps the round trip
            mv = self.get_version(name, version)  # as this principal, now: it may read it, and what it is
            current = self._copies.lookup(name, mv.version, mv.source, mv.run_id)
            if current is not entry or not intact.result():
                return None
        try:
            return self._copies.linked_copy(entry)
        except OSError:
            return None

    def _metrics(self, name: str, run_id: str) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            run = self._call(READ, name, "GET", f"{_RUNS}/get", split_full_name(name)[0], params={"run_id": run_id})
        except NotFound:
            return {}
        return run_metrics(run["run"])

    def _source_run_data(self, source: ModelVersion) -> dict:
        if not source.run_id:
            return {}
        try:
            run = self._call(READ, source.name, "GET", f"{_RUNS}/get", split_full_name(source.name)[0],
                             params={"run_id": source.run_id})["run"]
        except NotFound:
            return {}
        data = run.get("data") or {}
        return {"metrics": data.get("metrics") or [], "params": data.get("params") or []}

    def _log_run_data(self, target_name: str, workspace: str, run_id: str, data: dict) -> None:
        metrics, params = data.get("metrics") or [], data.get("params") or []
        for start in range(0, max(len(metrics), len(params)), 100):
            self._call(WRITE, target_name, "POST", f"{_RUNS}/log-batch", workspace, json={
                "run_id": run_id, "metrics": metrics[start:start + 100], "params": params[start:start + 100],
            })

    def _ensure_registered_model(self, target_name: str) -> None:
        workspace, model = split_full_name(target_name)
        try:  # usually there already; a read is cheaper than a failed create
            self._http.call("GET", f"{_MODELS}/get", workspace=workspace, params={"name": model})
            return
        except HttpFailure as failure:
            if not (failure.is_missing or failure.is_refusal):  # 403 also means "no such model"
                raise classify(failure, self.principal, WRITE, target_name) from failure
        try:
            self._http.call("POST", f"{_MODELS}/create", workspace=workspace, json={"name": model})
        except HttpFailure as failure:
            if not failure.already_exists:
                raise classify(failure, self.principal, WRITE, target_name) from failure

    def _ensure_experiment(self, target_name: str, experiment: str) -> str:
        workspace = split_full_name(target_name)[0]
        for _ in range(3):  # concurrent copies may race to create it
            try:
                return self._http.call("GET", f"{_EXPERIMENTS}/get-by-name", workspace=workspace,
                                       params={"experiment_name": experiment})["experiment"]["experiment_id"]
            except HttpFailure as failure:
                if not failure.is_missing:
                    raise classify(failure, self.principal, WRITE, target_name) from failure
            try:
                return self._http.call("POST", f"{_EXPERIMENTS}/create", workspace=workspace,
                                       json={"name": experiment})["experiment_id"]
            except HttpFailure as failure:
                if not (failure.already_exists or failure.is_race):
                    raise classify(failure, self.principal, WRITE, target_name) from failure
        raise RegistryError(f"could not create or find experiment {experiment!r} in workspace {workspace}")

    def _wait_ready(self, name: str, version: ModelVersion, timeout: float = 60.0) -> ModelVersion:
        deadline = time.monotonic() + timeout
        while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(0.1)
            version = self.get_version(name, version.version)
        if version.status != "READY":
            raise RegistryError(f"{name} version {version.version} ended in status {version.status}")
        return version

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


def _to_version(full_name: str, mv: dict) -> ModelVersion:
    return ModelVersion(
        name=full_name,
        version=str(mv["version"]),
        source=mv.get("source", ""),
        run_id=mv.get("run_id", "") or "",
        tags={t["key"]: t.get("value", "") for t in mv.get("tags") or []},
        aliases=tuple(sorted(mv.get("aliases") or ())),
        created_at_ms=int(mv.get("creation_timestamp") or 0),
        status=mv.get("status", "READY") or "READY",
    )


def _is_unknown_alias(exc: RegistryError) -> bool:
    """MLflow answers 400 INVALID_PARAMETER_VALUE "Registered model alias X not found"."""
    cause = exc.__cause__
    return isinstance(cause, HttpFailure) and cause.status == 400 and "alias" in cause.message.lower() \
        and "not found" in cause.message.lower()


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _now_ms() -> int:
    return int(time.time() * 1000)
