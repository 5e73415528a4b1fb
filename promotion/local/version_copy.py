"""The copy of a version into another workspace, as one principal: `VersionCopy.copy`.

Order, and why: the source is read first (its files, its run's metrics and params), so a principal
that may not read it fails before anything is created in the target. Then the target's run is made
in its promotion experiment, the bytes stream into it (transfer/artifacts.copy_tree: download and
upload at once, a few files at a time) while the metrics and params are logged beside them, and the
version is registered with its tags in the same call that creates it (claim.py relies on that). The
copy's MLmodel is rewritten to point at the target's copy run (relocate.py): a copy is self-contained.
Every byte is also kept in the copy cache (transfer/copy_cache.py), so the target's gates load the new
version without downloading it again.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

from lakegate.promotion.local import relocate
from lakegate.promotion.local.rest import (EXPERIMENTS, MODELS, READ, RUNS, VERSIONS, WRITE, HttpFailure, RegistryRest,
                                  classify, now_ms)
from lakegate.promotion.local.transfer import artifacts
from lakegate.promotion.local.transfer.copy_cache import CopyCache, StagedCopy, discard
from lakegate.promotion.local.transfer.stream_copy import CopiedFile
from lakegate.promotion.local.workspaces import mlflow_address
from lakegate.promotion.registry import ModelVersion, NotFound, ProgressCallback, RegistryError, version_from_json

PROMOTION_EXPERIMENT = "promotions/{model}"   # per target workspace; holds one run per copy


class VersionCopy:
    """Copies versions as `rest`'s principal, keeping the copied files in `cache`."""

    def __init__(self, rest: RegistryRest, cache: CopyCache):
        self._rest, self._cache = rest, cache
        # Registered models seen to exist: a copy into one skips the existence check (the caller has
        # just listed its versions); should it be gone, _create_version recreates it.
        self.known_models: set[str] = set()

    def copy(self, source: ModelVersion, target_name: str, tags: dict[str, str],
             progress: ProgressCallback | None = None) -> ModelVersion:
        """Really copy: stream the source version's files, read from the source workspace, into a run of
        the target workspace's promotion experiment, then register that run's copy as a new version of
        the target model (created if missing) carrying `tags`. The source run's metrics and params are
        copied onto that run so the target's gates can read them without access to the source."""
        rest = self._rest
        target_ws, target_model = mlflow_address(target_name)
        source_root = artifacts.version_root(rest, source.name, source.version, source)
        files = rest.guard(READ, source.name, lambda: artifacts.walk(rest.http, source_root))
        if not files:
            raise RegistryError(f"{source.name} version {source.version} has no artifacts to copy")
        run_data = self._source_run_data(source)

        checked = target_name not in self.known_models
        if checked:
            self._ensure_registered_model(target_name)
        experiment_id = self._ensure_experiment(target_name, PROMOTION_EXPERIMENT.format(model=target_model))
        run_tags = {**tags, "lakegate.promoted_from": f"{source.name}/{source.version}",
                    "mlflow.runName": f"copy of {source.name} v{source.version}"}
        run = rest.call(WRITE, target_name, "POST", f"{RUNS}/create", target_ws, json={
            "experiment_id": experiment_id, "start_time": now_ms(),
            "tags": [{"key": k, "value": str(v)} for k, v in run_tags.items()],
        })["run"]["info"]
        run_id = run["run_id"]
        model_uri = f"{run['artifact_uri'].rstrip('/')}/model"
        target_root = artifacts.proxy_path(model_uri)
        staged = self._cache.stage(sum(f.size for f in files))
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakegate-beside") as beside:
                logged = beside.submit(self._log_run_data, target_name, target_ws, run_id, run_data)
                copied = rest.guard(WRITE, target_name, lambda: artifacts.copy_tree(
                    rest.http, source_root, target_root, files, progress, staged))
                copied = rest.guard(WRITE, target_name, lambda: self._relocate(
                    source_root, target_ws, target_root, run_id, copied, staged))
                logged.result()
                finished = beside.submit(rest.call, WRITE, target_name, "POST", f"{RUNS}/update", target_ws,
                                         json={"run_id": run_id, "status": "FINISHED", "end_time": now_ms()})
                created = self._create_version(target_name, checked, {
                    "name": target_model, "source": model_uri, "run_id": run_id,
                    "tags": [{"key": k, "value": str(v)} for k, v in tags.items()],
                    "description": f"Copied from {source.name} version {source.version}",
                })
                finished.result()
            version = self._wait_ready(target_name, version_from_json(created, target_name))
        except BaseException:
            discard(staged)
            raise
        if staged is not None:
            self._cache.keep(staged, target_name, version.version, version.source, version.run_id, copied)
        return version

    def _relocate(self, source_root: str, target_ws: str, target_root: str, run_id: str,
                  copied: list[CopiedFile], staged: StagedCopy | None) -> list[CopiedFile]:
        """Rewrite the copy's MLmodel so nothing in it points into the source (relocate.py); the copy cache
        keeps the rewritten file, sealed like the others."""
        if not any(f.relpath == relocate.MLMODEL for f in copied):
            return copied
        http = self._rest.http
        data = relocate.relocated(artifacts.read_text(http, source_root, relocate.MLMODEL), run_id)
        http.upload_artifact(target_ws, f"{target_root}/{relocate.MLMODEL}", data)
        rewritten = CopiedFile(relocate.MLMODEL, len(data), hashlib.sha256(data).hexdigest())
        if staged is not None:
            staged.replace(rewritten, data)
        return [rewritten if f.relpath == relocate.MLMODEL else f for f in copied]

    def _create_version(self, target_name: str, checked: bool, request: dict) -> dict:
        """Register the copy. Unless `checked` (the model was ensured just before), the model was
        only known to exist a moment ago: if it has gone since, create it again and retry once."""
        workspace = mlflow_address(target_name)[0]
        try:
            return self._rest.http.call("POST", f"{VERSIONS}/create", workspace=workspace, json=request)["model_version"]
        except HttpFailure as failure:
            if checked or not (failure.is_missing or failure.is_refusal):
                raise self._rest.error(failure, WRITE, target_name) from failure
        self.known_models.discard(target_name)
        self._ensure_registered_model(target_name)
        return self._rest.call(WRITE, target_name, "POST", f"{VERSIONS}/create", workspace, json=request)["model_version"]

    def _source_run_data(self, source: ModelVersion) -> dict:
        if not source.run_id:
            return {}
        try:
            run = self._rest.call(READ, source.name, "GET", f"{RUNS}/get", mlflow_address(source.name)[0],
                                  params={"run_id": source.run_id})["run"]
        except NotFound:
            return {}
        data = run.get("data") or {}
        return {"metrics": data.get("metrics") or [], "params": data.get("params") or []}

    def _log_run_data(self, target_name: str, workspace: str, run_id: str, data: dict) -> None:
        metrics, params = data.get("metrics") or [], data.get("params") or []
        for start in range(0, max(len(metrics), len(params)), 100):
            self._rest.call(WRITE, target_name, "POST", f"{RUNS}/log-batch", workspace, json={
                "run_id": run_id, "metrics": metrics[start:start + 100], "params": params[start:start + 100],
            })

    def _fail(self, failure: HttpFailure, target_name: str) -> RegistryError:
        return classify(failure, self._rest.principal, WRITE, target_name)

    def _ensure_registered_model(self, target_name: str) -> None:
        workspace, model = mlflow_address(target_name)
        http = self._rest.http
        try:  # usually there already; a read is cheaper than a failed create
            http.call("GET", f"{MODELS}/get", workspace=workspace, params={"name": model})
            self.known_models.add(target_name)
            return
        except HttpFailure as failure:
            if not (failure.is_missing or failure.is_refusal):  # 403 also means "no such model"
                raise self._fail(failure, target_name) from failure
        try:
            http.call("POST", f"{MODELS}/create", workspace=workspace, json={"name": model})
        except HttpFailure as failure:
            if not failure.already_exists:
                raise self._fail(failure, target_name) from failure
        self.known_models.add(target_name)

    def _find_experiment(self, target_name: str, experiment: str) -> str | None:
        try:
            return self._rest.http.call("GET", f"{EXPERIMENTS}/get-by-name", workspace=mlflow_address(target_name)[0],
                                        params={"experiment_name": experiment})["experiment"]["experiment_id"]
        except HttpFailure as failure:
            if not failure.is_missing:
                raise self._fail(failure, target_name) from failure
        return None

    def _ensure_experiment(self, target_name: str, experiment: str) -> str:
        workspace = mlflow_address(target_name)[0]
        for _ in range(3):  # concurrent copies may race to create it
            found = self._find_experiment(target_name, experiment)
            if found is not None:
                return found
            try:
                return self._rest.http.call("POST", f"{EXPERIMENTS}/create", workspace=workspace,
                                            json={"name": experiment})["experiment_id"]
            except HttpFailure as failure:
                if not (failure.already_exists or failure.is_race):
                    raise self._fail(failure, target_name) from failure
        raise RegistryError(f"could not create or find experiment {experiment!r} in workspace {workspace}")

    def _wait_ready(self, name: str, version: ModelVersion, timeout: float = 60.0) -> ModelVersion:
        deadline = time.monotonic() + timeout
        while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(0.1)
            version = self._rest.get_version(name, version.version)
        if version.status != "READY":
            raise RegistryError(f"{name} version {version.version} ended in status {version.status}")
        return version
