"""Test-only local stub of the Databricks workspace REST endpoints promotion/databricks calls.

`DatabricksStub` answers just those endpoints, in-memory state, bearer-token -> principal authentication and
per-catalog read/write grants. Every answer is checked against the vendor's own definition of it before it leaves
(databricks-sdk's dataclasses; MLflow's protobuf messages for the UC model registry API; the SDK's error mapping:
tests/vendor_routes.py), so a shape the API does not have fails the test. Unity Catalog models and the UC registry
are here; the Files API, MLflow runs and serving endpoints in tests/databricks_stub_files.py. It records every
request (method, path, query, body, principal) - never the Authorization header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from tests.ci_stub import CiStub  # noqa: F401 - re-exported: tests import the CI stub from here
from tests.databricks_stub_files import FilesAndServing
from tests.stub_server import Recorded, StubError, StubServer, _json, _now_ms  # noqa: F401 - re-exported
from tests.vendor_routes import databricks_table
from tests.vendor_shapes import databricks_error_problems

# ------------------------------------------------------------------------------------------------
# Databricks workspace


@dataclass
class _Version:
    version: int
    source: str
    run_id: str
    status: str
    tags: dict[str, str]
    created_by: str
    created_at: int = field(default_factory=_now_ms)


class DatabricksStub(FilesAndServing, StubServer):
    """Unity Catalog models (public 2.1 API and MLflow's UC registry API), Files API under /Models,
    MLflow runs/get and serving endpoints - the calls promotion/databricks makes."""

    vendor_error = staticmethod(databricks_error_problems)

    def __init__(self):
        super().__init__()
        self.tokens: dict[str, str] = {}                      # bearer token -> principal
        self.grants: dict[tuple[str, str], set[str]] = {}      # (principal, catalog) -> {"read","write"}
        self.models: dict[str, dict[str, Any]] = {}            # full name -> {"versions", "aliases", ...}
        self.files: dict[str, bytes] = {}                      # absolute /Models/... path -> bytes
        self.runs: dict[str, dict[str, float]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self._signatures: dict[str, str] = {}                  # presigned-URL signature -> path
        self.token_issuers: list[Callable[[str], str | None]] = []  # e.g. EntraStub.principal_of_token
        uc, reg = "/api/2.1/unity-catalog/models", "/api/2.0/mlflow/unity-catalog"
        name = r"(?P<full>[^/]+\.[^/]+\.[^/]+)"
        self.routes = [
            ("GET", re.compile(r"/\.well-known/databricks-config"), self._host_metadata),
            ("GET", re.compile(f"{uc}/{name}"), self._get_model),
            ("POST", re.compile(uc), self._create_model),
            ("GET", re.compile(f"{uc}/{name}/versions"), self._list_versions),
            ("PUT", re.compile(f"{uc}/{name}/aliases/(?P<alias>[^/]+)"), self._set_alias),
            ("DELETE", re.compile(f"{uc}/{name}/aliases/(?P<alias>[^/]+)"), self._delete_alias),
            ("DELETE", re.compile(f"{uc}/{name}/versions/(?P<number>[0-9]+)"), self._delete_version),
            ("GET", re.compile(f"{reg}/model-versions/get"), self._get_version),
            ("GET", re.compile(f"{reg}/registered-models/alias"), self._get_by_alias),
            ("POST", re.compile(f"{reg}/model-versions/create"), self._create_version),
            ("POST", re.compile(f"{reg}/model-versions/finalize"), self._finalize),
            ("POST", re.compile(f"{reg}/model-versions/set-tag"), self._set_tag),
            ("GET", re.compile(f"{reg}/registered-models/get"), self._get_registered_model),
            ("POST", re.compile(f"{reg}/registered-models/set-tag"), self._set_model_tag),
        ] + self._files_and_serving_routes()
        self.vendor_routes = databricks_table()

    # ---- test set-up helpers
    def add_token(self, token: str, principal: str) -> None:
        self.tokens[token] = principal

    def grant(self, principal: str, catalog: str, *privileges: str) -> None:
        self.grants.setdefault((principal, catalog), set()).update(privileges)

    def add_version(self, full_name: str, files: dict[str, bytes], *, run_id: str = "", status: str = "READY",
                    tags: dict[str, str] | None = None, source: str = "") -> str:
        with self.lock:
            model = self._ensure_model(full_name, "admin")
            number = len(model["versions"]) + 1
            model["versions"][number] = _Version(number, source or f"runs:/{run_id}/model", run_id, status,
                                                 dict(tags or {}), "admin")
            for rel, content in files.items():
                self.files[f"{self._root(full_name, number)}/{rel}"] = content
            return str(number)

    def add_endpoint(self, name: str, served_entities: list[dict], routes: list[dict] | None = None) -> None:
        self.endpoints[name] = {"config": {"served_entities": served_entities, "config_version": 1,
                                           **({"traffic_config": {"routes": routes}} if routes else {})},
                                "state": {"ready": "READY", "config_update": "NOT_UPDATING"}}

    def version_files(self, full_name: str, version: str) -> dict[str, bytes]:
        root = self._root(full_name, int(version)) + "/"
        return {p[len(root):]: b for p, b in self.files.items() if p.startswith(root)}

    # ---- auth and permission checks
    def principal_of(self, handler) -> str | None:
        header = handler.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header[7:]
        return self.tokens.get(token) or next(filter(None, (issuer(token) for issuer in self.token_issuers)), None)

    def _check(self, principal: str | None, privilege: str, securable: str) -> None:
        if principal is None:
            raise StubError(401, "UNAUTHENTICATED", "Invalid access token.")
        catalog = securable.split(".", 1)[0]
        if privilege not in self.grants.get((principal, catalog), set()):
            word = {"read": "EXECUTE", "write": "MODIFY"}[privilege]
            raise StubError(403, "PERMISSION_DENIED", f"User does not have {word} on Routine or Model '{securable}'.")

    @staticmethod
    def _root(full_name: str, version: int) -> str:
        return "/Models/" + full_name.replace(".", "/") + f"/{version}"

    def _model(self, full: str) -> dict[str, Any]:
        if full not in self.models:
            raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Routine or Model '{full}' does not exist.")
        return self.models[full]

    def _version(self, full: str, number: Any) -> _Version:
        versions = self._model(full)["versions"]
        if not str(number).isdigit() or int(number) not in versions:
            raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Model Version '{full}' version {number} does not exist.")
        return versions[int(number)]

    def _ensure_model(self, full: str, owner: str) -> dict[str, Any]:
        catalog, schema, name = full.split(".")
        return self.models.setdefault(full, {"versions": {}, "aliases": {}, "tags": {}, "owner": owner, "created_at": _now_ms(),
                                             "catalog_name": catalog, "schema_name": schema, "name": name})

    # ---- JSON shapes
    def _model_info(self, full: str) -> dict:
        m = self.models[full]
        return {"name": m["name"], "catalog_name": m["catalog_name"], "schema_name": m["schema_name"],
                "full_name": full, "owner": m["owner"], "created_at": m["created_at"], "created_by": m["owner"],
                "updated_at": m["created_at"], "metastore_id": "11111111-2222-3333-4444-555555555555",
                "storage_location": f"abfss://uc@stlakegate.dfs.core.windows.net/models/{full}",
                "aliases": [{"alias_name": a, "version_num": v, "catalog_name": m["catalog_name"],
                             "schema_name": m["schema_name"], "model_name": m["name"]}
                            for a, v in sorted(m["aliases"].items())]}

    def _version_info(self, full: str, v: _Version) -> dict:  # public UC API: no tags, no aliases
        catalog, schema, name = full.split(".")
        return {"model_name": name, "catalog_name": catalog, "schema_name": schema, "version": v.version,
                "source": v.source, "run_id": v.run_id, "status": v.status, "created_at": v.created_at,
                "created_by": v.created_by, "id": f"{full}/{v.version}",
                "storage_location": f"abfss://uc@stlakegate.dfs.core.windows.net/models/{full}/versions/{v.version}"}

    def _registry_version(self, full: str, v: _Version) -> dict:  # MLflow UC registry API
        aliases = self._model(full)["aliases"]
        return {"model_version": {
            "name": full, "version": str(v.version), "creation_timestamp": v.created_at,
            "last_updated_timestamp": v.created_at, "user_id": v.created_by, "source": v.source,
            "run_id": v.run_id, "status": v.status,
            "storage_location": self._version_info(full, v)["storage_location"],
            "aliases": [{"alias": a, "version": str(n)} for a, n in sorted(aliases.items()) if n == v.version],
            "tags": [{"key": k, "value": val} for k, val in sorted(v.tags.items())]}}

    # ---- endpoints
    def _host_metadata(self, **_):
        return None, {"oidc_endpoint": f"{self.url}/oidc", "workspace_id": "1234567890123456"}

    def _get_model(self, principal, full, **_):
        self._check(principal, "read", full)
        with self.lock:
            self._model(full)
            return None, self._model_info(full)

    def _create_model(self, principal, raw, **_):
        body = _json(raw)
        full = f"{body['catalog_name']}.{body['schema_name']}.{body['name']}"
        self._check(principal, "write", full)
        with self.lock:
            if full in self.models:
                raise StubError(409, "RESOURCE_ALREADY_EXISTS", f"Registered model '{full}' already exists.")
            self._ensure_model(full, principal)
            return body, self._model_info(full)

    def _list_versions(self, principal, full, **_):
        self._check(principal, "read", full)
        with self.lock:
            versions = self._model(full)["versions"].values()
            return None, {"model_versions": [self._version_info(full, v) for v in versions]}

    def _set_alias(self, principal, full, alias, raw, **_):
        body = _json(raw)
        self._check(principal, "write", full)
        with self.lock:
            self._version(full, body.get("version_num"))
            self._model(full)["aliases"][alias] = int(body["version_num"])
            catalog, schema, name = full.split(".")
            return body, {"alias_name": alias, "version_num": int(body["version_num"]), "catalog_name": catalog,
                          "schema_name": schema, "model_name": name}

    def _delete_alias(self, principal, full, alias, **_):
        self._check(principal, "write", full)
        with self.lock:
            if self._model(full)["aliases"].pop(alias, None) is None:
                raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Alias '{alias}' does not exist for '{full}'.")
            return None, {}

    def _delete_version(self, principal, full, number, **_):
        self._check(principal, "write", full)
        with self.lock:
            model = self._model(full)
            self._version(full, number)
            del model["versions"][int(number)]
            model["aliases"] = {a: v for a, v in model["aliases"].items() if v != int(number)}
            return None, {}

    def _get_version(self, principal, query, **_):
        self._check(principal, "read", query["name"])
        with self.lock:
            return None, self._registry_version(query["name"], self._version(query["name"], query["version"]))

    def _get_by_alias(self, principal, query, **_):
        full, alias = query["name"], query["alias"]
        self._check(principal, "read", full)
        with self.lock:
            if alias not in self._model(full)["aliases"]:
                raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Alias '{alias}' does not exist for '{full}'.")
            return None, self._registry_version(full, self._version(full, self._model(full)["aliases"][alias]))

    def _create_version(self, principal, raw, **_):
        body = _json(raw)
        full = body["name"]
        self._check(principal, "write", full)
        with self.lock:
            versions = self._model(full)["versions"]
            number = max(versions, default=0) + 1
            versions[number] = _Version(number, body.get("source", ""), body.get("run_id", ""),
                                        "PENDING_REGISTRATION", {t["key"]: t["value"] for t in body.get("tags", [])},
                                        principal)
            return body, self._registry_version(full, versions[number])

    def _finalize(self, principal, raw, **_):
        body = _json(raw)
        self._check(principal, "write", body["name"])
        with self.lock:
            v = self._version(body["name"], body["version"])
            v.status = "READY"
            return body, self._registry_version(body["name"], v)

    def _set_tag(self, principal, raw, **_):
        body = _json(raw)
        self._check(principal, "write", body["name"])
        with self.lock:
            self._version(body["name"], body["version"]).tags[body["key"]] = body["value"]
            return body, {}

    def _get_registered_model(self, principal, query, **_):  # MLflow UC registry API: tags and aliases
        full = query["name"]
        self._check(principal, "read", full)
        with self.lock:
            m = self._model(full)
            return None, {"registered_model": {
                "name": full, "creation_timestamp": m["created_at"], "last_updated_timestamp": m["created_at"],
                "user_id": m["owner"], "tags": [{"key": k, "value": v} for k, v in sorted(m["tags"].items())],
                "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(m["aliases"].items())]}}

    def _set_model_tag(self, principal, raw, **_):
        body = _json(raw)
        self._check(principal, "write", body["name"])
        with self.lock:
            model = self._model(body["name"])
            if principal != model["owner"]:  # Unity Catalog: only the owner (or a metastore admin) tags a model
                raise StubError(403, "PERMISSION_DENIED", f"User is not an owner of Registered Model '{body['name']}'.")
            model["tags"][body["key"]] = body["value"]
            return body, {}

