"""signature: the candidate has a signature, and callers of the champion can call it unchanged."""

from __future__ import annotations

import json
from typing import Any

from lakegate.infra.model.promotion import SignatureGate

from .base import GateContext, GateResult

TYPE = "signature"
MESSAGE = "the candidate logs a signature compatible with the champion's"
RATIONALE = ("Serving validates requests against the signature; a model without one accepts anything, "
             "and a changed input schema breaks every client of the endpoint when champion moves.")


def _columns(schema: Any) -> dict[str, dict[str, Any]]:
    """{column name: spec} of one side of a signature (MLmodel stores each side as a JSON string)."""
    if isinstance(schema, str):
        schema = json.loads(schema)
    return {str(spec.get("name", f"#{i}")): spec for i, spec in enumerate(schema or [])}


def _type(spec: dict[str, Any]) -> str:
    return json.dumps(spec.get("tensor-spec") or spec.get("type"), sort_keys=True)


def incompatibilities(candidate: dict[str, Any], champion: dict[str, Any]) -> list[str]:
    """What a caller of the champion would trip over when calling the candidate."""
    problems = []
    new_inputs, old_inputs = _columns(candidate.get("inputs")), _columns(champion.get("inputs"))
    for name, spec in old_inputs.items():
        if name not in new_inputs:
            problems.append(f"input {name} removed")
        elif _type(new_inputs[name]) != _type(spec):
            problems.append(f"input {name} changed type {_type(spec)} -> {_type(new_inputs[name])}")
    for name, spec in new_inputs.items():
        if name not in old_inputs and spec.get("required", True):
            problems.append(f"new required input {name}")
    new_outputs, old_outputs = _columns(candidate.get("outputs")), _columns(champion.get("outputs"))
    if old_outputs and {n: _type(s) for n, s in new_outputs.items()} != {n: _type(s) for n, s in old_outputs.items()}:
        problems.append("outputs changed")
    return problems


def check(gate: SignatureGate, ctx: GateContext) -> GateResult:
    signature = ctx.info(ctx.candidate).get("signature")
    if not signature or not signature.get("inputs"):
        return GateResult(gate.gate_id, False, "the candidate has no signature (log one with the model)", {})
    details = {"inputs": sorted(_columns(signature.get("inputs")))}
    if ctx.champion is None:
        return GateResult(gate.gate_id, True, "signature present; no champion to compare with", details)
    champion_signature = ctx.info(ctx.champion).get("signature")
    if not champion_signature:
        return GateResult(gate.gate_id, True, f"signature present; champion v{ctx.champion.version} has none", details)
    problems = incompatibilities(signature, champion_signature)
    details.update(champion_version=ctx.champion.version, incompatibilities=problems)
    if problems:
        return GateResult(gate.gate_id, False, f"signature incompatible with champion v{ctx.champion.version}: "
                          + "; ".join(problems), details)
    return GateResult(gate.gate_id, True, f"signature compatible with champion v{ctx.champion.version}", details)
