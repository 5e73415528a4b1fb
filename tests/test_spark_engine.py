"""The Spark engine (`run --engine spark`) on a REAL local Spark session, one per test session (this file is one
pytest-xdist group: two cores hold one JVM, not four): Unity Catalog names over Spark's catalog, real Delta tables
(the Python data source over deltalake) shared with the local engine both ways, the grants
decided for the acting principal, tables created by their first writer, a located line for a schema nobody
created, batch scoring through mlflow.pyfunc.spark_udf of a model registered on the local registry, the notebook
task run cell by cell with dbutils, and the example lifecycle in dev on Spark up to the drift-triggered retraining."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from deltalake import DeltaTable

from models import churn as data
from lakegate.pipelines.errors import PipelineError
from lakegate.pipelines.runner import run_job
from lakegate.pipelines.runtime import SparkRuntime, using
from lakegate.pipelines.serving.payload_log import PayloadLog
from lakegate.pipelines.spark_engine import LocalSparkTables, MissingSchema, engine
from lakegate.pipelines.spark_notebook import Dbutils, NotebookError, run_notebook
from lakegate.pipelines.tables import LocalTables
from lakegate.promotion.registry import PermissionRefused

from .lifecycle_world import shared_world


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    return shared_world(request, tmp_path_factory)


@pytest.fixture(scope="module")
def spark_engine(world):
    return engine(world.state)      # the process's one session: started here, reused by every test and job run


def tables(world, spark_engine, principal: str, workspace: str) -> LocalSparkTables:
    return LocalSparkTables(spark_engine, world.state / "lakehouse", world.envs, principal, workspace)


def test_tables_are_named_in_three_parts_and_created_by_their_first_writer(world, spark_engine):
    prod = tables(world, spark_engine, "sp-lakegate-prod", "prod")
    assert not prod.exists("features.spark_first") and prod.version("features.spark_first") is None
    assert prod.write("features.spark_first", prod.from_pandas(data.landing("prod", 30))) == 0
    assert prod.write("prod.features.spark_first", prod.from_pandas(data.landing("prod", 5)), mode="append") == 1
    assert prod.full_name("features.spark_first") == "prod.features.spark_first"
    assert prod.read("prod.features.spark_first").count() == 35 and prod.version("features.spark_first") == 1
    # Spark's catalog holds the declared schema under its mapped name; the table is the Delta table at its path.
    assert spark_engine.spark.catalog.databaseExists("prod__features")
    assert prod.path("features.spark_first") == world.state / "lakehouse/prod/features/spark_first"
    assert prod.to_pandas(prod.read("features.spark_first"), limit=3).shape == (3, len(data.landing("prod", 1).columns))


def test_a_table_written_by_spark_is_a_delta_table_the_local_engine_reads_and_appends(world, spark_engine):
    spark = tables(world, spark_engine, "sp-lakegate-prod", "prod")
    local = LocalTables(world.state / "lakehouse", world.envs, "sp-lakegate-prod", "prod")
    frame = data.landing("prod", 40)
    assert spark.write("features.spark_to_local", spark.from_pandas(frame).repartition(3)) == 0
    assert spark.write("features.spark_to_local", spark.from_pandas(frame.head(10)), mode="append") == 1
    delta = DeltaTable(str(spark.path("features.spark_to_local")))
    assert delta.version() == 1 and [h["operation"] for h in delta.history()] == ["WRITE", "CREATE TABLE"]
    assert len(delta.file_uris()) >= 4          # each task's own file (3 + the append's), committed together
    read = local.read("features.spark_to_local")
    assert len(read) == 50 and list(read.columns) == list(frame.columns)
    by_id = read.drop_duplicates(data.ID).set_index(data.ID).sort_index()
    expected = frame.set_index(data.ID).sort_index()
    assert (by_id[data.FEATURES].to_numpy() == expected[data.FEATURES].to_numpy()).all()
    # The local engine appends with a new column (its mergeSchema); Spark reads the merged table, nulls before.
    assert local.write("features.spark_to_local", frame.head(5).assign(source="local"), mode="append") == 2
    back = spark.to_pandas(spark.read("features.spark_to_local"))
    assert len(back) == 55 and back["source"].isna().sum() == 50 and (back["source"] == "local").sum() == 5
    assert spark.version("features.spark_to_local") == 2


def test_a_table_written_by_the_local_engine_is_read_and_rewritten_by_spark(world, spark_engine):
    local = LocalTables(world.state / "lakehouse", world.envs, "sp-lakegate-prod", "prod")
    spark = tables(world, spark_engine, "sp-lakegate-prod", "prod")
    assert local.write("features.local_to_spark", data.landing("prod", 25)) == 0
    assert spark.exists("features.local_to_spark") and spark.version("features.local_to_spark") == 0
    frame = spark.read("features.local_to_spark")
    assert frame.count() == 25 and frame.columns == list(data.landing("prod", 1).columns)
    # Spark appends a new column: deltalake commits the added column as its own version, then the rows.
    assert spark.write("features.local_to_spark", spark.with_columns(frame.limit(4), batch="b2"), mode="append") == 2
    doubled = spark.read("features.local_to_spark")       # then overwrites the table with a frame read from it
    assert spark.write("features.local_to_spark", doubled.union(doubled)) == 3
    back = local.read("features.local_to_spark")
    assert len(back) == 58 and (back["batch"] == "b2").sum() == 8 and local.version("features.local_to_spark") == 3
    delta = DeltaTable(str(local.path("features.local_to_spark")))
    assert [h["operation"] for h in delta.history()] == ["WRITE", "WRITE", "ADD COLUMN", "WRITE"]
    assert len(DeltaTable(str(local.path("features.local_to_spark")), version=0).to_pandas()) == 25   # time travel
    # A write whose task fails (a value the table's column type cannot hold) commits nothing: no version, the
    # table's files and rows unchanged (a file another task finished after the failure is in no version).
    files = set(DeltaTable(str(local.path("features.local_to_spark"))).file_uris())
    bad = data.landing("prod", 30).astype({"tenure_months": "object"})
    bad.loc[7, "tenure_months"] = "many"
    with pytest.raises(Exception, match="many"):
        spark.write("features.local_to_spark", spark.from_pandas(bad).repartition(3), mode="append")
    assert local.version("features.local_to_spark") == 3 and len(local.read("features.local_to_spark")) == 58
    assert set(DeltaTable(str(local.path("features.local_to_spark"))).file_uris()) == files
    empty = spark.from_pandas(data.landing("prod", 3)).limit(0)             # an empty first write still creates it
    assert spark.write("features.spark_empty", empty) == 0 and len(local.read("features.spark_empty")) == 0


def test_grants_are_decided_for_the_acting_principal(world, spark_engine):
    tables(world, spark_engine, "sp-lakegate-prod", "prod").write(
        "features.spark_granted", spark_engine.spark.createDataFrame(data.landing("prod", 10)))
    sam = tables(world, spark_engine, "sam.okafor@contoso.com", "prod")   # ml-engineers: SELECT on prod, no MODIFY
    assert sam.read("features.spark_granted").count() == 10
    with pytest.raises(PermissionRefused, match=r"^principal sam\.okafor@contoso\.com may not write on "
                                                r"prod\.features\.spark_granted$") as refused:
        sam.write("features.spark_granted", sam.from_pandas(data.landing("prod", 2)), mode="append")
    assert "MODIFY on prod.features.spark_granted" in refused.value.detail
    dev = tables(world, spark_engine, "sp-lakegate-dev", "dev")
    with pytest.raises(PermissionRefused, match="may not read on prod.features.spark_granted"):
        dev.read("prod.features.spark_granted")
    with pytest.raises(PermissionRefused, match="may not create a table on prod.features.spark_new"):
        dev.write("prod.features.spark_new", dev.from_pandas(data.landing("dev", 2)))
    assert not (world.state / "lakehouse/prod/features/spark_new").exists()


def test_a_schema_nobody_created_is_a_located_line(world, spark_engine, capsys):
    dev = tables(world, spark_engine, "sp-lakegate-dev", "dev")
    with pytest.raises(MissingSchema, match=r"^schema dev\.nope does not exist: it is created by Terraform "
                                            r"\(unity_catalog\.schemas, .*dev\.yaml:\d+\)$"):
        dev.write("nope.churn_features", dev.from_pandas(data.landing("dev", 2)))
    code, out, err = world.cli(capsys, "run", "churn-feature-refresh", "--env", "dev", "--engine", "spark",
                               "--param", "output_table=dev.nope.churn_features")
    assert code == 6 and "Traceback" not in out + err and "failed in" in out and "on the spark engine" in out
    assert "schema dev.nope does not exist: it is created by Terraform (unity_catalog.schemas" in out + err
    code, out, err = world.cli(capsys, "run", "churn-feature-refresh", "--env", "dev", "--json")   # the default engine
    assert code == 0 and json.loads(out)["engine"] == "local", err


def test_notebooks_run_cell_by_cell_with_widgets_and_task_values(tmp_path):
    published: dict = {}
    notebook = tmp_path / "nb.py"
    notebook.write_text("# Databricks notebook source\nx = int(dbutils.widgets.get('rows'))\n\n"
                        "# COMMAND ----------\n\ndbutils.jobs.taskValues.set(key='double', value=x * 2)\n"
                        "dbutils.jobs.taskValues.set('upstream', dbutils.jobs.taskValues.get('score', 'rows'))\n")
    space = run_notebook(notebook, Dbutils({"rows": "21"}, published.__setitem__, {"score": {"rows": 7}}))
    assert published == {"double": 42, "upstream": 7} and space["x"] == 21 and "__file__" not in space
    with pytest.raises(NotebookError, match="InputWidgetNotDefined: no widget named 'rows'"):
        run_notebook(notebook, Dbutils({}, published.__setitem__))
    with pytest.raises(NotebookError, match="'v': set is not JSON serializable"):
        Dbutils({}, published.__setitem__).jobs.taskValues.set("v", {1})
    (tmp_path / "plain.py").write_text("print('hi')\n")
    with pytest.raises(NotebookError, match="not a Databricks notebook"):
        run_notebook(tmp_path / "plain.py", Dbutils({}, published.__setitem__))


def run_on_spark(world, env: str, job: str):
    result = run_job(world.envs, env, job, state_dir=world.state, echo=False, engine="spark")
    assert result.error is None, result.error
    return result


def _payload(rt, rows: int) -> None:
    """The endpoint's inference table (what serving logs on Databricks), drifted traffic, through SparkTables."""
    log = PayloadLog(rt.tables, "monitoring.churn_dev_payload", interval=3600)
    requests = data.shifted(data.landing("traffic", rows, "requests"))[data.FEATURES]
    for record in requests.to_dict("records"):
        log({"databricks_request_id": str(uuid.uuid4()), "client_request_id": "test", "timestamp_ms": int(time.time() * 1000),
             "status_code": 200, "execution_duration_ms": 3, "request": json.dumps({"dataframe_records": [record]}),
             "response": json.dumps({"predictions": [1]}), "served_entity_id": "dev.ml.churn-1",
             "request_metadata": {"endpoint_name": "churn-dev", "model_name": "dev.ml.churn", "model_version": "1"}})
    log.close()
    assert log.last_error is None and log.written == rows


def test_the_dev_lifecycle_runs_on_spark_up_to_the_drift_retraining(world, spark_engine, capsys):
    code, out, err = world.cli(capsys, "run", "churn-feature-refresh", "--env", "dev", "--engine", "spark", "--json")
    assert code == 0, err
    refreshed = json.loads(out)
    rows = refreshed["tasks"][0]["values"]["rows"]
    assert refreshed["engine"] == "spark" and 3500 < rows < 4500     # two thirds of the keys: the rest is the hold-out
    trained = run_on_spark(world, "dev", "churn-train")
    version = trained.task("train").values["model_version"]
    assert run_on_spark(world, "dev", "churn-validate").ok
    scored = run_on_spark(world, "dev", "churn-batch-inference").task("score")
    assert scored.values == {"model_version": version, "rows": rows}
    # spark_udf scored the registered model: its predictions are the model's own (loaded here, pandas).
    rt = SparkRuntime(world.envs, "dev", world.state)
    scores = rt.tables.to_pandas(rt.tables.read("predictions.churn_scores"))
    # The lakehouse is the local engine's too: this run's rows are the ones its model version wrote.
    scores = scores[scores["model_version"] == str(version)].sort_values(data.ID).reset_index(drop=True)
    model, _ = rt.load_model("dev.ml.churn", version=version)
    expected = model.predict(scores[data.FEATURES])
    assert len(scores) == rows and (scores["prediction"].to_numpy() == np.asarray(expected, dtype=float)).all()
    _payload(rt, 60)
    monitoring = run_on_spark(world, "dev", "churn-monitoring")
    tasks = {t.key: t for t in monitoring.tasks}
    assert tasks["unpack_inference_table"].values == {"rows": 60}
    assert tasks["refresh_monitor"].kind == "notebook" and tasks["refresh_monitor"].values["drift"] > 0.3
    assert tasks["refresh_monitor"].values["in_cooldown"] == "false"
    retrain = next(t for t in monitoring.tasks if t.kind == "run_job")
    assert retrain.status == "succeeded" and retrain.job_run.engine == "spark"
    assert int(retrain.job_run.task("train").values["model_version"]) == int(version) + 1
    again = run_on_spark(world, "dev", "churn-monitoring")      # inside the cooldown: nothing retrains
    assert again.task("refresh_monitor").values["in_cooldown"] == "true"
    assert next(t for t in again.tasks if t.kind == "run_job").status == "excluded"


def test_a_refused_notebook_widget_is_the_runners_one_line(world, spark_engine):
    from lakegate.pipelines.parameters import ParameterProblem

    # Typed parameters (pipelines/parameters.py): refused before the notebook, or any task, runs (exit 6).
    with pytest.raises(ParameterProblem, match="parameter min_rows='many': not an integer") as refused:
        run_job(world.envs, "dev", "churn-monitoring", state_dir=world.state, echo=False, engine="spark",
                overrides={"min_rows": "many"})
    assert refused.value.kind == "INVALID_REQUEST"


def test_the_runtime_in_a_notebook_publishes_through_dbutils(world, spark_engine):
    rt = SparkRuntime(world.envs, "dev", world.state, widgets={"a": "1"})
    with using(rt):
        rt.set_task_value("drift", 0.5)
        with pytest.raises(NotebookError, match="at most 48 KiB"):
            rt.set_task_value("big", "x" * 50_000)
    assert rt.task_values == {"drift": 0.5} and rt.dbutils.widgets.getAll() == {"a": "1"}
    assert isinstance(rt.tables, LocalSparkTables) and rt.engine_name == "spark"
    assert Path(rt.spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:")).name == "spark-warehouse"


def test_the_regression_models_jobs_run_on_spark(world, spark_engine):
    """demand (a regression: ridge on its own features) from its feature refresh to batch scoring on Spark: every
    task of dev's jobs runs on the Spark engine, churn's above and demand's here."""
    refreshed = run_on_spark(world, "dev", "demand-feature-refresh").task("refresh_features")
    rows = refreshed.values["rows"]
    trained = run_on_spark(world, "dev", "demand-train").task("train")
    version = trained.values["model_version"]
    assert run_on_spark(world, "dev", "demand-validate").ok
    scored = run_on_spark(world, "dev", "demand-batch-inference").task("score")
    assert scored.values == {"model_version": version, "rows": rows}
    rt = SparkRuntime(world.envs, "dev", world.state)
    model = world.envs["dev"].models["demand"]
    scores = rt.tables.to_pandas(rt.tables.read(model.batch.output_table))
    scores = scores[scores["model_version"] == str(version)]
    assert len(scores) == rows and scores["prediction"].between(-1e6, 1e6).all()  # a regression's numbers
    assert scores["prediction"].nunique() > rows // 10
