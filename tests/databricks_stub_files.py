"""The Files API under /Models, MLflow's runs/get and the serving endpoints of tests/databricks_stub.py's
`DatabricksStub` (a mixin over its state: `files`, `runs`, `endpoints`, `_signatures`, `_check`, `_version`)."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

from tests.stub_server import StubError, _json, _now_ms


class FilesAndServing:
    def _files_and_serving_routes(self) -> list:
        fs = "/api/2.0/fs"
        return [
            ("GET", re.compile(f"{fs}/directories(?P<path>/.*)"), self._list_dir),
            ("GET", re.compile(f"{fs}/files(?P<path>/.*)"), self._get_file),
            ("PUT", re.compile(f"{fs}/files(?P<path>/.*)"), self._put_file),
            ("POST", re.compile(f"{fs}/create-download-url"), self._create_download_url),
            ("GET", re.compile("/_storage(?P<path>/.*)"), self._presigned_get),
            ("GET", re.compile("/api/2.0/mlflow/runs/get"), self._get_run),
            ("GET", re.compile("/api/2.0/serving-endpoints/(?P<endpoint>[^/]+)"), self._get_endpoint),
            ("PUT", re.compile("/api/2.0/serving-endpoints/(?P<endpoint>[^/]+)/config"), self._update_endpoint),
        ]

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
                # Azure Storage's error: XML with the code in a header too (not the workspace's JSON error)
                return None, (403, b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
                              b'<Message>Server failed to authenticate the request.</Message></Error>',
                              {"Content-Type": "application/xml", "x-ms-error-code": "AuthenticationFailed"})
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

