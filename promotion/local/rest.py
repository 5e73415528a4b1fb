"""The local registry's REST client: MLflow's API as ONE principal, and what its failures mean.

Why not `MlflowClient`: its credentials come from process-wide environment variables
(MLFLOW_TRACKING_USERNAME/PASSWORD), its workspace from a context variable that falls back to the
MLFLOW_WORKSPACE environment variable, and it retries every 500 with exponential backoff (7 times
by default, a process-wide setting) -- so a refusal MLflow wraps in a 500 would take minutes to
surface. Here the credentials live in the object, the workspace travels as the
`X-MLFLOW-WORKSPACE` header on each call, and failures are returned at once for classification.

MLflow's basic-auth answers a refusal with `403 Permission denied`, but some refusals reach the
client wrapped in a 5xx (a handler that catches the inner 403 and re-raises it as INTERNAL_ERROR,
or a proxied artifact call). `classify` unwraps those by inspecting the body, so every refusal reads
`principal X may not Y on Z` whatever the status code. MLflow also answers 403 for a model that does
not exist: `RegistryRest` double-checks, and a model the principal could see but is not there is
`NotFound`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, Callable, TypeVar

import requests
from requests.adapters import HTTPAdapter

from lakegate.promotion.local.workspaces import mlflow_address
from lakegate.promotion.registry import ModelVersion, NotFound, PermissionRefused, RegistryError, version_from_json

WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"  # mlflow.utils.workspace_utils.WORKSPACE_HEADER_NAME
ARTIFACTS_PATH = "/api/2.0/mlflow-artifacts/artifacts"
MODELS = "/api/2.0/mlflow/registered-models"
VERSIONS = "/api/2.0/mlflow/model-versions"
RUNS = "/api/2.0/mlflow/runs"
EXPERIMENTS = "/api/2.0/mlflow/experiments"
WORKSPACES = "/api/3.0/mlflow/workspaces"
READ = "read"
WRITE = "write"

T = TypeVar("T")
_WRAPPED_REFUSAL = re.compile(r"PERMISSION_DENIED|permission denied|\b403\b|forbidden", re.I)
_MISSING_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
# Two writers racing to create the same row (first write of an alias, a registered model...).
_RACE = re.compile(r"UNIQUE constraint|IntegrityError|duplicate key|database is locked", re.I)


class AuthenticationFailed(RegistryError):
    """The server did not accept the principal's credentials (401)."""


class HttpFailure(RegistryError):
    """A non-2xx answer, kept raw so callers can classify it in context."""

    def __init__(self, status: int, body: str, method: str, path: str):
        self.status, self.body, self.method, self.path = status, body, method, path
        self.error_code, self.message = _parse_body(body)
        super().__init__(f"{method} {path} -> HTTP {status} {self.error_code}: {self.message[:300]}")

    @property
    def is_refusal(self) -> bool:
        if self.status == 403 or self.error_code == "PERMISSION_DENIED":
            return True
        return self.status >= 500 and bool(_WRAPPED_REFUSAL.search(self.body))

    @property
    def is_missing(self) -> bool:
        return self.status == 404 or self.error_code in _MISSING_CODES

    @property
    def is_race(self) -> bool:
        """A lost write race that is worth retrying (the row now exists or the DB was busy)."""
        return self.status in (400, 409, 500, 503) and bool(_RACE.search(self.body))

    @property
    def already_exists(self) -> bool:
        return self.error_code in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")


def _parse_body(body: str) -> tuple[str, str]:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return "", body.strip()
    if isinstance(parsed, dict):
        detail = parsed.get("detail")
        message = parsed.get("message") or (detail if isinstance(detail, str) else "") or body
        return str(parsed.get("error_code") or ""), str(message)
    return "", body.strip()


def classify(failure: HttpFailure, principal: str, action: str, target: str) -> RegistryError:
    """The registry error a failed call means, for `principal` doing `action` on `target`."""
    if failure.status == 401:
        return AuthenticationFailed(
            f"principal {principal} could not authenticate to the local registry "
            "(wrong or missing password in the credentials file)"
        )
    if failure.is_refusal:
        return PermissionRefused(principal, action, target, detail=failure.message[:300])
    if failure.is_missing:
        return NotFound(f"{target} not found ({failure.message[:200]})")
    return RegistryError(f"principal {principal} could not {action} on {target}: {failure}")


def is_unknown_alias(exc: RegistryError) -> bool:
    """MLflow answers 400 INVALID_PARAMETER_VALUE "Registered model alias X not found"."""
    cause = exc.__cause__
    return isinstance(cause, HttpFailure) and cause.status == 400 and "alias" in cause.message.lower() \
        and "not found" in cause.message.lower()


def quote(value: str) -> str:
    return value.replace("'", "\\'")


def now_ms() -> int:
    return int(time.time() * 1000)


class MlflowHttp:
    """Calls one MLflow server as one user. Each thread gets its own pooled `requests.Session`."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.username = username
        self._auth = (username, password)
        self.timeout = timeout
        self._local = threading.local()

    def __repr__(self) -> str:  # never show the password
        return f"MlflowHttp(url={self.url!r}, username={self.username!r}, password='***')"

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.trust_env = False  # no proxy / netrc surprises on 127.0.0.1
            session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0))
            self._local.session = session
        return session

    def request(self, method: str, path: str, *, workspace: str | None = None, params: dict[str, Any] | None = None,
                json: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                stream: bool = False) -> requests.Response:
        """One HTTP call; raises HttpFailure on any non-2xx answer."""
        all_headers = dict(headers or {})
        if workspace:
            all_headers[WORKSPACE_HEADER] = workspace
        response = self._session().request(method, self.url + path, params=params, json=json, data=data,
                                           headers=all_headers, stream=stream, timeout=self.timeout)
        if response.status_code >= 300:
            body = response.text
            response.close()
            raise HttpFailure(response.status_code, body, method, path)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON API call; returns the decoded body ({} when empty)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return {}
        return response.json()

    # -- proxied artifacts (mlflow-artifacts:/ URIs, served by `--serve-artifacts`) --------------

    def list_artifacts(self, workspace: str, path: str) -> list[dict[str, Any]]:
        return self.call("GET", ARTIFACTS_PATH, workspace=workspace, params={"path": path}).get("files", [])

    def open_artifact(self, workspace: str, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        """A streaming download; the caller closes it."""
        return self.request("GET", f"{ARTIFACTS_PATH}/{path}", workspace=workspace, stream=True, headers=headers)

    def upload_artifact(self, workspace: str, path: str, body: Any) -> None:
        self.request("PUT", f"{ARTIFACTS_PATH}/{path}", workspace=workspace, data=body).close()


class RegistryRest:
    """`MlflowHttp` as the registry sees it: each failure becomes a registry error naming the principal,
    the action and the target (`call`, `guard`)."""

    def __init__(self, http: MlflowHttp, principal: str):
        self.http, self.principal = http, principal

    def call(self, action: str, target: str, method: str, path: str, workspace: str, **kwargs: Any) -> dict:
        return self.guard(action, target, lambda: self.http.call(method, path, workspace=workspace, **kwargs))

    def guard(self, action: str, target: str, fn: Callable[[], T]) -> T:
        """Run fn, turning HTTP failures into registry errors for this principal/action/target."""
        try:
            return fn()
        except HttpFailure as failure:
            raise self.error(failure, action, target) from failure

    def error(self, failure: HttpFailure, action: str, target: str) -> RegistryError:
        error = classify(failure, self.principal, action, target)
        if failure.is_refusal and self._model_is_missing(target):
            error = NotFound(f"{target} not found (or not visible to principal {self.principal})")
        return error

    def get_version(self, name: str, version: str) -> ModelVersion:
        workspace, model = mlflow_address(name)
        body = self.call(READ, name, "GET", f"{VERSIONS}/get", workspace, params={"name": model, "version": str(version)})
        return version_from_json(body["model_version"], name)

    def _model_is_missing(self, full_name: str) -> bool:
        """After a 403: True when the principal can see the workspace but the model is not there
        (MLflow answers 403, not 404, for a registered model that does not exist)."""
        try:
            workspace, model = mlflow_address(full_name)
            visible = {w["name"] for w in self.http.call("GET", WORKSPACES).get("workspaces", [])}
            if workspace not in visible:
                return False
            found = self.http.call("GET", f"{MODELS}/search", workspace=workspace,
                                   params={"filter": f"name = '{quote(model)}'", "max_results": 1})
            return not found.get("registered_models")
        except (HttpFailure, RegistryError):
            return False
