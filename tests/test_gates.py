"""Gates as pure units: each gate passes and fails on small fixtures; the exact set of failing ids is asserted.

The registry here is an in-memory stand-in for the adapter *interface* (what a gate reads: model info
and a loadable model); the gates against the real MLflow server are exercised in test_promotion.py.
"""

from __future__ import annotations

import json

import pytest

from infra.model.promotion import Promotion
from promotion import aliases
from promotion.gates import GATES, GateContext, GateResult, gates_for, run_gate, run_gates
from promotion.gates.signature import incompatibilities
from promotion.registry import ModelVersion

from .helpers import variant

LINEAGE = {"git_commit": "abc123", "git_repository": "https://example.com/repo", "training_run": "run-1"}
COLUMNS = ["tenure_months", "monthly_charges"]
SIGNATURE = {"inputs": json.dumps([{"type": "double", "name": c, "required": True} for c in COLUMNS]),
             "outputs": json.dumps([{"type": "long", "required": True}])}
EXAMPLE = {"columns": COLUMNS, "data": [[1.0, 50.0], [30.0, 80.0]]}


class OneRowPerRow:
    def predict(self, frame):
        return [0] * len(frame)


class StubRegistry:
    """Answers the two reads gates make; anything else is a test bug."""

    principal = "sp-test"

    def __init__(self, infos: dict[str, dict], model=None):
        self.infos, self.model = infos, model or OneRowPerRow()

    def model_info(self, name, version):
        info = self.infos[version]
        if isinstance(info, Exception):
            raise info
        return info

    def load_pyfunc(self, name, version):
        return self.model


def version(number: str, tags: dict | None = None) -> ModelVersion:
    return ModelVersion(name="staging.ml.churn", version=number, tags={**LINEAGE, **(tags or {})})


def info(accuracy: float | None = 0.9, signature=SIGNATURE, example=EXAMPLE) -> dict:
    return {"signature": signature, "input_example": example,
            "metrics": {} if accuracy is None else {"accuracy": accuracy}}


def context(envs, env="staging", candidate_info=None, champion_info=None, tags=None, model=None) -> GateContext:
    infos = {"2": candidate_info or info()}
    champion = None
    if champion_info is not None:
        infos["1"], champion = champion_info, version("1")
    return GateContext(envs, envs[env], StubRegistry(infos, model), version("2", tags), champion)


def failing(results: list[GateResult]) -> set[str]:
    return {r.gate_id for r in results if not r.passed}


def test_every_gate_type_of_the_model_has_a_module_with_id_message_and_rationale():
    from typing import get_args

    union = get_args(get_args(Promotion.model_fields["gates"].annotation)[0])[0]
    types = {get_args(member.model_fields["type"].annotation)[0] for member in get_args(union)}
    assert types == set(GATES)
    for module in GATES.values():
        assert module.MESSAGE and module.RATIONALE and callable(module.check)


def test_good_candidate_passes_every_staging_gate(envs):
    results = run_gates(gates_for(envs["staging"]), context(envs, champion_info=info(0.89)))
    assert failing(results) == set()
    assert [r.gate_id for r in results] == ["required_tags", "signature", "metric_threshold:accuracy",
                                            "no_regression:accuracy", "smoke_inference"]


def test_poor_candidate_fails_exactly_the_metric_gates_and_says_why(envs):
    results = run_gates(gates_for(envs["staging"]), context(envs, candidate_info=info(0.66), champion_info=info(0.89)))
    assert failing(results) == {"metric_threshold:accuracy", "no_regression:accuracy"}
    by_id = {r.gate_id: r for r in results}
    assert by_id["metric_threshold:accuracy"].message == "accuracy 0.66 is below the minimum 0.8"
    assert "worse than champion v1's 0.89 by 0.23" in by_id["no_regression:accuracy"].message
    assert by_id["no_regression:accuracy"].details["champion_version"] == "1"


@pytest.mark.parametrize("accuracy, passed", [(0.80, True), (0.7999, False), (None, False)])
def test_metric_threshold_bound_is_inclusive_and_a_missing_metric_fails(envs, accuracy, passed):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "metric_threshold")
    result = run_gate(gate, context(envs, candidate_info=info(accuracy)))
    assert result.passed is passed


@pytest.mark.parametrize("candidate, champion, passed", [
    (0.87, 0.89, True),     # within the 0.02 tolerance
    (0.86, 0.89, False),    # beyond it
    (0.95, 0.89, True),     # better
])
def test_no_regression_uses_the_tolerance(envs, candidate, champion, passed):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "no_regression")
    assert run_gate(gate, context(envs, candidate_info=info(candidate), champion_info=info(champion))).passed is passed


def test_no_regression_without_champion_passes_and_with_a_champion_lacking_the_metric_fails_closed(envs):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "no_regression")
    assert run_gate(gate, context(envs)).passed
    result = run_gate(gate, context(envs, champion_info=info(None)))
    assert not result.passed and result.message == "champion v1 has no accuracy to compare with"


def test_a_copy_whose_run_is_unreachable_is_judged_by_its_source_run(envs):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "metric_threshold")
    ctx = context(envs, candidate_info=info(None),
                  tags={aliases.PROMOTED_FROM: "dev.ml.churn", aliases.SOURCE_VERSION: "7"})
    ctx.registry.infos["7"] = info(0.91)
    result = run_gate(gate, ctx)
    assert result.passed and result.details["value"] == 0.91


def test_required_tags_names_the_missing_ones(envs):
    gate = envs["staging"].promotion.gates[0]
    ctx = context(envs)
    ctx.candidate = ModelVersion(name="staging.ml.churn", version="2", tags={"git_commit": "abc", "training_run": " "})
    result = run_gate(gate, ctx)
    assert not result.passed and result.message == "missing tag(s): git_repository, training_run"


def test_signature_missing_fails_and_incompatible_change_is_named(envs):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "signature")
    assert not run_gate(gate, context(envs, candidate_info=info(signature=None))).passed
    changed = {"inputs": json.dumps([{"type": "string", "name": "tenure_months"},
                                     {"type": "double", "name": "region", "required": True}]),
               "outputs": SIGNATURE["outputs"]}
    result = run_gate(gate, context(envs, candidate_info=info(signature=changed), champion_info=info()))
    assert not result.passed
    assert result.details["incompatibilities"] == [
        'input tenure_months changed type "double" -> "string"', "input monthly_charges removed",
        "new required input region"]


def test_signature_compatible_when_only_an_optional_input_is_added():
    old = {"inputs": [{"type": "double", "name": "a"}], "outputs": [{"type": "long"}]}
    new = {"inputs": [{"type": "double", "name": "a"}, {"type": "double", "name": "b", "required": False}],
           "outputs": [{"type": "long"}]}
    assert incompatibilities(new, old) == []
    assert incompatibilities({**new, "outputs": [{"type": "double"}]}, old) == ["outputs changed"]


def test_smoke_inference_predicts_on_the_input_example_and_fails_on_a_short_answer(envs):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "smoke_inference")
    ok = run_gate(gate, context(envs))
    assert ok.passed and ok.details["rows"] == 2

    class Short:
        def predict(self, frame):
            return [1]

    assert run_gate(gate, context(envs, model=Short())).message == "1 predictions for 2 input rows"
    assert not run_gate(gate, context(envs, candidate_info=info(example=None))).passed


def test_a_gate_that_raises_has_failed_and_says_so(envs):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "signature")
    result = run_gate(gate, context(envs, candidate_info=ConnectionError("registry went away")))
    assert not result.passed
    assert result.message == "gate raised ConnectionError: registry went away"


def test_an_unknown_gate_type_fails_closed(envs):
    class Bogus:
        type, gate_id = "bogus", "bogus"

    assert run_gate(Bogus(), context(envs)) == GateResult("bogus", False, "no gate implements type 'bogus'", {})


def test_prod_requires_approval_by_a_member_of_the_approver_group_never_a_service_principal(envs):
    approval = next(g for g in gates_for(envs["prod"]) if g.type == "approval")
    assert not run_gate(approval, context(envs, "prod")).passed
    cases = {
        "head.of.ml@contoso.com": (True, "approved by head.of.ml@contoso.com"),
        "sam.okafor@contoso.com": (False, "is not a member of the approver group(s) ml-approvers of prod"),
        "sp-lakegate-staging": (False, "sp-lakegate-staging is the service principal of staging"),
    }
    for approver, (passed, message) in cases.items():
        result = run_gate(approval, context(envs, "prod", tags={aliases.APPROVED_BY: approver}))
        assert result.passed is passed and message in result.message, approver


def test_required_approval_implies_an_approval_gate_even_when_not_listed(envs):
    changed = variant(envs, "staging", promotion={"from": "dev", "gates": [], "approval": {"required": True}})
    assert [g.type for g in gates_for(changed["staging"])] == ["approval"]
    assert [g.type for g in gates_for(envs["staging"])] == [
        "required_tags", "signature", "metric_threshold", "no_regression", "smoke_inference"]
    assert [g.type for g in gates_for(envs["prod"])].count("approval") == 1
