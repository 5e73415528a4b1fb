"""no_regression: the candidate is no worse than the current champion by more than a tolerance."""

from __future__ import annotations

from infra.model.promotion import ChampionComparisonGate

from .base import GateContext, GateResult

TYPE = "no_regression"
# 0.89 - 0.87 is 0.0200000000000000018 in floating point; a difference equal to the tolerance passes.
_FLOAT_SLACK = 1e-12
MESSAGE = "the candidate's metric is no worse than the champion's by more than the tolerance"
RATIONALE = ("Passing absolute thresholds is not enough: replacing a better champion with a worse model "
             "is a regression users feel; the tolerance makes the accepted noise explicit.")


def check(gate: ChampionComparisonGate, ctx: GateContext) -> GateResult:
    metric = gate.metric
    candidate = ctx.metrics(ctx.candidate).get(metric)
    if candidate is None:
        return GateResult(gate.gate_id, False, f"metric {metric} was not logged by the candidate's training run",
                          {"metric": metric})
    if ctx.champion is None:
        return GateResult(gate.gate_id, True, f"no champion yet; {metric} {candidate:.4g} stands alone",
                          {"metric": metric, "candidate": candidate, "champion": None})
    champion = ctx.metrics(ctx.champion).get(metric)
    details = {"metric": metric, "candidate": candidate, "champion": champion,
               "champion_version": ctx.champion.version, "tolerance": gate.tolerance,
               "higher_is_better": gate.higher_is_better}
    if champion is None:
        # Fail closed: without the champion's figure nobody can say the candidate is not worse.
        return GateResult(gate.gate_id, False, f"champion v{ctx.champion.version} has no {metric} to compare with", details)
    worse_by = (champion - candidate) if gate.higher_is_better else (candidate - champion)
    details["worse_by"] = worse_by
    if worse_by > gate.tolerance + _FLOAT_SLACK:
        return GateResult(gate.gate_id, False, f"{metric} {candidate:.4g} is worse than champion v{ctx.champion.version}'s "
                          f"{champion:.4g} by {worse_by:.4g} (tolerance {gate.tolerance:g})", details)
    return GateResult(gate.gate_id, True, f"{metric} {candidate:.4g} vs champion v{ctx.champion.version}'s "
                      f"{champion:.4g} (tolerance {gate.tolerance:g})", details)
