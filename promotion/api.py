"""What the CLI (and CI scripts) call: one import for the whole promotion engine.

    from lakegate.promotion.api import promote, approve, rollback, status, verify_audit, cross_check_audit, failure_kind

Every function acts through `adapter_factory(env_name) -> RegistryAdapter`, which returns an adapter
acting as that environment's service principal (local registry or Unity Catalog, wired by the caller).
Refusals raise (errors.PromotionError subclasses, registry.PermissionRefused, registry.NotFound);
`failure_kind(error)` names the exit code (cli/exit_codes.py). A promotion whose gates fail does not
raise: it returns a PromotionResult whose `failure_kind` is GATE_FAILED or APPROVAL_MISSING.

Files rolled back out of a target's champion are held (promotion/holds.py): `promote(...)` refuses them (exit 6)
unless called with `allow_rolled_back=True`, a person's decision that CI scripts must never make for them.

Defaults: audit log in `.lakegate/audit/<env>.jsonl`, same-machine locks in `.lakegate/locks/`.
"""

from __future__ import annotations

from .approval import ApprovalResult, approval_statement, approve, approver_problem
from .audit import DEFAULT_DIR as DEFAULT_AUDIT_DIR
from .audit import AuditLog, VerifyResult
from .audit import verify as verify_audit
from .audit_check import cross_check as cross_check_audit
from .errors import ApprovalMissing, AuditTampered, GateFailed, InvalidRequest, PromotionError, failure_kind
from .promote import PromotionResult, ServingHook, promote
from .rollback import RollbackResult, rollback
from .status import status

__all__ = [
    "DEFAULT_AUDIT_DIR", "ApprovalMissing", "ApprovalResult", "AuditLog", "AuditTampered", "GateFailed",
    "InvalidRequest", "PromotionError", "PromotionResult", "RollbackResult", "ServingHook", "VerifyResult",
    "approval_statement", "approve", "approver_problem", "cross_check_audit", "failure_kind", "promote", "rollback",
    "status", "verify_audit",
]
