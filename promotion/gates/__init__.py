"""Gates: one small module per gate type, found by `type` in GATES. A gate that raises has failed.

Each module declares TYPE, MESSAGE (what it checks, one line), RATIONALE (why it exists) and
`check(gate_config, context) -> GateResult`. Adding a gate = one module + one line in GATES
(+ its config class in infra/model/promotion.py).
"""

from __future__ import annotations

import time
from types import ModuleType

from lakegate.infra import progress
from lakegate.infra.model import Environment
from lakegate.infra.model.promotion import ApprovalGate, LineageGate

from . import approval, lineage, metric_threshold, no_regression, required_tags, serving_smoke, signature, smoke_inference
from .base import GateContext, GateResult

GATES: dict[str, ModuleType] = {module.TYPE: module for module in (
    required_tags, lineage, signature, metric_threshold, no_regression, smoke_inference, serving_smoke, approval)}

__all__ = ["GATES", "GateContext", "GateResult", "gates_for", "run_gate", "run_gates"]


def gates_for(env: Environment, model: str) -> list:
    """The model's gates in `env` (its own list, else the environment's). Implied when not listed: the lineage gate
    wherever models are promoted into (first: a version whose code no commit holds needs no further judging), the
    approval gate where its approval is required."""
    policy = env.policy(model.split(".")[-1])
    gates = list(policy.gates)
    if env.promotion.from_env is not None and not any(g.type == "lineage" for g in gates):
        gates.insert(0, LineageGate(type="lineage"))
    if policy.approval.required and not any(g.type == "approval" for g in gates):
        gates.append(ApprovalGate(type="approval"))
    return gates


def run_gate(gate, ctx: GateContext) -> GateResult:
    """Run one gate; fail closed on an unknown type, an exception or a malformed result."""
    module = GATES.get(gate.type)
    if module is None:
        return GateResult(gate.gate_id, False, f"no gate implements type '{gate.type}'", {})
    try:
        result = module.check(gate, ctx)
    except Exception as error:  # noqa: BLE001 -- fail closed on any error, and say which
        return GateResult(gate.gate_id, False, f"gate raised {type(error).__name__}: {_first_line(error)}",
                          {"error": type(error).__name__})
    if not isinstance(result, GateResult):
        return GateResult(gate.gate_id, False, f"gate returned {type(result).__name__}, not a GateResult", {})
    return result


def run_gates(gates: list, ctx: GateContext) -> list[GateResult]:
    """Every gate runs (no short-circuit): people fix all failures in one go, and all are recorded."""
    if gates:
        with progress.step("load what the gates judge (model, files, validation data)"):
            ctx.prefetch({gate.type for gate in gates})
    results = []
    for gate in gates:
        began = time.perf_counter()
        progress.started(f"gate {gate.gate_id}")
        result = run_gate(gate, ctx)
        progress.ended(f"gate {gate.gate_id}", result.passed, "" if result.passed else result.message,
                       time.perf_counter() - began)
        results.append(result)
    return results


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else "(no message)"
