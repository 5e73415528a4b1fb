"""Unity Catalog's model URIs against the local registry: `models:/prod.ml.churn@champion` as prod's principal.

On Databricks a three-part name is the address (`mlflow.set_registry_uri("databricks-uc")`). Locally the same
name lives as `ml.churn` in the MLflow workspace `prod` (workspaces.py), and MLflow's client would need both
MLFLOW_WORKSPACE=prod and the two-part name. Two MLflow plugins, registered by entry points of this project
(pyproject.toml; `make` installs the project with `pip install --no-deps -e .`), make the UC spelling work:

- a model registry store for `lakegate://HOST:PORT` (MLFLOW_REGISTRY_URI): every call with `catalog.schema.model`
  goes to workspace `catalog` as `schema.model` (MLflow's REST store, the workspace sent per call), and the
  names it returns are full names again;
- an artifact repository for `lakegate-artifacts://HOST:PORT/workspaces/<ws>/...`, the download URI the store
  hands out: MLflow's HTTP artifact client with the workspace the files belong to sent on every request
  (the server refuses a download whose workspace header is not the path's).

    MLFLOW_TRACKING_URI=http://127.0.0.1:PORT  MLFLOW_REGISTRY_URI=lakegate://127.0.0.1:PORT
    MLFLOW_TRACKING_USERNAME=sp-lakegate-prod  MLFLOW_TRACKING_PASSWORD=...   (or MLFLOW_TRACKING_AUTH)
    mlflow.pyfunc.load_model("models:/prod.ml.churn@champion")

In a process that did not install the entry points, `register()` does the same. Workspaces are passed
through MLflow's context variable for the duration of each call (never MLFLOW_WORKSPACE, process-wide).
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlparse

from lakegate.promotion.local.workspaces import mlflow_address, workspace_for_catalog

SCHEME = "lakegate"
ARTIFACT_SCHEME = "lakegate-artifacts"
_NAME_FILTER = re.compile(r"""^\s*name\s*=\s*(['"])([^'"]+)\1\s*(AND\s+(.*))?$""", re.IGNORECASE)


@contextlib.contextmanager
def in_workspace(workspace: str):
    """MLflow's client sends `workspace` on the requests made inside (this thread and context only)."""
    from mlflow.utils.workspace_context import _WORKSPACE

    token = _WORKSPACE.set(workspace)
    try:
        yield
    finally:
        _WORKSPACE.reset(token)


def _http_base(uri: str) -> str:
    parsed = urlparse(uri)
    scheme = "https" if parsed.scheme.endswith("+https") else "http"
    return f"{scheme}://{parsed.netloc}"


def registry_store(store_uri: str, tracking_uri: str | None = None):
    """Entry point `mlflow.model_registry_store: lakegate`."""
    return _store_class()(store_uri)


def artifact_repository(artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None, **_):
    """Entry point `mlflow.artifact_repository: lakegate-artifacts`."""
    return _repository_class()(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)


def register() -> None:
    """Register both plugins in this process (what the entry points do in an installed project)."""
    from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry
    from mlflow.tracking._model_registry.utils import _get_store_registry

    _get_store_registry().register(SCHEME, registry_store)
    _artifact_repository_registry.register(ARTIFACT_SCHEME, artifact_repository)


def _store_class():
    from mlflow.store.model_registry.rest_store import RestStore

    class LakegateRegistryStore(RestStore):
        """MLflow's REST registry store, addressed with Unity Catalog's three-part names."""

        def __init__(self, store_uri: str):
            from mlflow.utils.credentials import get_default_host_creds

            self.store_uri, self.base = store_uri, _http_base(store_uri)
            super().__init__(lambda: get_default_host_creds(self.base))

        def _local(self, name: str) -> tuple[str, str]:
            return mlflow_address(name)

        def _named(self, entity, full: str):
            if entity is not None and hasattr(entity, "_name"):
                entity._name = full
            return entity

        def _call(self, method: str, name: str, *args, **kwargs):
            workspace, local = self._local(name)
            with in_workspace(workspace):
                result = getattr(super(), method)(local, *args, **kwargs)
            if isinstance(result, list):
                return [self._named(item, name) for item in result]
            return self._named(result, name)

        def create_registered_model(self, name, *args, **kwargs):
            return self._call("create_registered_model", name, *args, **kwargs)

        def get_registered_model(self, name):
            return self._call("get_registered_model", name)

        def update_registered_model(self, name, *args, **kwargs):
            return self._call("update_registered_model", name, *args, **kwargs)

        def delete_registered_model(self, name):
            return self._call("delete_registered_model", name)

        def get_latest_versions(self, name, stages=None):
            return self._call("get_latest_versions", name, stages)

        def set_registered_model_tag(self, name, tag):
            return self._call("set_registered_model_tag", name, tag)

        def delete_registered_model_tag(self, name, key):
            return self._call("delete_registered_model_tag", name, key)

        def create_model_version(self, name, *args, **kwargs):
            return self._call("create_model_version", name, *args, **kwargs)

        def update_model_version(self, name, version, description):
            return self._call("update_model_version", name, version, description)

        def delete_model_version(self, name, version):
            return self._call("delete_model_version", name, version)

        def get_model_version(self, name, version):
            return self._call("get_model_version", name, version)

        def get_model_version_download_uri(self, name, version):
            uri = self._call("get_model_version_download_uri", name, version)
            parsed = urlparse(uri)
            if parsed.scheme == "mlflow-artifacts":  # served by this server: fetch it with the workspace header
                return f"{ARTIFACT_SCHEME}://{urlparse(self.base).netloc}/{parsed.path.lstrip('/')}"
            return uri

        def set_model_version_tag(self, name, version, tag):
            return self._call("set_model_version_tag", name, version, tag)

        def delete_model_version_tag(self, name, version, key):
            return self._call("delete_model_version_tag", name, version, key)

        def set_registered_model_alias(self, name, alias, version):
            return self._call("set_registered_model_alias", name, alias, version)

        def delete_registered_model_alias(self, name, alias):
            return self._call("delete_registered_model_alias", name, alias)

        def get_model_version_by_alias(self, name, alias):
            return self._call("get_model_version_by_alias", name, alias)

        def search_model_versions(self, filter_string=None, *args, **kwargs):
            match = _NAME_FILTER.match(filter_string or "")
            if not match or match.group(2).count(".") != 2:
                from mlflow.exceptions import MlflowException

                raise MlflowException.invalid_parameter_value(
                    "with lakegate://, search model versions by one full name: \"name = 'catalog.schema.model'\"")
            full = match.group(2)
            workspace, local = self._local(full)
            rest = f" AND {match.group(4)}" if match.group(4) else ""
            with in_workspace(workspace):
                found = super().search_model_versions(f"name = '{local}'{rest}", *args, **kwargs)
            for version in found:
                self._named(version, full)
            return found

    return LakegateRegistryStore


def _repository_class():
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    class LakegateArtifactRepository(HttpArtifactRepository):
        """The server's artifact proxy for one workspace's files, the workspace header sent on each call."""

        def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None):
            parsed = urlparse(artifact_uri)
            path = parsed.path.lstrip("/")
            parts = path.split("/")
            if len(parts) < 3 or parts[0] != "workspaces":
                raise ValueError(f"{artifact_uri!r} is not a {ARTIFACT_SCHEME}://HOST:PORT/workspaces/<ws>/... URI")
            self.workspace = workspace_for_catalog(parts[1])
            http = f"http://{parsed.netloc}/api/2.0/mlflow-artifacts/artifacts/{path}"
            super().__init__(http, tracking_uri=tracking_uri, registry_uri=registry_uri)

        def list_artifacts(self, path=None):
            with in_workspace(self.workspace):
                return super().list_artifacts(path)

        def _download_file(self, remote_file_path, local_path):
            with in_workspace(self.workspace):
                return super()._download_file(remote_file_path, local_path)

        def download_artifacts(self, artifact_path, dst_path=None):
            with in_workspace(self.workspace):
                return super().download_artifacts(artifact_path, dst_path)

    return LakegateArtifactRepository
