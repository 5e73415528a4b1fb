"""approval: a person allowed to approve in this environment has approved this very version."""

from __future__ import annotations

from infra.model.promotion import ApprovalGate

from .. import aliases
from ..approval import approver_problem
from .base import GateContext, GateResult

TYPE = "approval"
MESSAGE = "an allowed person (not a service principal) approved this version"
RATIONALE = ("Production changes need a second pair of human eyes; automation must not be able to "
             "approve its own promotion, so service principals never count as approvers.")


def check(gate: ApprovalGate, ctx: GateContext) -> GateResult:
    approver = ctx.candidate.tags.get(aliases.APPROVED_BY, "").strip()
    model, version = ctx.candidate.name, ctx.candidate.version
    if not approver:
        return GateResult(gate.gate_id, False, f"no approval recorded for v{version} (run: approve "
                          f"{model} --env {ctx.env.name} --version {version} --by NAME)", {"approved_by": None})
    problem = approver_problem(ctx.envs, ctx.env, approver)
    details = {"approved_by": approver, "approved_at": ctx.candidate.tags.get(aliases.APPROVED_AT)}
    if problem:
        return GateResult(gate.gate_id, False, f"approval by {approver} does not count: {problem}", details)
    return GateResult(gate.gate_id, True, f"approved by {approver}", details)
