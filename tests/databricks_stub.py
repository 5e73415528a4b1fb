"""Test-only local stub of the Databricks workspace REST endpoints promotion/databricks calls.

`DatabricksStub` answers just those endpoints, with the JSON shapes of the Databricks REST reference,
in-memory state, bearer-token -> principal authentication and per-catalog read/write grants. It
records every request (method, path, query, body, principal) - never the Authorization header.
`StubServer` is the reusable threaded 127.0.0.1 server underneath (HTTP, or HTTPS given a cert).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any                 # parsed JSON, {"bytes": n} for file uploads, or a form dict (secrets removed)
    principal: str | None     # who the bearer token belongs to (None: no or unknown token)
    authorized: bool          # an Authorization header was present


class StubError(Exception):
    def __init__(self, status: int, error_code: str, message: str, payload: dict | None = None):
        self.status, self.error_code, self.message = status, error_code, message
        # Databricks' error shape unless the service has its own (Entra's OAuth errors)
        self.payload = payload or {"error_code": error_code, "message": message}


class StubServer:
    """A threaded HTTP(S) server on 127.0.0.1:<free port> dispatching to `self.routes`."""

    routes: list[tuple[str, re.Pattern, Callable]]

    def __init__(self, tls: tuple[Path, Path] | None = None):
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._tls = tls
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):  # keep test output quiet (and header-free)
                pass

            def _handle(self):
                stub._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def calls(self, method: str | None = None, prefix: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix)]

    def principal_of(self, handler) -> str | None:
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler):
        parts = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(parts.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        principal = self.principal_of(handler)
        status, payload, headers = 404, {"error_code": "ENDPOINT_NOT_FOUND",
                                         "message": f"No API found for '{handler.command} {path}'"}, {}
        body: Any = _json(raw) if "json" in (handler.headers.get("Content-Type") or "") and raw else (
            {"bytes": len(raw)} if raw else None)
        for method, pattern, fn in self.routes:
            match = pattern.fullmatch(path)
            if method != handler.command or not match:
                continue
            try:
                recorded, result = fn(principal=principal, query=query, raw=raw, handler=handler, **match.groupdict())
                body = recorded if recorded is not None else body
                status, payload, headers = 200, result, {}
                if isinstance(result, tuple):
                    status, payload, headers = result
            except StubError as e:
                status, payload = e.status, e.payload
            except Exception as e:  # a stub bug must fail the test visibly, not hang up the client
                status, payload = 500, {"error_code": "INTERNAL_ERROR", "message": f"stub: {e!r}"}
            break
        with self.lock:
            self.requests.append(Recorded(handler.command, path, query, body, principal,
                                          "Authorization" in handler.headers))
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)


def _json(raw: bytes) -> dict:
    return json.loads(raw or b"{}")


def _now_ms() -> int:
    return int(time.time() * 1000)


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


class DatabricksStub(StubServer):
    """Unity Catalog models (public 2.1 API and MLflow's UC registry API), Files API under /Models,
    MLflow runs/get and serving endpoints - the calls promotion/databricks makes."""

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
        uc, reg, fs = "/api/2.1/unity-catalog/models", "/api/2.0/mlflow/unity-catalog", "/api/2.0/fs"
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
            ("GET", re.compile(f"{fs}/directories(?P<path>/.*)"), self._list_dir),
            ("GET", re.compile(f"{fs}/files(?P<path>/.*)"), self._get_file),
            ("PUT", re.compile(f"{fs}/files(?P<path>/.*)"), self._put_file),
            ("POST", re.compile(f"{fs}/create-download-url"), self._create_download_url),
            ("GET", re.compile("/_storage(?P<path>/.*)"), self._presigned_get),
            ("GET", re.compile("/api/2.0/mlflow/runs/get"), self._get_run),
            ("GET", re.compile("/api/2.0/serving-endpoints/(?P<endpoint>[^/]+)"), self._get_endpoint),
            ("PUT", re.compile("/api/2.0/serving-endpoints/(?P<endpoint>[^/]+)/config"), self._update_endpoint),
        ]

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

    def _files_securable(self, path: str) -> tuple[str, int | None]:
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "Models":
            raise StubError(404, "NOT_FOUND", f"The path {path} is not a Unity Catalog model path.")
        version = int(parts[4]) if len(parts) > 4 and parts[4].isdigit() else None
        return ".".join(parts[1:4]), version

    def _list_dir(self, principal, path, **_):
        full, _version = self._files_securable(path)
        self._check(principal, "read", full)
        prefix = path.rstrip("/") + "/"
        with self.lock:
            children: dict[str, dict] = {}
            for p, content in self.files.items():
                if p.startswith(prefix):
                    head, _, rest = p[len(prefix):].partition("/")
                    children[head] = ({"path": prefix + head, "is_directory": True, "name": head} if rest else
                                      {"path": p, "is_directory": False, "file_size": len(content),
                                       "last_modified": _now_ms(), "name": head})
            if not children:
                raise StubError(404, "NOT_FOUND", "The directory being accessed is not found.")
            return None, {"contents": [children[k] for k in sorted(children)]}

    def _get_file(self, principal, path, **_):
        full, _version = self._files_securable(path)
        self._check(principal, "read", full)
        with self.lock:
            if path not in self.files:
                raise StubError(404, "NOT_FOUND", "The file being accessed is not found.")
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
            return None, (200, self.files[path], {"Content-Type": "application/octet-stream", "Last-Modified": stamp})

    def _create_download_url(self, principal, query, **_):
        """Like a real workspace, hand out a short-lived storage URL (here: on this stub) for the file."""
        path = query["path"]
        full, _version = self._files_securable(path)
        self._check(principal, "read", full)
        with self.lock:
            if path not in self.files:
                raise StubError(404, "NOT_FOUND", "The file being accessed is not found.")
            signature = f"sig{len(self._signatures) + 1}"
            self._signatures[signature] = path
        return None, {"url": f"{self.url}/_storage{urllib.parse.quote(path)}?sv=2024-05-04&sig={signature}",
                      "headers": [{"name": "x-ms-version", "value": "2024-05-04"}]}

    def _presigned_get(self, query, path, **_):
        """The cloud storage side of a presigned download: the signature is the only credential."""
        with self.lock:
            if self._signatures.get(query.get("sig", "")) != path:
                raise StubError(403, "AuthenticationFailed", "Signature did not match.")
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
            return None, (200, self.files[path], {"Content-Type": "application/octet-stream", "Last-Modified": stamp})

    def _put_file(self, principal, path, raw, **_):
        full, version = self._files_securable(path)
        self._check(principal, "write", full)
        with self.lock:
            if version is None or self._version(full, version).status != "PENDING_REGISTRATION":
                raise StubError(400, "INVALID_STATE", f"Files of '{full}' version {version} are read-only "
                                "once the version is finalized.")
            self.files[path] = raw
            return {"bytes": len(raw)}, (204, b"", {})

    def _get_run(self, principal, query, **_):
        if principal is None:
            raise StubError(401, "UNAUTHENTICATED", "Invalid access token.")
        run_id = query.get("run_id", "")
        if run_id not in self.runs:
            raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{run_id}' not found.")
        metrics = [{"key": k, "value": v, "timestamp": _now_ms(), "step": 0} for k, v in self.runs[run_id].items()]
        return None, {"run": {"info": {"run_id": run_id, "run_uuid": run_id, "experiment_id": "1",
                                       "status": "FINISHED", "lifecycle_stage": "active"},
                              "data": {"metrics": metrics, "params": [], "tags": []}}}

    def _endpoint_json(self, name: str) -> dict:
        e = self.endpoints[name]
        return {"name": name, "id": f"ep-{name}", "creator": "admin", "permission_level": "CAN_MANAGE",
                "creation_timestamp": 1700000000000, "last_updated_timestamp": _now_ms(), "state": e["state"],
                "config": e["config"], "route_optimized": False}

    def _get_endpoint(self, principal, endpoint, **_):
        self._check(principal, "read", f"serving:{endpoint}")
        with self.lock:
            if endpoint not in self.endpoints:
                raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Endpoint with name '{endpoint}' does not exist.")
            return None, self._endpoint_json(endpoint)

    def _update_endpoint(self, principal, endpoint, raw, **_):
        body = _json(raw)
        self._check(principal, "write", f"serving:{endpoint}")
        with self.lock:
            if endpoint not in self.endpoints:
                raise StubError(404, "RESOURCE_DOES_NOT_EXIST", f"Endpoint with name '{endpoint}' does not exist.")
            e = self.endpoints[endpoint]
            if e["state"]["config_update"] == "IN_PROGRESS":
                raise StubError(409, "RESOURCE_CONFLICT", f"Endpoint {endpoint} is currently being updated.")
            # a real workspace rolls the config out over minutes; the stub applies it at once
            e["config"] = {**body, "config_version": e["config"]["config_version"] + 1}
            return body, self._endpoint_json(endpoint)


# ------------------------------------------------------------------------------------------------
# CI platforms: the approval APIs `approve --ci` asks (GitHub Actions, Azure DevOps)


class CiStub(StubServer):
    """GitHub's workflow-run review history and Azure DevOps' pipeline approvals, in the documented shapes.

    `github_runs[(repo, run_id)] = {"actor": login, "reviews": [{"state", "environments": [names], "user": login}]}`
    `ado_builds[build_id] = {"requested_for": unique name, "approvals": [{"id", "status", "steps": [(name, status)]}]}`
    Only requests carrying one of `tokens` are answered (401 otherwise)."""

    def __init__(self):
        super().__init__()
        self.tokens: set[str] = set()
        self.github_runs: dict[tuple[str, str], dict] = {}
        self.ado_builds: dict[str, dict] = {}
        self.routes = [
            ("GET", re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>[0-9]+)/approvals"),
             self._gh_approvals),
            ("GET", re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>[0-9]+)"), self._gh_run),
            ("GET", re.compile(r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/pipelines/approvals"), self._ado_list),
            ("GET", re.compile(r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/pipelines/approvals/(?P<approval>[0-9a-f-]+)"),
             self._ado_get),
            ("GET", re.compile(r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/build/builds/(?P<build>[0-9]+)"), self._ado_build),
        ]

    def principal_of(self, handler) -> str | None:
        header = handler.headers.get("Authorization", "")
        return "ci" if header.startswith("Bearer ") and header[7:] in self.tokens else None

    def _auth(self, principal):
        if principal is None:
            raise StubError(401, "Unauthorized", "Bad credentials")

    def _gh(self, owner, repo, run):
        found = self.github_runs.get((f"{owner}/{repo}", run))
        if found is None:
            raise StubError(404, "Not Found", "Not Found", {"message": "Not Found"})
        return found

    def _gh_approvals(self, principal, owner, repo, run, **_):
        self._auth(principal)
        reviews = self._gh(owner, repo, run)["reviews"]
        return None, [{"state": r["state"], "comment": r.get("comment", ""),
                       "environments": [{"id": n + 1, "name": e, "url": f"{self.url}/env/{e}"}
                                        for n, e in enumerate(r["environments"])],
                       "user": {"login": r["user"], "id": 1, "type": "User"}} for r in reviews]

    def _gh_run(self, principal, owner, repo, run, **_):
        self._auth(principal)
        found = self._gh(owner, repo, run)
        return None, {"id": int(run), "head_sha": "0" * 40, "status": "in_progress",
                      "actor": {"login": found["actor"]}, "triggering_actor": {"login": found.get("triggered_by", found["actor"])}}

    def _ado_approval(self, build_id, approval):
        return {"id": approval["id"], "status": approval["status"], "createdOn": "2026-05-01T09:00:00Z",
                "steps": [{"assignedApprover": {"uniqueName": name}, "actualApprover": {"uniqueName": name},
                           "status": status, "comment": "ok"} for name, status in approval["steps"]],
                "pipeline": {"id": "7", "name": "lakegate", "owner": {"id": int(build_id), "name": f"run {build_id}"}}}

    def _ado_list(self, principal, query, **_):
        self._auth(principal)
        found = [self._ado_approval(b, a) for b, build in self.ado_builds.items() for a in build["approvals"]]
        if query.get("state"):
            found = [a for a in found if a["status"] == query["state"]]
        return None, {"count": len(found), "value": found}

    def _ado_get(self, principal, approval, **_):
        self._auth(principal)
        for build_id, build in self.ado_builds.items():
            for a in build["approvals"]:
                if a["id"] == approval:
                    return None, self._ado_approval(build_id, a)
        raise StubError(404, "ApprovalNotFound", f"Approval {approval} not found")

    def _ado_build(self, principal, build, **_):
        self._auth(principal)
        if build not in self.ado_builds:
            raise StubError(404, "BuildNotFound", f"Build {build} not found")
        name = self.ado_builds[build]["requested_for"]
        return None, {"id": int(build), "requestedFor": {"uniqueName": name}, "requestedBy": {"uniqueName": name}}
