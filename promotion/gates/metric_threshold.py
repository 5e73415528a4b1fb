"""metric_threshold: a training metric lies within the configured bounds."""

from __future__ import annotations

from infra.model.promotion import MetricThresholdGate

from .base import GateContext, GateResult

TYPE = "metric_threshold"
MESSAGE = "a training metric of the candidate lies within [min, max]"
RATIONALE = ("A model that does not reach the quality the environment promises must not serve it; "
             "the bound is data in the environment's YAML, reviewed like code.")


def check(gate: MetricThresholdGate, ctx: GateContext) -> GateResult:
    metrics = ctx.metrics(ctx.candidate)
    bounds = {"min": gate.min, "max": gate.max}
    if gate.metric not in metrics:
        return GateResult(gate.gate_id, False, f"metric {gate.metric} was not logged by the training run",
                          {"metric": gate.metric, **bounds, "logged": sorted(metrics)})
    value = metrics[gate.metric]
    details = {"metric": gate.metric, "value": value, **bounds}
    if gate.min is not None and value < gate.min:
        return GateResult(gate.gate_id, False, f"{gate.metric} {value:.4g} is below the minimum {gate.min:g}", details)
    if gate.max is not None and value > gate.max:
        return GateResult(gate.gate_id, False, f"{gate.metric} {value:.4g} is above the maximum {gate.max:g}", details)
    return GateResult(gate.gate_id, True, f"{gate.metric} {value:.4g} is within bounds", details)
