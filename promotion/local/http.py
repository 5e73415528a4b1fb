"""A small MLflow REST client bound to ONE principal, safe to share between threads.

Why not `MlflowClient`: its credentials come from process-wide environment variables
(MLFLOW_TRACKING_USERNAME/PASSWORD), its workspace from a context variable that falls back to the
MLFLOW_WORKSPACE environment variable, and it retries every 500 with exponential backoff (7 times
by default, a process-wide setting) -- so a refusal MLflow wraps in a 500 would take minutes to
surface. Here the credentials live in the object, the workspace travels as the
`X-MLFLOW-WORKSPACE` header on each call, and failures are returned at once for classification.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from promotion.local.errors import HttpFailure

WORKSPACE_HEADER = "X-MLFLOW-WORKSPACE"  # mlflow.utils.workspace_utils.WORKSPACE_HEADER_NAME
ARTIFACTS_PATH = "/api/2.0/mlflow-artifacts/artifacts"


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

    def request(
        self,
        method: str,
        path: str,
        *,
        workspace: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One HTTP call; raises HttpFailure on any non-2xx answer."""
        all_headers = dict(headers or {})
        if workspace:
            all_headers[WORKSPACE_HEADER] = workspace
        response = self._session().request(
            method,
            self.url + path,
            params=params,
            json=json,
            data=data,
            headers=all_headers,
            stream=stream,
            timeout=self.timeout,
        )
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
