"""approval: an enrolled person, allowed to approve here and not the promoter, signed this very version."""

from __future__ import annotations

from lakegate.infra.model.promotion import ApprovalGate

from .. import registry_tags
from ..approval import approval_problem, read_record
from ..holds import approved_after
from .base import GateContext, GateResult

TYPE = "approval"
MESSAGE = "an enrolled approver (not a service principal, not the promoter, not the commit's author) signed this version's files"
RATIONALE = ("Production changes need a second pair of human eyes. A name in a tag proves nothing (any principal "
             "can write tags), so only a signature by a key the reviewed YAML enrols, over the environment, "
             "model, version and digest of the files that will serve, counts; it is verified here, every time. Files "
             "rolled back out of champion need an approval given after the rollback.")


def check(gate: ApprovalGate, ctx: GateContext) -> GateResult:
    version, model, env = ctx.candidate, ctx.candidate.name, ctx.env.name
    try:
        record = read_record(version.tags)
    except ValueError as error:
        return GateResult(gate.gate_id, False, f"the approval record on v{version.version} is unreadable ({error}); "
                          "approve again", {"approved_by": None})
    if record is None:
        claimed = version.tags.get(registry_tags.APPROVED_BY, "").strip()
        hint = f"; a {registry_tags.APPROVED_BY} tag naming {claimed} is not an approval" if claimed else ""
        return GateResult(gate.gate_id, False, f"no approval recorded for v{version.version}{hint} (run: approve "
                          f"{model} --env {env} --version {version.version} --key ~/.ssh/id_ed25519)",
                          {"approved_by": None, "claimed": claimed or None})
    digest = ctx.artifact_digest(version)
    details = {"approved_by": record.by, "approved_at": record.at, "kind": record.kind, "artifacts_sha256": digest}
    problem = approval_problem(ctx.envs, ctx.env, version, record, digest, ctx.promoters)
    hold = getattr(ctx, "rolled_back", None)
    if problem is None and hold is not None and not approved_after(record.at, hold):
        problem = (f"it was given at {record.at}, before these files were rolled back at {hold.at} by {hold.by}; a "
                   f"rolled-back version needs a fresh approval (approve {model} --env {env} --version "
                   f"{version.version} --key ...)")
        details["rolled_back"] = hold.as_dict()
    if problem:
        return GateResult(gate.gate_id, False, f"approval by {record.by} does not count: {problem}", details)
    how = "signature verified" if record.kind == "ssh" else f"confirmed by {record.kind}"
    return GateResult(gate.gate_id, True, f"approved by {record.by} ({how})", details)
