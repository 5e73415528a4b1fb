"""Turn MLflow HTTP failures into the registry's errors, naming the principal, action and target.

MLflow's basic-auth answers a refusal with `403 Permission denied`, but some refusals reach the
client wrapped in a 5xx (a handler that catches the inner 403 and re-raises it as INTERNAL_ERROR,
or a proxied artifact call). Those are unwrapped here by inspecting the body, so every refusal
reads `principal X may not Y on Z` whatever the status code.
"""

from __future__ import annotations

import json
import re
from typing import Any

from promotion.registry import NotFound, PermissionRefused, RegistryError

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
