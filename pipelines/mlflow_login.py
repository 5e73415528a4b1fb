"""MLflow's client acting as one principal of the local registry, without the password in the environment.

MLflow's fluent API (`mlflow.start_run`, `log_model`, `register_model`) reads the server and the workspace from
the process environment at each request; its credentials come here from a request-auth provider
(`MLFLOW_TRACKING_AUTH=lakegate-basic-auth`) holding the login in this module: whatever MLflow or git starts
meanwhile inherits the environment, and /proc/<pid>/environ shows it to the user's other processes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

AUTH_PROVIDER = "lakegate-basic-auth"
_login: tuple[str, str] | None = None  # (username, password) while acting_as is active; never in os.environ
_login_lock = threading.RLock()


def _auth_provider():
    import requests
    from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider

    class LakegateBasicAuth(RequestAuthProvider):
        def get_name(self) -> str:
            return AUTH_PROVIDER

        def get_auth(self):
            login = _login
            return requests.auth.HTTPBasicAuth(*login) if login else None

    return LakegateBasicAuth


def register_auth_provider() -> None:
    from mlflow.tracking.request_auth.registry import _request_auth_provider_registry

    if not any(provider.get_name() == AUTH_PROVIDER for provider in _request_auth_provider_registry):
        _request_auth_provider_registry.register(_auth_provider())


@contextlib.contextmanager
def acting_as(url: str, username: str, password: str, workspace: str) -> Iterator[None]:
    """MLflow's client talks to `url` as `username` in `workspace` (one principal at a time per process)."""
    global _login
    register_auth_provider()
    wanted = {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_AUTH": AUTH_PROVIDER, "MLFLOW_WORKSPACE": workspace,
              "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    cleared = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_REGISTRY_URI")
    with _login_lock:
        saved = {key: os.environ.get(key) for key in (*wanted, *cleared)}
        previous = _login
        for key in cleared:
            os.environ.pop(key, None)
        os.environ.update(wanted)
        _login = (username, password)
        from mlflow.tracking._tracking_service import utils as tracking_utils

        saved_uri, tracking_utils._tracking_uri = tracking_utils._tracking_uri, None  # the environment decides
        try:
            yield
        finally:
            tracking_utils._tracking_uri = saved_uri
            _login = previous
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
