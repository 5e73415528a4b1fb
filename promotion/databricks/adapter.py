"""RegistryAdapter for Databricks Unity Catalog, through databricks-sdk's WorkspaceClient.

Which REST surface for what (all on the workspace host, one identity):
* registered models, version listing, aliases: the public UC API (`/api/2.1/unity-catalog/models`)
  via the SDK's typed `registered_models` / `model_versions` services;
* one version with its tags and aliases, tag writes, version create/finalize: the UC registry API
  that MLflow's `databricks-uc` store calls (`/api/2.0/mlflow/unity-catalog/...`) - the public API
  returns no tags at all, and has no create;
* the files of a version: the Files API under `/Models/...` (see model_files.py).

Copy follows MLflow 3.17.2's `copy_model_version` for UC (abstract_store + UC rest_store): create the
target registered model if missing, `model-versions/create` with `source=models:/<src>/<version>`,
write the files into the new version, `model-versions/finalize`. UC does not duplicate files on the
server: MLflow downloads them and uploads them into the new version's storage, and so do we (file by
file through the Files API). A version left PENDING_REGISTRATION by a crash mid-copy is resumed by
the next copy carrying the same tags instead of creating a second version.
"""

from __future__ import annotations

import json
import logging
import posixpath
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import yaml
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import ResourceAlreadyExists

from lakegate.promotion.databricks import model_files
from lakegate.promotion.databricks.errors import mapped_errors
from lakegate.promotion.mlmodel import parse_mlmodel, run_metrics
from lakegate.promotion.registry import (ModelVersion, NotFound, PermissionRefused, ProgressCallback, RegistryError,
                                artifacts_digest, split_full_name, version_from_json)

log = logging.getLogger("lakegate.databricks")

UC_REGISTRY_API = "/api/2.0/mlflow/unity-catalog"
PENDING = "PENDING_REGISTRATION"


class UnityCatalogAdapter:
    """Promotion's view of Unity Catalog, acting as `principal` (the identity behind `config`)."""

    def __init__(self, config: Config, principal: str):
        self.principal = principal
        self.client = WorkspaceClient(config=config)

    def _mapped(self, action: str, target: str):
        return mapped_errors(self.principal, action, target)

    def _uc_registry(self, method: str, endpoint: str, *, action: str, target: str,
                     query: dict | None = None, body: dict | None = None) -> dict:
        headers = {"Accept": "application/json"}
        if self.client.config.workspace_id:  # unified hosts route on it, as the SDK's own calls do
            headers["X-Databricks-Workspace-Id"] = self.client.config.workspace_id
        with self._mapped(action, target):
            return self.client.api_client.do(method, f"{UC_REGISTRY_API}/{endpoint}", query=query, body=body,
                                             headers=headers) or {}

    # ----------------------------------------------------------------------------------------- reads

    def get_version(self, name: str, version: str) -> ModelVersion:
        split_full_name(name)
        response = self._uc_registry("GET", "model-versions/get", query={"name": name, "version": str(version)},
                                     action="read model version", target=f"{name} version {version}")
        return version_from_json(response["model_version"])

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        split_full_name(name)
        try:
            response = self._uc_registry("GET", "registered-models/alias", query={"name": name, "alias": alias},
                                         action="read model version", target=f"{name}@{alias}")
        except NotFound:
            return None
        return version_from_json(response["model_version"])

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version with tags and aliases (the listing carries neither, so one get per version)."""
        split_full_name(name)
        try:
            with self._mapped("list model versions", name):
                numbers = [str(info.version) for info in self.client.model_versions.list(name)]
        except NotFound:
            return []
        return [self.get_version(name, number) for number in sorted(numbers, key=int)]

    def find_version_by_tag(self, name: str, key: str, value: str) -> ModelVersion | None:
        matches = [v for v in self.list_versions(name) if v.tags.get(key) == value]
        return matches[-1] if matches else None

    # ---------------------------------------------------------------------------------------- writes

    def copy_version(
        self,
        source: ModelVersion,
        target_name: str,
        tags: dict[str, str],
        progress: ProgressCallback | None = None,
    ) -> ModelVersion:
        src_root = model_files.version_root(source.name, source.version)
        with self._mapped("read the files of", f"{source.name} version {source.version}"):
            sources = model_files.walk(self.client.files, src_root)
        if not sources:
            raise RegistryError(f"{source.name} version {source.version} has no files to copy")
        self._ensure_registered_model(target_name)
        new = self._pending_copy(target_name, tags)
        if new is None:
            created = self._uc_registry(
                "POST", "model-versions/create", action="create a model version", target=target_name,
                body={
                    "name": target_name,
                    # MLflow's copy_model_version records the registry URI of the source as `source`
                    "source": f"models:/{source.name}/{source.version}",
                    **({"run_id": source.run_id} if source.run_id else {}),
                    "tags": [{"key": k, "value": v} for k, v in tags.items()],
                },
            )
            new = version_from_json(created["model_version"])
        else:
            log.info("resuming the copy into %s version %s left pending by an earlier run", target_name,
                     new.version)
        dst_root = model_files.version_root(target_name, new.version)
        with self._mapped("write the files of", f"{target_name} version {new.version}"):
            copied = model_files.copy_tree(self.client.files, sources, src_root, dst_root, progress)
        finalized = self._uc_registry("POST", "model-versions/finalize", action="finalize a model version",
                                      target=f"{target_name} version {new.version}",
                                      body={"name": target_name, "version": new.version})
        log.info("copied %s version %s -> %s version %s (%d bytes)", source.name, source.version, target_name,
                 new.version, copied)
        return version_from_json(finalized["model_version"])

    def _ensure_registered_model(self, full_name: str) -> None:
        catalog, schema, model = split_full_name(full_name)
        try:
            with self._mapped("read registered model", full_name):
                self.client.registered_models.get(full_name)
            return
        except NotFound:
            pass
        with self._mapped("create a registered model", full_name):
            try:
                self.client.registered_models.create(catalog_name=catalog, schema_name=schema, name=model)
            except ResourceAlreadyExists:
                pass  # a concurrent promotion created it between our get and create: what we wanted

    def _pending_copy(self, target_name: str, tags: dict[str, str]) -> ModelVersion | None:
        """A version of the target still PENDING_REGISTRATION that carries every one of `tags`."""
        with self._mapped("list model versions", target_name):
            pending = [str(i.version) for i in self.client.model_versions.list(target_name)
                       if i.status and i.status.value == PENDING]
        for number in sorted(pending, key=int):
            candidate = self.get_version(target_name, number)
            if all(candidate.tags.get(k) == v for k, v in tags.items()):
                return candidate
        return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with self._mapped(f"set alias {alias}", name):
            self.client.registered_models.set_alias(name, alias, int(version))

    def delete_alias(self, name: str, alias: str) -> None:
        """Idempotent: an alias that is already absent is what was asked for."""
        try:
            with self._mapped(f"delete alias {alias}", name):
                self.client.registered_models.delete_alias(name, alias)
        except NotFound:
            log.info("alias %s of %s was already absent", alias, name)

    def delete_version(self, name: str, version: str) -> None:
        """Delete one version (Unity Catalog drops its aliases with it); only the model's owner may."""
        with self._mapped(f"delete version {version}", name):
            self.client.model_versions.delete(name, int(version))

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """A tag on the registered model (the audit anchor); only its owner may set it."""
        split_full_name(name)
        self._uc_registry("POST", "registered-models/set-tag", action=f"set tag {key}", target=name,
                          body={"name": name, "key": key, "value": value})

    def get_model_tag(self, name: str, key: str) -> str | None:
        split_full_name(name)
        response = self._uc_registry("GET", "registered-models/get", query={"name": name},
                                     action="read registered model", target=name)
        tags = {t["key"]: t.get("value", "") for t in (response.get("registered_model") or {}).get("tags", [])}
        return tags.get(key)

    def artifact_digest(self, name: str, version: str) -> str:
        """promotion.registry.artifacts_digest of the version's files, streamed through the Files API."""
        root = model_files.version_root(name, version)
        with self._mapped("read the files of", f"{name} version {version}"):
            files = model_files.walk(self.client.files, root)
            if not files:
                raise NotFound(f"{name} version {version} has no files")
            hashed = [(posixpath.relpath(f.path, root), *model_files.hash_file(self.client.files, f.path))
                      for f in files]
        return artifacts_digest(hashed)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._uc_registry("POST", "model-versions/set-tag", action=f"set tag {key}", target=f"{name} version {version}",
                          body={"name": name, "version": str(version), "key": key, "value": value})

    # ----------------------------------------------------------------------------------------- model

    def load_pyfunc(self, name: str, version: str) -> Any:
        """Download the version's files and load them with mlflow.pyfunc (files removed with the model)."""
        from lakegate.promotion.model_requirements import load_pyfunc_model

        local = Path(tempfile.mkdtemp(prefix="lakegate-uc-model-"))
        try:
            with self._mapped("read the files of", f"{name} version {version}"):
                model_files.download_tree(self.client.files, model_files.version_root(name, version), local)
            model = load_pyfunc_model(local)
        except BaseException:
            shutil.rmtree(local, ignore_errors=True)
            raise
        weakref.finalize(model, shutil.rmtree, str(local), True)
        return model

    def model_info(self, name: str, version: str) -> dict[str, Any]:
        """The same shape as the local adapter's (promotion/mlmodel.parse_mlmodel): decoded
        signature, input example as logged (JSON), input_example_info, flavors, training-run metrics.
        Reads only MLmodel and the example file, never the model weights."""
        mv = self.get_version(name, version)
        root = model_files.version_root(name, version)
        with self._mapped("read the files of", f"{name} version {version}"):
            info = parse_mlmodel(yaml.safe_load(model_files.read_bytes(self.client.files, f"{root}/MLmodel")))
            example_path = (info.get("input_example_info") or {}).get("artifact_path")
            info["input_example"] = (json.loads(model_files.read_bytes(self.client.files, f"{root}/{example_path}"))
                                     if example_path else None)
        info["metrics"] = self._run_metrics(mv.run_id)
        return info

    def _run_metrics(self, run_id: str) -> dict[str, float]:
        """The training run's metrics, or {} when the run lives in a workspace this one cannot see
        (a copy promoted from another workspace: the gates then use the source version's metrics)."""
        if not run_id:
            return {}
        try:
            with self._mapped("read run", run_id):
                response = self.client.api_client.do("GET", "/api/2.0/mlflow/runs/get", query={"run_id": run_id})
        except (NotFound, PermissionRefused) as e:
            log.info("training run %s is not reachable from this workspace (%s); no metrics", run_id, e)
            return {}
        return run_metrics(response.get("run") or {})
