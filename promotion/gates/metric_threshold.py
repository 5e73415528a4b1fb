"""metric_threshold: the candidate's metric, computed by the target on its own validation table, is within bounds."""

from __future__ import annotations

from lakegate.infra.model.promotion import MetricThresholdGate

from .base import EvaluationUnavailable, GateContext, GateResult

TYPE = "metric_threshold"
MESSAGE = "the candidate's metric, computed by the target on its own labelled hold-out, lies within [min, max]"
RATIONALE = ("A model that does not reach the quality the environment promises must not serve it. The figure is "
             "the target's own: computed as its principal on its validation table, because the source can rewrite "
             "what its training run logged (the source's figure is shown as a claim, never used).")


def check(gate: MetricThresholdGate, ctx: GateContext) -> GateResult:
    bounds = {"min": gate.min, "max": gate.max}
    try:
        evaluation = ctx.evaluate(ctx.candidate)
    except EvaluationUnavailable as error:
        return GateResult(gate.gate_id, False, str(error), {"metric": gate.metric, **bounds})
    value = evaluation.metrics.get(gate.metric)
    claimed = ctx.claimed(ctx.candidate, gate.metric)
    details = {"metric": gate.metric, "value": value, **bounds, "table": evaluation.table,
               "table_version": evaluation.table_version, "rows": evaluation.rows, "computed_by": evaluation.principal,
               "claimed": claimed}
    if value is None:
        return GateResult(gate.gate_id, False, f"{gate.metric} cannot be computed for this model on {evaluation.table} "
                          f"(computed: {', '.join(sorted(evaluation.metrics))})", details)
    where = f"{evaluation.describe()}" + (f"; the training run claims {claimed:.4g}" if claimed is not None else "")
    return within_bounds(gate, value, details, where)


def recorded(gate: MetricThresholdGate, details: dict, where: str) -> GateResult | None:
    """The gate judged again on the figure the target computed when it promoted these very files (the promote entry's
    details of this gate; the caller has checked the entry and the files' digest): None when it holds no such figure."""
    value = details.get("value")
    if details.get("metric") != gate.metric or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return within_bounds(gate, float(value), {**details, "min": gate.min, "max": gate.max, "recorded": True}, where)


def within_bounds(gate: MetricThresholdGate, value: float, details: dict, where: str) -> GateResult:
    if gate.min is not None and value < gate.min:
        return GateResult(gate.gate_id, False, f"{gate.metric} {value:.4g} is below the minimum {gate.min:g} ({where})",
                          details)
    if gate.max is not None and value > gate.max:
        return GateResult(gate.gate_id, False, f"{gate.metric} {value:.4g} is above the maximum {gate.max:g} ({where})",
                          details)
    return GateResult(gate.gate_id, True, f"{gate.metric} {value:.4g} is within bounds ({where})", details)
