"""The lifecycle against the REAL local registry and real Delta tables (one server for the module): `run JOB --env`
as the CLI runs it (task values, --smoke, exit codes of bad input), batch scoring in prod, the promoted copy in prod
loaded by its Unity Catalog name, and `serve` as a process whose URL follows the champion while drift injected
into its traffic makes monitoring retrain once (prod's gates and approval decide; the cooldown holds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from models import churn as data
from lakegate.promotion.local import secret_file

from .lifecycle_world import shared_world

ROOT = Path(__file__).resolve().parent.parent
ROW = {"tenure_months": 12.0, "monthly_charges": 95.5, "support_calls": 3.0, "contract_monthly": 1.0, "num_products": 1.0}


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    """The shared registry with every catalog's features, and dev's model trained by the train job and promoted
    dev -> staging -> prod (signed)."""
    w = shared_world(request, tmp_path_factory)
    if "churn" not in w.ready:
        for env in ("dev", "staging", "prod"):
            w.run(env, "churn-feature-refresh")
        trained = w.run("dev", "churn-train").task("train").result
        assert w.promote("staging", trained.version).outcome == "champion"
        assert w.promote("prod").outcome == "approval_missing"
        w.approve("1")
        assert w.promote("prod").outcome == "champion"
        w.ready.add("churn")
    return w


def test_run_smoke_is_a_sample_one_epoch_and_registers_nothing(world, capsys):
    before = len(world.adapter("dev").list_versions("dev.ml.churn"))
    code, out, err = world.cli(capsys, "run", "churn-train", "--env", "dev", "--smoke", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["ok"] and {k: run["parameters"][k] for k in ("smoke_test", "smoke_sample_fraction", "smoke_epochs")} == \
        {"smoke_test": "true", "smoke_sample_fraction": "0.05", "smoke_epochs": "1"}
    [task] = run["tasks"]
    assert set(task["values"]) == {"accuracy", "f1", "roc_auc"}                       # no model_version: nothing was registered
    rows = len(world.tables("dev").read("features.churn_features"))
    sampled = len(world.tables("dev").read("features.churn_features").sample(frac=0.05, random_state=7))
    assert 150 < sampled < 250 and rows > 3000
    assert f"{sampled} rows (0.05 of the data), 1 epoch(s)" in task["messages"][0] and "nothing registered" in task["messages"][0]
    assert len(world.adapter("dev").list_versions("dev.ml.churn")) == before


BAD = [
    (("run", "nope", "--env", "dev"), 6, "dev has no job 'nope' (its jobs: churn-feature-refresh, churn-train,"),
    (("run", "churn-trian", "--env", "dev"), 6, "dev has no job 'churn-trian' (did you mean churn-train?) (its jobs: "),
    (("run", "churn-train", "--env", "nope"), 6, "unknown environment 'nope' (known: dev, staging, prod)"),
    (("run", "churn-train", "--env", "dev", "--param", "epochs"), 64, "--param 'epochs': expected NAME=VALUE"),
    (("run", "churn-train", "--env", "dev", "--param", "epochs=many"), 6, "parameter epochs='many': not an integer"),
    (("run", "churn-deploy", "--env", "prod", "--smoke"), 6, "job churn-deploy of prod has no smoke_test ("),
    (("run", "churn-feature-refresh", "--env", "dev", "--param", "output_table=prod.features.churn_features"), 4,
     "output_table='prod.features.churn_features' crosses environments: dev writes only its own catalog dev"),
    (("serve", "churn", "--env", "prod", "--port", "70000"), 6, "--port 70000: a port is 0 (a free one) to 65535"),
    (("serve", "fraud", "--env", "prod"), 6, "model fraud is not declared in "),
]


@pytest.mark.parametrize("args,code,message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_gets_a_located_error_and_its_exit_code_never_a_traceback(world, capsys, args, code, message):
    got, out, err = world.cli(capsys, *args)
    assert got == code and message in err, (got, err)
    assert "Traceback" not in out + err and "usage:" not in err


def test_batch_inference_in_prod_writes_scored_rows_with_the_version_and_a_timestamp(world, capsys):
    code, out, err = world.cli(capsys, "run", "churn-batch-inference", "--env", "prod", "--json")
    assert code == 0, err
    [task] = json.loads(out)["tasks"]
    champion = world.adapter("prod").get_version_by_alias("prod.ml.churn", "champion").version
    rows = len(world.tables("prod").read("features.churn_features"))
    assert task["values"] == {"model_version": champion, "rows": rows} and rows > 3000
    scored = world.tables("prod").read("predictions.churn_scores")
    assert len(scored) == rows and set(scored["model_version"]) == {champion}
    assert set(scored["prediction"]) <= {0, 1} and set(data.FEATURES) <= set(scored.columns)
    stamps = scored["timestamp"]
    assert (datetime.now(timezone.utc) - stamps.max().to_pydatetime()) < timedelta(minutes=5)
    with pytest.raises(Exception, match="may not write on prod.predictions.churn_scores"):
        world.tables("dev").write("prod.predictions.churn_scores", scored.head(1), mode="append")


def test_the_promoted_copy_in_prod_is_self_contained_and_loads_by_its_unity_catalog_name(world, monkeypatch):
    import mlflow.pyfunc
    from mlflow.models import Model

    copy = world.adapter("prod").get_version("prod.ml.churn", "1")
    staging = world.adapter("staging").get_version("staging.ml.churn", copy.tags["source_version"])
    dev = world.adapter("dev").get_version("dev.ml.churn", staging.tags["source_version"])
    folder = world.state / "artifacts" / copy.source.split(":/", 1)[1]
    for path in (p for p in folder.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for foreign in (staging.run_id, dev.run_id, "workspaces/dev", "workspaces/staging"):
            assert foreign.encode() not in content, (path.name, foreign)

    # What an MLflow client needs for Unity Catalog's spelling against the local registry (README).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", world.registry.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "lakegate://" + world.registry.url.split("://", 1)[1])
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "sp-lakegate-prod")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secret_file.user_password(world.state, "sp-lakegate-prod"))
    for name in ("MLFLOW_WORKSPACE", "MLFLOW_TRACKING_AUTH"):
        monkeypatch.delenv(name, raising=False)
    model = mlflow.pyfunc.load_model("models:/prod.ml.churn@champion")
    assert model.metadata.run_id == copy.run_id
    uri = "models:/prod.ml.churn@champion"
    assert list(Model.load(uri).load_input_example(uri).columns) == data.FEATURES   # through the registry: no workspace
    monkeypatch.setenv("MLFLOW_WORKSPACE", "prod")       # for run-relative references (runs:/, load_input_example())
    assert list(model.predict(data.landing("prod", 3)[data.FEATURES])) in ([0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1],
                                                                          [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1])
    example = Model.load("models:/prod.ml.churn@champion").load_input_example()   # a 403 before: it pointed into dev
    assert list(example.columns) == data.FEATURES


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


@pytest.fixture(scope="module")
def served(world):
    """`python main.py serve churn --env prod` as its own process, checking the alias every 0.2 s."""
    from lakegate.pipelines.serving.server import endpoint_of, read_record

    endpoint = endpoint_of(world.envs["prod"], "churn")[0]
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "churn", "--env", "prod", "--json",
                                "--refresh-seconds", "0.2", "--environments", str(world.folder), "--state-dir",
                                str(world.state)], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while (record := read_record(world.state, "prod", endpoint)) is None or record["pid"] != process.pid:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        http = requests.Session()
        http.trust_env = False
        yield record["url"], http
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ask(served, frame=None) -> requests.Response:
    url, http = served
    rows = frame if frame is not None else [ROW]
    body = {"dataframe_records": rows} if frame is None else \
        {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
    return http.post(url, json=body, timeout=30)


def until(condition, timeout: float = 20.0):
    """Poll a condition on another process's work (the served endpoint's alias check and payload log)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_serve_follows_the_champion_and_drift_in_its_traffic_retrains_once(world, served, capsys):
    first = ask(served)
    assert first.status_code == 200 and first.headers["x-lakegate-model-version"] == "1"
    bad = served[1].post(served[0], data=b'{"dataframe_records": [', headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "MALFORMED_REQUEST" and "Traceback" not in bad.text

    drifted = data.shifted(data.landing("traffic", 100, "requests"))[data.FEATURES]
    for start in range(0, 100, 10):
        assert ask(served, drifted.iloc[start:start + 10]).status_code == 200
    payload = "monitoring.churn_payload"
    until(lambda: world.tables("prod").exists(payload) and len(world.tables("prod").read(payload)) >= 12)

    code, out, err = world.cli(capsys, "run", "churn-monitoring", "--env", "prod", "--json")
    assert code == 0, err
    run = json.loads(out)
    tasks = {t["key"]: t for t in run["tasks"]}
    assert tasks["unpack_inference_table"]["values"] == {"rows": 101}
    assert tasks["refresh_monitor"]["values"]["drift"] > 0.2 and tasks["refresh_monitor"]["values"]["in_cooldown"] == "false"
    assert (tasks["drift_above_threshold"]["outcome"], tasks["outside_cooldown"]["outcome"]) == ("true", "true")
    retrain = tasks["retrain"]["job_run"]
    assert retrain["job"] == "churn-train" and retrain["tasks"][0]["values"]["model_version"] == "2"
    prod = world.adapter("prod")
    assert prod.get_version_by_alias("prod.ml.churn", "challenger").version == "2"      # gates ran: approval missing
    assert prod.get_version_by_alias("prod.ml.churn", "champion").version == "1"
    drift = world.tables("prod").read("monitoring.churn_inference_drift_metrics")
    assert set(data.FEATURES) <= set(drift["column_name"]) and drift["population_stability_index"].max() > 0.2

    world.approve("2")
    judged = world.run("prod", "churn-validate", model_version=2).task("validate").result["decision"]
    assert judged["outcome"] == "champion", judged
    until(lambda: ask(served).headers["x-lakegate-model-version"] == "2")          # same URL, no restart
    deployed = world.run("prod", "churn-deploy").task("update_endpoint").result          # the job MODEL_ALIAS_SET starts
    assert deployed == {"endpoint": "churn", "served": "2", "queried": True, "predictions": 5}   # the 5-row example

    again = world.run("prod", "churn-monitoring")
    assert again.task("refresh_monitor").values["in_cooldown"] == "true"
    assert again.task("outside_cooldown").outcome == "false" and again.task("retrain").status == "excluded"
    assert len(world.tables("prod").read("monitoring.churn_inference_retraining")) == 1
    assert sorted(v.version for v in prod.list_versions("prod.ml.churn")) == ["1", "2"]     # no second retraining
