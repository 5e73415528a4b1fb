"""Models as first-class definitions: each declared once per environment, its jobs derived and named after it,
its effective policy (own values over the environment's defaults) with the origin of each value."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakegate.infra.model.promotion import ChampionComparisonGate
from lakegate.pipelines import user_code

from .helpers import EXAMPLES, edit, line_of, problems_of

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy-0.1"


def test_each_model_gets_its_own_jobs_named_after_it(envs):
    assert [j.name for j in envs["prod"].jobs] == [
        "churn-feature-refresh", "churn-train", "churn-validate", "churn-deploy", "churn-batch-inference",
        "churn-monitoring", "demand-feature-refresh", "demand-train", "demand-validate", "demand-deploy",
        "demand-batch-inference"]
    # dev is where models are trained: nothing is promoted into it, so no deploy job follows a champion there
    assert "churn-deploy" not in [j.name for j in envs["dev"].jobs]
    monitoring = envs["prod"].job("churn-monitoring")
    assert monitoring.retrain_on_drift.job == "churn-train" and monitoring.retrain_on_drift.threshold == 0.2
    train = envs["prod"].job("demand-train")
    assert train.model == "demand" and train.tasks[0].parameters["model_code"] == "models/demand.py"
    assert {e.name: e.model for e in envs["prod"].endpoints} == {"churn": "churn", "demand": "demand"}
    assert {e.name for e in envs["staging"].endpoints} == {"churn-staging", "demand-staging"}


def test_the_effective_policy_names_where_each_value_came_from(envs):
    churn, demand = envs["prod"].policy("churn"), envs["prod"].policy("demand")
    prod = envs["prod"]
    assert churn.origins["gates"] == f"{prod.locate('promotion', 'gates')} (promotion.gates, environment default)"
    assert prod.locate("promotion", "gates").endswith(f"prod.yaml:{line_of(EXAMPLES / 'prod.yaml', r'^  gates:')}")
    assert demand.origins["gates"].endswith("(models.demand.gates)")
    assert [g.gate_id for g in demand.gates][:4] == ["required_tags", "signature", "metric_threshold:r2",
                                                     "metric_threshold:rmse"]
    assert churn.evaluation_table == "holdout.churn_validation" and demand.evaluation_table == "holdout.demand_validation"
    assert demand.metrics == ("rmse", "mae", "r2") and churn.task == "classification"
    assert churn.approval.required and churn.origins["approval"].endswith("(promotion.approval, environment default)")
    assert demand.origins["metrics"] == "lakegate default"
    assert envs["staging"].policy("churn").approval.required is False


def test_a_model_approval_overrides_the_environment_key_by_key(defs):
    edit(defs / "prod.yaml", "    code: models/demand.py\n", "    code: models/demand.py\n    approval: {approvers: [ml-engineers]}\n")
    from lakegate.infra.loader import load_environments

    prod = load_environments(defs)["prod"]
    demand, churn = prod.policy("demand"), prod.policy("churn")
    assert demand.approval.approvers == ["ml-engineers"] and demand.approval.required  # required kept from prod's
    assert demand.approval.signers == churn.approval.signers and churn.approval.approvers == ["ml-approvers"]
    assert "(models.demand.approval)" in demand.origins["approval"]


def test_no_regression_takes_the_direction_from_the_metric():
    assert ChampionComparisonGate(type="no_regression", metric="rmse").higher_is_better is False
    assert ChampionComparisonGate(type="no_regression", metric="r2").higher_is_better is True
    assert ChampionComparisonGate(type="no_regression", metric="accuracy").higher_is_better is True


def test_a_regression_cannot_inherit_classification_gates(defs):
    start = (defs / "staging.yaml").read_text().index("    # A regression is judged on regression metrics")
    text = (defs / "staging.yaml").read_text()
    end = text.index("    serving:", start)
    (defs / "staging.yaml").write_text(text[:start] + text[end:])
    problems = problems_of(defs)
    line = line_of(defs / "staging.yaml", r"^  demand:")
    assert any(p.startswith(f"environments/staging.yaml:{line}: models.demand: inherits promotion.gates[2] "
                            "(metric_threshold:accuracy), but accuracy is not a regression metric") for p in problems), problems


def test_a_gate_metric_must_fit_the_task(defs):
    edit(defs / "prod.yaml", "metric: r2, min: 0.7", "metric: accuracy, min: 0.7")
    (problem,) = problems_of(defs)
    assert "models.demand: gate metric_threshold:accuracy: 'accuracy' is not a regression metric (rmse, mae, r2)" in problem


def test_unknown_steps_and_model_code_outside_the_project_are_refused(defs):
    edit(defs / "dev.yaml", "      train: {moved_from: train,", "      trian: {moved_from: train,")
    edit(defs / "staging.yaml", "code: models/demand.py", "code: ../secrets/evil.py")
    problems = problems_of(defs)
    assert any("models.churn.jobs: unknown step 'trian' (did you mean train?)" in p for p in problems), problems
    assert any("models.demand.code: '../secrets/evil.py' is not a Python file of the project" in p for p in problems)


def test_a_job_address_cannot_be_claimed_twice(defs):
    edit(defs / "prod.yaml", "      validate: {moved_from: validate, cluster: {max_workers: 2}}",
         "      validate: {moved_from: train, cluster: {max_workers: 2}}")
    (problem,) = problems_of(defs)
    assert "would take the Terraform address of job 'churn-train' (moved_from 'train' is claimed twice)" in problem


def test_single_model_files_fail_with_a_located_migration_message():
    problems = problems_of(LEGACY)
    dev = line_of(LEGACY / "dev.yaml", r"^  models: \[churn\]")
    assert any(p.endswith(f"dev.yaml:{dev}: unity_catalog.models: models are declared in the top-level `models:` "
                          "section since lakegate 0.2, one entry per model with its task, code, features, label and "
                          "settings (its jobs `<model>-<step>` are derived): see README, \"Migrating a single-model file\"")
               or f"dev.yaml:{dev}: unity_catalog.models: models are declared" in p for p in problems), problems


def test_model_code_is_loaded_only_from_the_project(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "ok.py").write_text("def fit(frame, params):\n    return None, {}\n")
    outside = tmp_path / "outside.py"
    outside.write_text("raise SystemExit('ran code from outside the project')\n")
    (project / "models" / "link.py").symlink_to(outside)
    monkeypatch.setenv("LAKEGATE_PROJECT_ROOT", str(project))
    assert user_code.code_path("models/ok.py") == project / "models" / "ok.py"
    for bad, why in (("models/link.py", "not a Python file of the project"), ("../outside.py", "must be a path inside"),
                     (str(outside), "must be a path inside"), ("models/missing.py", "does not exist"),
                     ("models/../../outside.py", "must be a path inside")):
        with pytest.raises(user_code.UserCodeError, match=why):
            user_code.load(bad)
    (project / "models" / "nofit.py").write_text("x = 1\n")
    with pytest.raises(user_code.UserCodeError, match=r"defines no fit\(\)"):
        user_code.load("models/nofit.py")


def test_the_hold_out_split_is_stable_and_disjoint():
    from lakegate.pipelines.features.refresh_features import holdout_mask

    keys = [f"dev-{i:06d}" for i in range(3000)]
    mask = holdout_mask(keys, 1 / 3)
    assert 900 < mask.sum() < 1100
    assert (holdout_mask(keys[::-1], 1 / 3)[::-1] == mask).all()  # by key, whatever the order
    assert (holdout_mask(keys[:100], 1 / 3) == mask[:100]).all()   # a row never changes sides on a refresh


def test_regression_metrics_are_computed_by_the_target():
    import pandas as pd

    from lakegate.pipelines.evaluation import evaluate

    class Doubling:
        def predict(self, frame):
            return frame["x"] * 2

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.0, 6.0, 9.0]})
    figures = evaluate(Doubling(), frame, "y", ["x"], task="regression")
    assert set(figures) == {"rmse", "mae", "r2"}
    assert figures["mae"] == pytest.approx(0.25) and figures["rmse"] == pytest.approx(0.5)
    assert evaluate(Doubling(), frame, "y", ["x"], task="regression", metrics=["r2"]).keys() == {"r2"}


def test_serving_refuses_a_model_the_environment_does_not_serve(envs):
    from lakegate.pipelines.errors import PipelineError
    from lakegate.pipelines.serving.server import endpoint_of

    assert endpoint_of(envs["prod"], "demand") == ("demand", "monitoring.demand_payload")
    with pytest.raises(PipelineError, match="prod declares no serving endpoint for model fraud"):
        endpoint_of(envs["prod"], "fraud")
