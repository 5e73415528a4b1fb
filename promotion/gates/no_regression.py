"""no_regression: the candidate is no worse than the champion by more than a tolerance, on the target's own data."""

from __future__ import annotations

from lakegate.infra.model.promotion import ChampionComparisonGate

from .base import EvaluationUnavailable, GateContext, GateResult

TYPE = "no_regression"
# 0.89 - 0.87 is 0.0200000000000000018 in floating point; a difference equal to the tolerance passes.
_FLOAT_SLACK = 1e-12
MESSAGE = "the candidate's metric is no worse than the champion's by more than the tolerance, both computed now by the target"
RATIONALE = ("Passing absolute thresholds is not enough: replacing a better champion with a worse model is a "
             "regression users feel. Both are evaluated by the target on the same rows of its own validation table "
             "at the same moment, so a figure a source logged (or forged) for either can neither push a poor "
             "model in nor keep a genuine one out.")


def check(gate: ChampionComparisonGate, ctx: GateContext) -> GateResult:
    metric = gate.metric
    try:
        candidate_eval = ctx.evaluate(ctx.candidate)
    except EvaluationUnavailable as error:
        return GateResult(gate.gate_id, False, str(error), {"metric": metric})
    candidate = candidate_eval.metrics.get(metric)
    if candidate is None:
        return GateResult(gate.gate_id, False, f"{metric} cannot be computed for the candidate on {candidate_eval.table}",
                          {"metric": metric})
    if ctx.champion is None:
        return GateResult(gate.gate_id, True, f"no champion yet; {metric} {candidate:.4g} stands alone "
                          f"({candidate_eval.describe()})", {"metric": metric, "candidate": candidate, "champion": None})
    details = {"metric": metric, "candidate": candidate, "champion_version": ctx.champion.version,
               "tolerance": gate.tolerance, "higher_is_better": gate.higher_is_better, "table": candidate_eval.table,
               "table_version": candidate_eval.table_version, "rows": candidate_eval.rows,
               "claimed": {"candidate": ctx.claimed(ctx.candidate, metric), "champion": ctx.claimed(ctx.champion, metric)}}
    try:
        champion = ctx.evaluate(ctx.champion).metrics.get(metric)
    except EvaluationUnavailable as error:
        # Fail closed: without the champion's figure nobody can say the candidate is not worse.
        return GateResult(gate.gate_id, False, f"champion v{ctx.champion.version} cannot be evaluated: {error}", details)
    details["champion"] = champion
    if champion is None:
        return GateResult(gate.gate_id, False, f"champion v{ctx.champion.version} has no {metric} on "
                          f"{candidate_eval.table} to compare with", details)
    worse_by = (champion - candidate) if gate.higher_is_better else (candidate - champion)
    details["worse_by"] = worse_by
    where = f"both on {candidate_eval.describe()}"
    if worse_by > gate.tolerance + _FLOAT_SLACK:
        return GateResult(gate.gate_id, False, f"{metric} {candidate:.4g} is worse than champion v{ctx.champion.version}'s "
                          f"{champion:.4g} by {worse_by:.4g} (tolerance {gate.tolerance:g}; {where})", details)
    return GateResult(gate.gate_id, True, f"{metric} {candidate:.4g} vs champion v{ctx.champion.version}'s "
                      f"{champion:.4g} (tolerance {gate.tolerance:g}; {where})", details)
