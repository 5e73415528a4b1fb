"""The local lakehouse and the job plan, without a registry: real Delta tables (deltalake) under a state folder,
read and written as a principal through the grants the stacks deploy; the runner walking the deployed plan
(parameters, order, task values, conditions); drift and the retraining cooldown."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from lakegate.infra.constructs.databricks.job_plan import job_parameters, local_props, planned_tasks
from models import churn as data
from lakegate.pipelines.errors import MissingTable, UnknownJob
from lakegate.pipelines.monitoring.drift import psi
from lakegate.pipelines.parameters import ParameterProblem
from lakegate.pipelines.runner import run_job
from lakegate.pipelines.tables import LocalTables
from lakegate.promotion.registry import PermissionRefused


def tables(envs, root: Path, principal: str, workspace: str) -> LocalTables:
    return LocalTables(root / "lakehouse", envs, principal, workspace)


def test_each_environment_writes_its_own_catalog_and_nothing_else(envs, tmp_path):
    prod = tables(envs, tmp_path, "sp-lakegate-prod", "prod")
    version = prod.write("features.churn_features", data.landing("prod", 50))
    assert version == 0 and (tmp_path / "lakehouse/prod/features/churn_features/_delta_log").is_dir()
    assert prod.write("features.churn_features", data.landing("prod", 10), mode="append") == 1
    assert len(prod.read("prod.features.churn_features")) == 60 and prod.version("features.churn_features") == 1
    dev = tables(envs, tmp_path, "sp-lakegate-dev", "dev")
    with pytest.raises(PermissionRefused, match=r"^principal sp-lakegate-dev may not write on prod\.features\.churn_features$"):
        dev.write("prod.features.churn_features", data.landing("dev", 5))
    # dev's principal has no grant on prod's data (only its people do, read-only): refused, even to look.
    with pytest.raises(PermissionRefused, match="may not read on prod.features.churn_features"):
        dev.read("prod.features.churn_features")
    staging = tables(envs, tmp_path, "sp-lakegate-staging", "staging")
    with pytest.raises(PermissionRefused, match="principal sp-lakegate-staging may not create a table on dev.features.x"):
        staging.write("dev.features.x", data.landing("dev", 5))
    # The promotion path grants the source's models, never its tables.
    with pytest.raises(PermissionRefused, match="may not read on dev.features.churn_features"):
        staging.exists("dev.features.churn_features")


def test_dev_data_scientists_read_prod_features_read_only_through_the_binding(envs, tmp_path):
    tables(envs, tmp_path, "sp-lakegate-prod", "prod").write("features.churn_features", data.landing("prod", 20))
    ana = tables(envs, tmp_path, "ana.silva@contoso.com", "dev")       # a member of data-scientists
    assert len(ana.read("prod.features.churn_features")) == 20
    with pytest.raises(PermissionRefused, match="may not write on prod.features.churn_features") as refused:
        ana.write("prod.features.churn_features", data.landing("dev", 5), mode="append")
    assert "bound read-only to dev's workspace" in refused.value.detail
    with pytest.raises(PermissionRefused, match="may not read on prod.monitoring.churn_inference"):
        ana.read("prod.monitoring.churn_inference")                     # SELECT only on prod.features
    # The ML engineers read all of prod, from prod's workspace; staging's workspace is not bound to prod.
    assert len(tables(envs, tmp_path, "sam.okafor@contoso.com", "prod").read("prod.features.churn_features")) == 20
    with pytest.raises(PermissionRefused) as unbound:
        tables(envs, tmp_path, "sam.okafor@contoso.com", "staging").read("prod.features.churn_features")
    assert "not bound to staging's workspace" in unbound.value.detail


def test_a_missing_table_says_so(envs, tmp_path):
    dev = tables(envs, tmp_path, "sp-lakegate-dev", "dev")
    assert not dev.exists("features.churn_features") and dev.version("features.churn_features") is None
    with pytest.raises(MissingTable, match="table dev.features.churn_features does not exist"):
        dev.read("features.churn_features")
    with pytest.raises(ValueError, match="is not a table name"):
        dev.read("churn_features")


def test_the_local_runner_gets_the_deployed_jobs_parameters_and_arguments(envs):
    env = envs["prod"]
    job = env.job("churn-batch-inference")
    parameters = job_parameters(job, local_props(env))
    assert parameters == {"environment": "prod", "catalog": "prod", "model_name": "prod.ml.churn",
                          "output_table": "prod.predictions.churn_scores"}
    [score] = planned_tasks(job, local_props(env))
    assert (score.python_file, score.arguments) == ("pipelines/inference/score.py", (
        "--environment={{job.parameters.environment}}", "--catalog={{job.parameters.catalog}}",
        "--model_name={{job.parameters.model_name}}", "--output_table={{job.parameters.output_table}}",
        "--model_code=models/churn.py", "--task_type=classification", "--label=churned", "--feature_key=customer_id",
        "--model_alias=champion", "--features_table=features.churn_features",
        "--lakegate_environment=prod", "--lakegate_catalog=prod"))  # baked: a run-now override cannot change them
    monitoring = planned_tasks(env.job("churn-monitoring"), local_props(env))
    assert [(t.key, t.kind) for t in monitoring] == [
        ("unpack_inference_table", "python_file"), ("refresh_monitor", "notebook"),
        ("drift_above_threshold", "condition"), ("outside_cooldown", "condition"), ("retrain", "run_job")]
    assert monitoring[1].base_parameters["drift_threshold"] == "0.2" and monitoring[4].run_job == "churn-train"


def test_feature_refresh_runs_as_the_environments_principal_and_lands_its_own_customers(envs, tmp_path):
    run = run_job(envs, "staging", "churn-feature-refresh", state_dir=tmp_path, echo=False)
    assert run.ok and run.parameters["output_table"] == "staging.features.churn_features"
    staging = tables(envs, tmp_path, "sp-lakegate-staging", "staging")
    features, holdout = staging.read("features.churn_features"), staging.read("features.churn_validation")
    # staging's churn serves by key: the refresh also publishes the table to the online store (recorded locally)
    assert run.task("refresh_features").values == {"rows": len(features),
                                                   "online_table": "staging.features.churn_features_online"}
    assert len(features) + len(holdout) == 6000 and 1800 < len(holdout) < 2200   # a third of the keys
    assert set(data.FEATURES + [data.LABEL, data.ID]) == set(features.columns)
    assert not set(features[data.ID]) & set(holdout[data.ID])          # the hold-out is never trained on
    # Writing another environment's catalog is refused before any task runs (the CLI exits 4), not a traceback.
    with pytest.raises(ParameterProblem, match="crosses environments: staging writes only its own catalog") as refused:
        run_job(envs, "staging", "churn-feature-refresh", state_dir=tmp_path, echo=False,
                overrides={"output_table": "prod.features.churn_features"})
    assert refused.value.kind == "PERMISSION_REFUSED" and not (tmp_path / "lakehouse" / "prod").exists()
    with pytest.raises(UnknownJob, match="staging has no job 'nope'"):
        run_job(envs, "staging", "nope", state_dir=tmp_path)


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    baseline = data.landing("dev", 2000)
    assert psi(baseline["tenure_months"], data.landing("prod", 2000)["tenure_months"]) < 0.05
    assert psi(baseline["tenure_months"], data.shifted(baseline)["tenure_months"]) > 1
    assert psi(baseline["support_calls"], baseline["support_calls"]) == 0.0     # a discrete column, binned by value


def _served(envs, root: Path, frame: pd.DataFrame, when: datetime) -> None:
    """Inference rows as the unpacking task writes them (features, prediction, model version, timestamp)."""
    rows = frame[data.FEATURES].assign(prediction=0, model_version="1", timestamp=when, request_id="r")
    tables(envs, root, "sp-lakegate-dev", "dev").write("monitoring.churn_inference", rows, mode="append")


def test_monitoring_publishes_drift_and_the_cooldown_keeps_a_drifting_stream_from_retraining_in_a_loop(envs, tmp_path):
    dev = tables(envs, tmp_path, "sp-lakegate-dev", "dev")
    dev.write("features.churn_features", data.landing("dev", 1000))
    now = datetime.now(timezone.utc)
    _served(envs, tmp_path, data.landing("traffic", 200), now)
    calm = run_job(envs, "dev", "churn-monitoring", state_dir=tmp_path, echo=False)
    assert calm.ok and calm.task("refresh_monitor").values["drift"] < 0.3
    assert calm.task("drift_above_threshold").outcome == "false"
    assert [calm.task(k).status for k in ("outside_cooldown", "retrain")] == ["excluded", "excluded"]
    metrics = dev.read("monitoring.churn_inference_drift_metrics")
    assert set(data.FEATURES) <= set(metrics["column_name"]) and (metrics["drift_type"] == "BASELINE").all()

    # A drifting stream, while a retraining was triggered an hour ago: published, but nothing retrains.
    _served(envs, tmp_path, data.shifted(data.landing("traffic", 200)), now)
    dev.write("monitoring.churn_inference_retraining", pd.DataFrame([{
        "triggered_at": now - timedelta(hours=1), "drift": 0.9, "threshold": 0.3, "job": "train", "cooldown_hours": 24.0}]))
    drifting = run_job(envs, "dev", "churn-monitoring", state_dir=tmp_path, echo=False)
    values = drifting.task("refresh_monitor").values
    assert values["drift"] > 0.3 and values["in_cooldown"] == "true"
    assert drifting.task("drift_above_threshold").outcome == "true" and drifting.task("outside_cooldown").outcome == "false"
    assert drifting.task("retrain").status == "excluded"
    assert any("skipped until" in m for m in drifting.task("refresh_monitor").messages)
    assert len(dev.read("monitoring.churn_inference_retraining")) == 1   # no second trigger recorded


def test_unpacking_turns_payload_rows_into_inference_rows_once(envs, tmp_path):
    from lakegate.pipelines.monitoring.unpack_inference_table import unpack

    request = '{"dataframe_split": {"columns": ["tenure_months", "monthly_charges"], "data": [[1.0, 2.0], [3.0, 4.0]]}}'
    payload = pd.DataFrame([
        {"databricks_request_id": "a", "timestamp_ms": 1_700_000_000_000, "status_code": 200, "request": request,
         "response": '{"predictions": [1, 0]}', "request_metadata": {"model_version": "3"}},
        {"databricks_request_id": "b", "timestamp_ms": 1_700_000_000_001, "status_code": 400, "request": "{",
         "response": '{"error_code": "MALFORMED_REQUEST"}', "request_metadata": {"model_version": "3"}},
    ])
    rows = unpack(payload)
    assert rows[["tenure_months", "prediction", "model_version", "request_id"]].values.tolist() == [
        [1.0, 1, "3", "a"], [3.0, 0, "3", "a"]]
    assert unpack(payload, {"a"}) is None
    labelled = unpack(payload, label=data.LABEL)
    assert labelled[data.LABEL].isna().all()              # ground truth arrives later, if ever
