"""The copy of a version into another workspace (`copy_version`), as a part of LocalRegistryAdapter.

Order, and why: the source is read first (its files, its run's metrics and params), so a principal
that may not read it fails before anything is created in the target. Then the target's run is made
in its promotion experiment, the bytes stream into it (artifacts.copy_tree: download and upload at
once, a few files at a time) while the metrics and params are logged beside them, and the version is
registered with its tags in the same call that creates it (claim.py relies on that). The copy's MLmodel
is rewritten to point at the target's copy run (relocate.py): a copy is self-contained. Every byte is
also kept in the adapter's copy cache (copy_cache.py), so the target's gates load the new version
without downloading it again.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

from promotion.local import artifacts, relocate
from promotion.local.copy_cache import discard
from promotion.local.stream_copy import CopiedFile
from promotion.local.errors import HttpFailure, classify
from promotion.local.naming import split_full_name
from promotion.local.rest import EXPERIMENTS, MODELS, READ, RUNS, VERSIONS, WRITE, now_ms, to_version
from promotion.registry import ModelVersion, NotFound, ProgressCallback, RegistryError

PROMOTION_EXPERIMENT = "promotions/{model}"   # per target workspace; holds one run per copy


class VersionCopier:
    """Mixed into LocalRegistryAdapter; uses its `_http`, `_call`/`_guard`/`_error` (error mapping),
    `_artifact_root`, `_copies` (the copy cache) and `_known_models`."""

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

        checked = target_name not in self._known_models
        if checked:
            self._ensure_registered_model(target_name)
        experiment_id = self._ensure_experiment(target_name, PROMOTION_EXPERIMENT.format(model=target_model))
        run_tags = {**tags, "lakegate.promoted_from": f"{source.name}/{source.version}",
                    "mlflow.runName": f"copy of {source.name} v{source.version}"}
        run = self._call(WRITE, target_name, "POST", f"{RUNS}/create", target_ws, json={
            "experiment_id": experiment_id, "start_time": now_ms(),
            "tags": [{"key": k, "value": str(v)} for k, v in run_tags.items()],
        })["run"]["info"]
        run_id = run["run_id"]
        model_uri = f"{run['artifact_uri'].rstrip('/')}/model"
        staged = self._copies.stage(sum(f.size for f in files))
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakegate-beside") as beside:
                logged = beside.submit(self._log_run_data, target_name, target_ws, run_id, run_data)
                copied = self._guard(WRITE, target_name, lambda: artifacts.copy_tree(
                    self._http, source_root, artifacts.proxy_path(model_uri), files, progress, staged))
                copied = self._guard(WRITE, target_name, lambda: self._relocate(
                    source_root, target_ws, artifacts.proxy_path(model_uri), run_id, copied, staged))
                logged.result()
                finished = beside.submit(self._call, WRITE, target_name, "POST", f"{RUNS}/update", target_ws,
                                         json={"run_id": run_id, "status": "FINISHED", "end_time": now_ms()})
                created = self._create_version(target_name, checked, {
                    "name": target_model, "source": model_uri, "run_id": run_id,
                    "tags": [{"key": k, "value": str(v)} for k, v in tags.items()],
                    "description": f"Copied from {source.name} version {source.version}",
                })
                finished.result()
            version = self._wait_ready(target_name, to_version(target_name, created))
        except BaseException:
            discard(staged)
            raise
        if staged is not None:
            self._copies.keep(staged, target_name, version.version, version.source, version.run_id, copied)
        return version

    def _relocate(self, source_root: str, target_ws: str, target_root: str, run_id: str, copied: list,
                  staged) -> list:
        """Rewrite the copy's MLmodel so nothing in it points into the source (relocate.py); the copy cache
        keeps the rewritten file, sealed like the others."""
        if not any(f.relpath == relocate.MLMODEL for f in copied):
            return copied
        data = relocate.relocated(artifacts.read_text(self._http, source_root, relocate.MLMODEL), run_id)
        self._http.upload_artifact(target_ws, f"{target_root}/{relocate.MLMODEL}", data)
        rewritten = CopiedFile(relocate.MLMODEL, len(data), hashlib.sha256(data).hexdigest())
        if staged is not None:
            staged.replace(rewritten, data)
        return [rewritten if f.relpath == relocate.MLMODEL else f for f in copied]

    def _create_version(self, target_name: str, checked: bool, request: dict) -> dict:
        """Register the copy. Unless `checked` (the model was ensured just before), the model was
        only known to exist a moment ago: if it has gone since, create it again and retry once."""
        workspace = split_full_name(target_name)[0]
        try:
            return self._http.call("POST", f"{VERSIONS}/create", workspace=workspace, json=request)["model_version"]
        except HttpFailure as failure:
            if checked or not (failure.is_missing or failure.is_refusal):
                raise self._error(failure, WRITE, target_name) from failure
        self._known_models.discard(target_name)
        self._ensure_registered_model(target_name)
        return self._call(WRITE, target_name, "POST", f"{VERSIONS}/create", workspace, json=request)["model_version"]

    def _source_run_data(self, source: ModelVersion) -> dict:
        if not source.run_id:
            return {}
        try:
            run = self._call(READ, source.name, "GET", f"{RUNS}/get", split_full_name(source.name)[0],
                             params={"run_id": source.run_id})["run"]
        except NotFound:
            return {}
        data = run.get("data") or {}
        return {"metrics": data.get("metrics") or [], "params": data.get("params") or []}

    def _log_run_data(self, target_name: str, workspace: str, run_id: str, data: dict) -> None:
        metrics, params = data.get("metrics") or [], data.get("params") or []
        for start in range(0, max(len(metrics), len(params)), 100):
            self._call(WRITE, target_name, "POST", f"{RUNS}/log-batch", workspace, json={
                "run_id": run_id, "metrics": metrics[start:start + 100], "params": params[start:start + 100],
            })

    def _ensure_registered_model(self, target_name: str) -> None:
        workspace, model = split_full_name(target_name)
        try:  # usually there already; a read is cheaper than a failed create
            self._http.call("GET", f"{MODELS}/get", workspace=workspace, params={"name": model})
            self._known_models.add(target_name)
            return
        except HttpFailure as failure:
            if not (failure.is_missing or failure.is_refusal):  # 403 also means "no such model"
                raise classify(failure, self.principal, WRITE, target_name) from failure
        try:
            self._http.call("POST", f"{MODELS}/create", workspace=workspace, json={"name": model})
        except HttpFailure as failure:
            if not failure.already_exists:
                raise classify(failure, self.principal, WRITE, target_name) from failure
        self._known_models.add(target_name)

    def _find_experiment(self, target_name: str, experiment: str) -> str | None:
        try:
            return self._http.call("GET", f"{EXPERIMENTS}/get-by-name", workspace=split_full_name(target_name)[0],
                                   params={"experiment_name": experiment})["experiment"]["experiment_id"]
        except HttpFailure as failure:
            if not failure.is_missing:
                raise classify(failure, self.principal, WRITE, target_name) from failure
        return None

    def _ensure_experiment(self, target_name: str, experiment: str) -> str:
        workspace = split_full_name(target_name)[0]
        for _ in range(3):  # concurrent copies may race to create it
            found = self._find_experiment(target_name, experiment)
            if found is not None:
                return found
            try:
                return self._http.call("POST", f"{EXPERIMENTS}/create", workspace=workspace,
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
