"""Gates as pure units: each gate passes and fails on small fixtures; the exact set of failing ids is asserted.

The registry here is an in-memory stand-in for the adapter *interface* (what a gate reads: model info
and a loadable model); the gates against the real MLflow server are exercised in test_promotion.py.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lakegate.infra.model.promotion import Promotion
from lakegate.promotion import registry_tags
from lakegate.promotion.gates import GATES, GateContext, GateResult, gates_for, run_gate, run_gates
from lakegate.promotion.gates.signature import incompatibilities
from lakegate.promotion.registry import ModelVersion

from .helpers import clean_lineage, variant

LINEAGE = {"git_commit": "abc123", "git_repository": "https://example.com/repo", "training_run": "run-1"}
COLUMNS = ["tenure_months", "monthly_charges"]
SIGNATURE = {"inputs": json.dumps([{"type": "double", "name": c, "required": True} for c in COLUMNS]),
             "outputs": json.dumps([{"type": "long", "required": True}])}
EXAMPLE = {"columns": COLUMNS, "data": [[1.0, 50.0], [30.0, 80.0]]}


ROWS = 200
# The target's labelled hold-out (what the metric gates evaluate on): the label alternates.
VALIDATION = pd.DataFrame({"tenure_months": [float(i) for i in range(ROWS)],
                           "monthly_charges": [50.0 + i % 7 for i in range(ROWS)],
                           "churned": [i % 2 for i in range(ROWS)]})


class StubTables:
    """The target's tables as the metric gates read them (pipelines/tables.py interface), in memory."""

    principal, catalog = "sp-test", "staging"

    def __init__(self, frame=VALIDATION):
        self.frame = frame

    def full_name(self, name):
        return f"staging.{name}"

    def version(self, name):
        return None if self.frame is None else 3

    def read(self, name):
        return self.frame

    def to_pandas(self, frame, limit=None):
        return frame


class AccuracyModel:
    """A pyfunc-like model that is right on exactly `accuracy` of the hold-out's rows (by row index)."""

    def __init__(self, accuracy: float):
        from mlflow.models import Model, ModelSignature
        from mlflow.types import ColSpec, Schema

        self.correct = round(accuracy * ROWS)
        self.metadata = Model(signature=ModelSignature(inputs=Schema([ColSpec("double", c) for c in COLUMNS]),
                                                        outputs=Schema([ColSpec("long")])))

    def predict(self, frame, params=None):
        truth = [i % 2 for i in frame.index]
        return [t if i < self.correct else 1 - t for i, t in zip(frame.index, truth)]


class Broken:
    metadata = None

    def predict(self, frame):
        raise ValueError("cannot score")


class StubRegistry:
    """Answers the reads gates make; anything else is a test bug. A version's model is right on the share of
    the hold-out its info's accuracy says (so the logged figure and the computed one agree unless a test
    gives the model separately: `models`)."""

    principal = "sp-test"

    def __init__(self, infos: dict[str, dict], model=None, models: dict | None = None):
        self.infos, self.model, self.models = infos, model, models or {}

    def model_info(self, name, version):
        info = self.infos[version]
        if isinstance(info, Exception):
            raise info
        return info

    def load_pyfunc(self, name, version):
        if version in self.models:
            return self.models[version]
        if self.model is not None:
            return self.model
        accuracy = (self.infos[version].get("metrics") or {}).get("accuracy")
        return AccuracyModel(accuracy if accuracy is not None else 0.5)


def version(number: str, tags: dict | None = None) -> ModelVersion:
    return ModelVersion(name="staging.ml.churn", version=number, tags={**LINEAGE, **_code_lineage(), **(tags or {})})


def _code_lineage() -> dict[str, str]:
    # The lineage gate's tags, at the session's clean commit (git_commit too: LINEAGE's own is a fake id).
    if not _CODE:
        _CODE.update({k: v for k, v in clean_lineage().items() if k not in ("git_repository", "training_run", "git_author")})
    return _CODE


_CODE: dict[str, str] = {}


def info(accuracy: float | None = 0.9, signature=SIGNATURE, example=EXAMPLE) -> dict:
    return {"signature": signature, "input_example": example,
            "metrics": {} if accuracy is None else {"accuracy": accuracy}}


def context(envs, env="staging", candidate_info=None, champion_info=None, tags=None, model=None, models=None,
            tables=None) -> GateContext:
    infos = {"2": candidate_info or info()}
    champion = None
    if champion_info is not None:
        infos["1"], champion = champion_info, version("1")
    return GateContext(envs, envs[env], StubRegistry(infos, model, models), version("2", tags), champion,
                       tables=tables or StubTables())


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
    results = run_gates(gates_for(envs["staging"], "churn"), context(envs, champion_info=info(0.89)))
    assert failing(results) == set()
    assert [r.gate_id for r in results] == ["lineage", "required_tags", "signature", "metric_threshold:accuracy",
                                            "no_regression:accuracy", "smoke_inference", "serving_smoke"]


def test_poor_candidate_fails_exactly_the_metric_gates_and_says_why(envs):
    results = run_gates(gates_for(envs["staging"], "churn"), context(envs, candidate_info=info(0.66), champion_info=info(0.89)))
    assert failing(results) == {"metric_threshold:accuracy", "no_regression:accuracy"}
    by_id = {r.gate_id: r for r in results}
    assert by_id["metric_threshold:accuracy"].message == (
        "accuracy 0.66 is below the minimum 0.8 (staging.features.churn_validation v3, 200 rows, computed by sp-test; "
        "the training run claims 0.66)")
    assert "worse than champion v1's 0.89 by 0.23" in by_id["no_regression:accuracy"].message
    assert by_id["no_regression:accuracy"].details["champion_version"] == "1"


def test_the_figures_are_the_targets_a_logged_claim_never_decides(envs):
    """The forged-metric case at the gate: the run claims 0.97, the model is right on 0.64 of the target's rows."""
    gates = [g for g in envs["staging"].promotion.gates if g.type in ("metric_threshold", "no_regression")]
    ctx = context(envs, candidate_info=info(0.97), champion_info=info(0.89), models={"2": AccuracyModel(0.64)})
    results = run_gates(gates, ctx)
    assert failing(results) == {"metric_threshold:accuracy", "no_regression:accuracy"}
    threshold = results[0]
    assert threshold.details["value"] == 0.64 and threshold.details["claimed"] == 0.97
    assert threshold.message.startswith("accuracy 0.64 is below the minimum 0.8") and "claims 0.97" in threshold.message
    # ... and the other way round: a genuine model is not kept out by a champion whose run claims more.
    ctx = context(envs, candidate_info=info(0.85), champion_info=info(0.99), models={"1": AccuracyModel(0.70)})
    assert failing(run_gates(gates, ctx)) == set()
    assert ctx.evaluation_tags(ctx.candidate)["lakegate.eval.accuracy"] == "0.8500"


@pytest.mark.parametrize("accuracy, passed", [(0.80, True), (0.795, False)])
def test_metric_threshold_bound_is_inclusive(envs, accuracy, passed):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "metric_threshold")
    result = run_gate(gate, context(envs, candidate_info=info(accuracy)))
    assert result.passed is passed


def test_without_the_targets_validation_table_the_metric_gates_fail_closed_naming_the_job(envs):
    gates = [g for g in envs["staging"].promotion.gates if g.type in ("metric_threshold", "no_regression")]
    results = run_gates(gates, context(envs, champion_info=info(0.89), tables=StubTables(None)))
    assert failing(results) == {"metric_threshold:accuracy", "no_regression:accuracy"}
    assert results[0].message == (
        "staging has no validation table staging.features.churn_validation: run staging's feature-refresh job "
        "(python main.py run feature-refresh --env staging); the metric gates judge only on staging's own data")


@pytest.mark.parametrize("candidate, champion, passed", [
    (0.87, 0.89, True),     # within the 0.02 tolerance
    (0.86, 0.89, False),    # beyond it
    (0.95, 0.89, True),     # better
])
def test_no_regression_uses_the_tolerance(envs, candidate, champion, passed):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "no_regression")
    assert run_gate(gate, context(envs, candidate_info=info(candidate), champion_info=info(champion))).passed is passed


def test_no_regression_without_champion_passes_and_with_a_champion_it_cannot_evaluate_fails_closed(envs):
    gate = next(g for g in envs["staging"].promotion.gates if g.type == "no_regression")
    assert run_gate(gate, context(envs)).passed
    result = run_gate(gate, context(envs, champion_info=info(0.9), models={"1": Broken()}))
    assert not result.passed and result.message.startswith("champion v1 cannot be evaluated: v1 cannot be evaluated")


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

    class Short(AccuracyModel):
        def __init__(self):
            super().__init__(1.0)

        def predict(self, frame, params=None):
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


DIGEST = "ab" * 32


class SignedRegistry(StubRegistry):
    """Also answers artifact_digest (what the approval gate recomputes)."""

    def __init__(self, infos, model=None, digest=DIGEST):
        super().__init__(infos, model)
        self.digest = digest

    def artifact_digest(self, name, version):
        return self.digest


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from .local_registry_fixtures import new_ssh_key

    folder = tmp_path_factory.mktemp("keys")
    return {who: new_ssh_key(folder, who.split("@")[0]) for who in
            ("head.of.ml@contoso.com", "sam.okafor@contoso.com", "mallory@contoso.com")}


@pytest.fixture(scope="module")
def signed_envs(envs, keys):
    """prod with head.of.ml and sam.okafor enrolled (only head.of.ml is in ml-approvers)."""
    approval = {"required": True, "approvers": ["ml-approvers"],
                "signers": [{"identity": who, "key": keys[who][1]} for who in ("head.of.ml@contoso.com",
                                                                              "sam.okafor@contoso.com")]}
    promotion = envs["prod"].promotion.model_dump(by_alias=True)
    return variant(envs, "prod", promotion={**promotion, "approval": approval})


def signed_tags(who, keys, *, version="2", digest=DIGEST, env="prod", model="staging.ml.churn", by=None):
    from lakegate.promotion.approval import SSH, ApprovalRecord, record_tags, statement
    from lakegate.promotion.signing import compact, sign

    at = "2026-05-01T09:30:00Z"
    armored = sign(keys[who][0], statement(env, model, version, digest, by or who, at))
    return record_tags(ApprovalRecord(SSH, by or who, at, digest, compact(armored)))


def approval_ctx(envs, tags, promoters=(), digest=DIGEST):
    ctx = context(envs, "prod", tags={"git_author": "ana.silva@contoso.com", **tags})
    ctx.registry = SignedRegistry(ctx.registry.infos, digest=digest)
    ctx.promoters = frozenset(promoters)
    return ctx


def test_prod_approval_is_a_verified_signature_by_an_enrolled_member_of_the_approver_group(signed_envs, keys):
    approval = next(g for g in gates_for(signed_envs["prod"], "churn") if g.type == "approval")

    def judge(tags, **kwargs):
        return run_gate(approval, approval_ctx(signed_envs, tags, **kwargs))

    assert "no approval recorded for v2" in judge({}).message
    # A tag naming the approver, written by any principal, is not an approval.
    forged = judge({registry_tags.APPROVED_BY: "head.of.ml@contoso.com"})
    assert not forged.passed and "a lakegate.approved_by tag naming head.of.ml@contoso.com is not an approval" in forged.message
    good = judge(signed_tags("head.of.ml@contoso.com", keys))
    assert good.passed and good.message == "approved by head.of.ml@contoso.com (signature verified)"
    assert good.details["artifacts_sha256"] == DIGEST
    cases = {
        "enrolled, not in the group": (signed_tags("sam.okafor@contoso.com", keys),
                                       "sam.okafor@contoso.com is not a member of the approver group(s) ml-approvers"),
        "not enrolled": (signed_tags("mallory@contoso.com", keys), "mallory@contoso.com is not an enrolled approver"),
        "signed by another key": (signed_tags("mallory@contoso.com", keys, by="head.of.ml@contoso.com"),
                                  "the signature does not verify for head.of.ml@contoso.com"),
        "replayed from v1": (signed_tags("head.of.ml@contoso.com", keys, version="1"), "does not verify"),
        "replayed from staging": (signed_tags("head.of.ml@contoso.com", keys, env="staging"), "does not verify"),
        "other files": (signed_tags("head.of.ml@contoso.com", keys, digest="cd" * 32),
                        "the approval is for artifacts cdcdcdcdcdcd…, but v2's files are abababababab…"),
        "a service principal": (signed_tags("head.of.ml@contoso.com", keys, by="sp-lakegate-staging"),
                                "sp-lakegate-staging is the service principal of staging"),
        "a look-alike (Cyrillic s)": (signed_tags("head.of.ml@contoso.com", keys, by="\u0455p-lakegate-prod"),
                                      "contains the non-ASCII character 'ѕ' (U+0455 CYRILLIC SMALL LETTER DZE)"),
        "a zero-width space": (signed_tags("head.of.ml@contoso.com", keys, by="head.of.ml\u200b@contoso.com"),
                               "contains the invisible character U+200B (ZERO WIDTH SPACE)"),
    }
    for case, (tags, message) in cases.items():
        result = judge(tags)
        assert not result.passed and message in result.message, (case, result.message)
    # The files changed after the approval: the recomputed digest no longer matches.
    changed = judge(signed_tags("head.of.ml@contoso.com", keys), digest="ef" * 32)
    assert not changed.passed and "but v2's files are efefefefefef…" in changed.message


def test_four_eyes_the_approver_is_neither_the_promoter_nor_the_commit_author(signed_envs, keys):
    approval = next(g for g in gates_for(signed_envs["prod"], "churn") if g.type == "approval")
    tags = signed_tags("head.of.ml@contoso.com", keys)
    by_promoter = run_gate(approval, approval_ctx(signed_envs, tags, promoters=["Head.Of.ML"]))
    assert not by_promoter.passed and "head.of.ml@contoso.com promoted staging.ml.churn v2 (as Head.Of.ML)" in by_promoter.message
    tagged = run_gate(approval, approval_ctx(signed_envs, {**tags, registry_tags.PROMOTER: "head.of.ml@contoso.com"}))
    assert not tagged.passed and "the approver must be someone else" in tagged.message
    by_author = run_gate(approval, approval_ctx(signed_envs, {**tags, "git_author": "head.of.ml@contoso.com"}))
    assert not by_author.passed and "head.of.ml@contoso.com wrote commit " in by_author.message
    unknown = approval_ctx(signed_envs, tags)
    unknown.candidate = ModelVersion(unknown.candidate.name, "2", tags={k: v for k, v in unknown.candidate.tags.items()
                                                                          if k != "git_author"})
    result = run_gate(approval, unknown)
    assert not result.passed and "that built v2 is unknown" in result.message


def test_service_principal_look_alikes_never_count_even_when_any_person_may_approve(signed_envs, keys):
    from lakegate.promotion.approval import approver_problem

    promotion = signed_envs["prod"].promotion.model_dump(by_alias=True)
    anyone = variant(signed_envs, "prod", promotion={**promotion, "approval": {
        **promotion["approval"], "approvers": [],
        "signers": promotion["approval"]["signers"] + [{"identity": "sp-lakegate-pr0d@contoso.com", "key": keys["mallory@contoso.com"][1]}]}})
    prod = anyone["prod"]
    assert approver_problem(anyone, prod, "sam.okafor@contoso.com") is None           # any enrolled person
    assert approver_problem(anyone, prod, "sp-lakegate-pr0d@contoso.com") == (
        "sp-lakegate-pr0d@contoso.com looks like sp-lakegate-prod, the service principal of prod; refused")
    assert "invisible character U+200B" in approver_problem(anyone, prod, "sp-lakegate\u200b-prod")
    assert "not in its plain form" in approver_problem(anyone, prod, "ｓａｍ.okafor@contoso.com")
    assert approver_problem(anyone, prod, "SP-LAKEGATE-STAGING") == (
        "SP-LAKEGATE-STAGING is the service principal of staging; approvals must come from a person")


def test_required_approval_implies_an_approval_gate_even_when_not_listed(envs):
    changed = variant(envs, "staging", promotion={"from": "dev", "gates": [], "approval": {"required": True}})
    assert [g.type for g in gates_for(changed["staging"], "churn")] == ["lineage", "approval"]
    assert [g.type for g in gates_for(envs["staging"], "churn")] == [
        "lineage", "required_tags", "signature", "metric_threshold", "no_regression", "smoke_inference", "serving_smoke"]
    assert [g.type for g in gates_for(envs["prod"], "churn")].count("approval") == 1
