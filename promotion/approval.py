"""Manual approval: a person (never a service principal) records that a version may become champion.

`approve MODEL --env prod --version N --by NAME` tags the version with who approved and when, and
appends an audit entry; the approval gate reads those tags back and re-checks the approver (so a tag
written by hand with a service principal's name still fails). Champion moves on the next `promote`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from infra.model import Environment, Environments

from . import aliases, naming
from .audit import AuditLog, current_actor
from .errors import ApprovalMissing, InvalidRequest
from .registry import NotFound, RegistryAdapter


def approver_problem(envs: Environments, env: Environment, name: str) -> str | None:
    """Why `name` may not approve in env, or None when it may."""
    name = (name or "").strip()
    if not name:
        return "an approval needs the approver's name (--by)"
    for other in envs:
        identities = {other.service_principal.lower(), (other.principals.service_principal.application_id or "").lower()}
        if name.lower() in identities - {""}:
            return f"{name} is the service principal of {other.name}; approvals must come from a person"
    groups = env.promotion.approval.approvers
    if not groups:
        return None
    members = {m.lower() for g in groups if g in env.principals.groups for m in env.principals.groups[g].members}
    if name.lower() not in members:
        return f"{name} is not a member of the approver group(s) {', '.join(groups)} of {env.name}"
    return None


@dataclass(frozen=True)
class ApprovalResult:
    env: str
    model: str
    version: str
    approved_by: str
    approved_at: str
    audit_seq: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def approve(envs: Environments, model: str, env_name: str, version: str, approved_by: str, *,
            adapter_factory: Callable[[str], RegistryAdapter], audit_dir: str | Path) -> ApprovalResult:
    """Record an approval on the version and in the audit log; refuses service principals and non-approvers."""
    env = naming.environment(envs, env_name)
    full = naming.full_name_in(env, model)
    log = AuditLog(audit_dir, env.name)
    problem = approver_problem(envs, env, approved_by)
    if problem:
        log.append("approval_refused", model=full, version=str(version), actor=current_actor(),
                   details={"approved_by": approved_by, "reason": problem})
        raise ApprovalMissing(f"approval refused: {problem}")
    registry = adapter_factory(env.name)
    try:
        approved = registry.get_version(full, str(version))
    except NotFound:
        raise InvalidRequest(f"{full} has no version {version}") from None
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    registry.set_version_tag(full, str(version), aliases.APPROVED_BY, approved_by.strip())
    registry.set_version_tag(full, str(version), aliases.APPROVED_AT, when)
    entry = log.append("approve", model=full, version=str(version), actor=current_actor(),
                       principal=registry.principal, git_commit=approved.tags.get(aliases.GIT_COMMIT),
                       details={"approved_by": approved_by.strip()})
    return ApprovalResult(env.name, full, str(version), approved_by.strip(), when, entry["seq"])
