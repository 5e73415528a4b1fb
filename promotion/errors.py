"""Failure kinds of promotion, each with its own exit code name (cli/exit_codes.py holds the numbers).

Registry refusals arrive as promotion.registry.PermissionRefused ("principal X may not Y on Z") and are
passed through unchanged; `failure_kind` maps any exception to the name of its exit code.
"""

from __future__ import annotations

from .registry import NotFound, PermissionRefused, RegistryError


class PromotionError(Exception):
    """Base of every refusal promotion raises on purpose. `kind` names the exit code."""

    kind = "UNEXPECTED"


class InvalidRequest(PromotionError):
    """The request itself is wrong: source not on the promotion path, missing lineage, unknown version."""

    kind = "INVALID_REQUEST"


class GateFailed(PromotionError):
    """At least one gate failed; champion did not move."""

    kind = "GATE_FAILED"


class ApprovalMissing(PromotionError):
    """An approval is required and not recorded, or the would-be approver is not allowed to approve."""

    kind = "APPROVAL_MISSING"


class AuditTampered(PromotionError):
    """The audit log chain is broken, so nothing that relies on it (rollback) may proceed."""

    kind = "AUDIT_TAMPERED"


class ServingUpdateFailed(PromotionError):
    """Champion moved but the serving endpoint could not be pointed at it (recorded in the audit log)."""

    kind = "REGISTRY_UNAVAILABLE"


class CredentialsError(PromotionError):
    """Credentials could not be resolved or used (promotion/credentials/). str() starts with the strategy
    name, or `credentials` for the chain itself."""

    kind = "CREDENTIALS"

    def __init__(self, strategy: str, message: str):
        self.strategy = strategy
        super().__init__(f"{strategy}: {message}")


def failure_kind(error: BaseException) -> str:
    """The exit-code name for any error promotion can raise."""
    if isinstance(error, PromotionError):
        return error.kind
    if isinstance(error, PermissionRefused):
        return "PERMISSION_REFUSED"
    if isinstance(error, NotFound):
        return "INVALID_REQUEST"
    if isinstance(error, (RegistryError, ConnectionError)):
        return "REGISTRY_UNAVAILABLE"
    return "UNEXPECTED"


def missing_from_registry(registry, name: str, version: str | None = None, hint: str = "") -> InvalidRequest:
    """A refusal saying exactly what is missing: the model itself (no version registered, or none the principal
    may see), or one version of a model that has others (naming the latest, so the typo shows)."""
    try:
        numbers = sorted(int(v.version) for v in registry.list_versions(name))
    except NotFound:
        numbers = []
    if not numbers:
        return InvalidRequest(f"{name}: model not found: no version of it is registered (or visible to "
                              f"{registry.principal}){hint}")
    if version is None:
        return InvalidRequest(f"{name}: not found ({len(numbers)} versions registered, latest: {numbers[-1]}){hint}")
    return InvalidRequest(f"{name}: version {version} not found (latest: {numbers[-1]}; "
                          f"{len(numbers)} version{'s' if len(numbers) != 1 else ''} registered)")
