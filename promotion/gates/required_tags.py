"""required_tags: the candidate carries every compliance tag the environment requires."""

from __future__ import annotations

from lakegate.infra.model.promotion import RequiredTagsGate

from .base import GateContext, GateResult

TYPE = "required_tags"
MESSAGE = "the candidate carries every required tag, each with a value"
RATIONALE = ("Compliance needs to answer 'which code and data made this model' for every version that "
             "serves; a version without those tags cannot be traced and must not serve.")


def check(gate: RequiredTagsGate, ctx: GateContext) -> GateResult:
    tags = ctx.candidate.tags
    missing = [name for name in gate.tags if not str(tags.get(name, "")).strip()]
    details = {"required": list(gate.tags), "missing": missing}
    if missing:
        return GateResult(gate.gate_id, False, f"missing tag(s): {', '.join(missing)}", details)
    return GateResult(gate.gate_id, True, f"all {len(gate.tags)} required tags present", details)
