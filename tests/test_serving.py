"""The serving API over HTTP (the layer `python main.py serve` runs over MLflow's scoring server), with correct
and incorrect inputs, its payload log, a champion swap behind one URL, the serving_smoke gate; and, at the HTTP
boundary against tests/databricks_stub.py, what the deployment job does on Databricks (first config from the
YAML, version moves, rollout wait, a query) and how the target's gates read its validation table there (a SQL
warehouse)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from models import churn as data

from .databricks_stub import DatabricksStub, StubError

ROW = {"tenure_months": 12.0, "monthly_charges": 95.5, "support_calls": 3.0, "contract_monthly": 1.0, "num_products": 1.0}


def saved_model(folder: Path, seed: int):
    """A real churn model (the training pipeline's fit), saved and loaded as MLflow's pyfunc."""
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from lakegate.pipelines.training.train import fit

    fitted = fit(data.landing("dev", 800), "models/churn.py", label=data.LABEL, key=data.ID, seed=seed, epochs=5)
    example = fitted.x_train.head(3)
    mlflow.sklearn.save_model(fitted.model, str(folder), signature=infer_signature(example, fitted.model.predict(example)),
                              input_example=example, pip_requirements=["scikit-learn"])
    return mlflow.pyfunc.load_model(str(folder))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return saved_model(root / "v1", 7), saved_model(root / "v2", 8)


@pytest.fixture(scope="module")
def endpoint(models, envs, tmp_path_factory):
    """prod's endpoint `churn` serving v1 on a free loopback port, logging to prod's payload table."""
    from lakegate.pipelines.serving.app import Served, ServingApp
    from lakegate.pipelines.serving.payload_log import PayloadLog
    from lakegate.pipelines.serving.server import UvicornThread
    from lakegate.pipelines.tables import LocalTables

    tables = LocalTables(tmp_path_factory.mktemp("state") / "lakehouse", envs, "sp-lakegate-prod", "prod")
    log = PayloadLog(tables, "monitoring.churn_payload", interval=60)
    app = ServingApp("churn", Served.of("prod.ml.churn", "1", models[0]), on_request=log)
    server = UvicornThread(app)
    port = server.start()
    http = requests.Session()
    http.trust_env = False
    try:
        yield app, f"http://127.0.0.1:{port}/serving-endpoints/churn/invocations", http, log, tables
    finally:
        server.stop()
        log.close()


def test_correct_requests_in_every_format_mlflow_accepts(endpoint):
    _, url, http, _, _ = endpoint
    split = http.post(url, json={"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())] * 4}})
    assert split.status_code == 200 and len(split.json()["predictions"]) == 4
    assert split.headers["x-lakegate-model-version"] == "1"
    records = http.post(url, json={"dataframe_records": [ROW, {**ROW, "support_calls": 2}]})  # an int for a double
    assert records.status_code == 200 and records.json()["predictions"] in ([0, 0], [0, 1], [1, 0], [1, 1])
    csv = http.post(url, data=",".join(ROW) + "\n" + ",".join(map(str, ROW.values())), headers={"Content-Type": "text/csv"})
    assert csv.status_code == 200 and len(csv.json()["predictions"]) == 1
    same_as_mlflow = http.post(url.replace("/serving-endpoints/churn", ""), json={"dataframe_records": [ROW]})
    assert same_as_mlflow.status_code == 200  # MLflow's own path answers too


BAD = [
    ("wrong column", json.dumps({"dataframe_split": {"columns": ["tenure"] + list(ROW)[1:], "data": [list(ROW.values())]}}),
     "application/json", 400, "INVALID_INPUT", "missing column(s) tenure_months; unknown column(s) tenure"),
    ("wrong type", json.dumps({"dataframe_records": [{**ROW, "monthly_charges": "expensive"}]}), "application/json",
     400, "INVALID_INPUT", "column monthly_charges: 'expensive' in row 0 is not a number (double expected"),
    ("null", json.dumps({"dataframe_records": [ROW, {**ROW, "tenure_months": None}]}), "application/json", 400,
     "INVALID_INPUT", "column tenure_months: null in row 1 (the column is required)"),
    # What MLflow alone answers 500 (with a traceback in the log) or 200 (ignored, coerced): strict refuses it.
    ("not UTF-8", b'{"dataframe_records": [{"tenure_months": "\xff\xfe"}]}', "application/json", 400,
     "MALFORMED_REQUEST", "the body is not valid UTF-8 (byte 0xff at offset 42)"),
    ("unknown column", json.dumps({"dataframe_records": [{**ROW, "discount": 0.1}]}), "application/json", 400,
     "INVALID_INPUT", "dataframe_records[0]: unknown column(s) discount (expected: tenure_months, monthly_charges,"),
    ("true for a number", json.dumps({"dataframe_records": [{**ROW, "support_calls": True}]}), "application/json",
     400, "INVALID_INPUT", "column support_calls: true in row 0 is not a number (double expected"),
    ("a list for a number", json.dumps({"dataframe_split": {"columns": list(ROW), "data": [[[1.0]] + list(ROW.values())[1:]]}}),
     "application/json", 400, "INVALID_INPUT", "column tenure_months: [1.0] in row 0 is not a number"),
    ("missing column", json.dumps({"inputs": [{k: v for k, v in ROW.items() if k != "num_products"}]}),
     "application/json", 400, "INVALID_INPUT", "inputs[0]: missing column(s) num_products"),
    ("empty input", json.dumps({"dataframe_records": []}), "application/json", 400, "INVALID_INPUT",
     "dataframe_records is empty: send at least one row"),
    ("empty split", json.dumps({"dataframe_split": {"columns": list(ROW), "data": []}}), "application/json", 400,
     "INVALID_INPUT", "dataframe_split.data must be a non-empty list of rows"),
    ("NaN", '{"dataframe_records": [{"tenure_months": NaN}]}', "application/json", 400, "MALFORMED_REQUEST",
     "NaN is not a JSON number"),
    ("two input keys", json.dumps({"dataframe_records": [ROW], "inputs": [ROW]}), "application/json", 400,
     "INVALID_INPUT", "exactly one of"),
    ("CSV unknown column", "discount," + ",".join(ROW) + "\n0.1," + ",".join(map(str, ROW.values())), "text/csv", 400,
     "INVALID_INPUT", "the CSV header: unknown column(s) discount"),
    ("CSV word for a number", ",".join(ROW) + "\nmany," + ",".join(map(str, list(ROW.values())[1:])), "text/csv", 400,
     "INVALID_INPUT", "column tenure_months: 'many' in row 0 is not a number"),
    ("parquet garbage", "PAR1 not really", "application/vnd.apache.parquet", 400, "MALFORMED_REQUEST",
     "not a readable parquet file"),
    ("malformed JSON", '{"dataframe_records": [', "application/json", 400, "MALFORMED_REQUEST", "the body is not valid JSON"),
    ("empty body", "", "application/json", 400, "BAD_REQUEST", "empty request body"),
    ("wrong content type", json.dumps({"dataframe_records": [ROW]}), "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE",
     "Content-Type 'text/plain' is not supported"),
    ("no content type", json.dumps({"dataframe_records": [ROW]}), None, 415, "UNSUPPORTED_MEDIA_TYPE", "no Content-Type"),
    ("not an object", "[1, 2, 3]", "application/json", 400, "INVALID_INPUT", "not a list"),
    ("unknown key", json.dumps({"rows": [ROW]}), "application/json", 400, "INVALID_INPUT", "got keys: rows"),
    ("latin-1", json.dumps({"dataframe_records": [ROW]}), "application/json; charset=latin-1", 415,
     "UNSUPPORTED_MEDIA_TYPE", "only UTF-8"),
]


@pytest.mark.parametrize("body,content_type,status,code,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_incorrect_requests_get_a_clean_4xx_without_a_stack_trace(endpoint, body, content_type, status, code, message):
    _, url, http, _, _ = endpoint
    answer = http.post(url, data=body if isinstance(body, bytes) else body.encode(),
                       headers={"Content-Type": content_type} if content_type else {})
    assert answer.status_code == status and answer.headers["content-type"] == "application/json"
    payload = answer.json()
    assert set(payload) == {"error_code", "message"} and payload["error_code"] == code
    assert message in payload["message"], payload["message"]
    for leak in ("Traceback", "stack_trace", 'File "', "Failed to predict data"):
        assert leak not in answer.text


def test_what_it_serves_and_paths_it_does_not(endpoint):
    _, url, http, _, _ = endpoint
    info = http.get(url.rsplit("/invocations", 1)[0]).json()
    assert info["config"]["served_entities"][0]["entity_name"] == "prod.ml.churn" and info["state"]["ready"] == "READY"
    assert http.get(url).status_code == 405 and http.post(url + "x", json={}).status_code == 404
    assert http.get(url.split("/serving-endpoints")[0] + "/health").status_code == 200


def test_requests_and_responses_are_logged_to_the_payload_table_in_the_databricks_shape(endpoint):
    from lakegate.pipelines.monitoring.unpack_inference_table import unpack

    _, url, http, log, tables = endpoint
    http.post(url, json={"dataframe_records": [ROW, ROW]})
    http.post(url, data=b"{", headers={"Content-Type": "application/json"})
    log.flush()
    payload = tables.read("monitoring.churn_payload")
    assert {"databricks_request_id", "timestamp_ms", "date", "status_code", "execution_duration_ms", "request",
            "response", "served_entity_id", "request_metadata"} <= set(payload.columns)
    assert {200, 400} <= set(payload["status_code"]) and (payload["served_entity_id"].str.startswith("prod.ml.churn-")).all()
    rows = unpack(payload)
    assert len(rows) >= 2 and set(data.FEATURES) <= set(rows.columns) and set(rows["model_version"]) <= {"1", "2"}


def test_a_new_champion_is_swapped_in_behind_the_same_url(endpoint, models):
    from lakegate.pipelines.serving.app import Served

    app, url, http, _, _ = endpoint
    before = http.post(url, json={"dataframe_records": [ROW]})
    app.swap(Served.of("prod.ml.churn", "2", models[1]))
    after = http.post(url, json={"dataframe_records": [ROW]})
    assert (before.headers["x-lakegate-model-version"], after.headers["x-lakegate-model-version"]) == ("1", "2")
    assert after.status_code == 200
    app.swap(Served.of("prod.ml.churn", "1", models[0]))


def test_serving_smoke_gate_serves_the_candidate_over_http(envs, models):
    from lakegate.promotion.gates import GateContext, run_gate
    from lakegate.promotion.registry import ModelVersion

    class Registry:
        principal = "sp-lakegate-prod"

        def __init__(self, model, example):
            self.model, self.example = model, example

        def model_info(self, name, version):
            return {"input_example": self.example, "metrics": {}}

        def load_pyfunc(self, name, version):
            return self.model

    gate = next(g for g in envs["prod"].promotion.gates if g.type == "serving_smoke")
    example = {"columns": list(ROW), "data": [list(ROW.values())] * 3}
    candidate = ModelVersion("prod.ml.churn", "4")
    passed = run_gate(gate, GateContext(envs, envs["prod"], Registry(models[0], example), candidate, None))
    assert passed.passed and passed.details["predictions"] == 3 and passed.details["malformed_status"] == 400
    wrong = {"columns": ["tenure"], "data": [[1.0]]}
    failed = run_gate(gate, GateContext(envs, envs["prod"], Registry(models[0], wrong), candidate, None))
    assert not failed.passed and failed.message.startswith("the endpoint answered 400 to the input example")


# -- Databricks (stub) ------------------------------------------------------------------------------------------


class ServingStub(DatabricksStub):
    """Plus the invocations of an endpoint (answering one prediction per row of what it serves)."""

    def __init__(self):
        super().__init__()
        import re

        self.routes.append(("POST", re.compile("/serving-endpoints/(?P<endpoint>[^/]+)/invocations"), self._invoke))

    def _invoke(self, principal, endpoint, raw, **_):
        self._check(principal, "read", f"serving:{endpoint}")
        body = json.loads(raw)
        if not (self.endpoints.get(endpoint, {}).get("config") or {}).get("served_entities"):
            raise StubError(400, "BAD_REQUEST", f"endpoint {endpoint} serves nothing")
        rows = len(body.get("dataframe_split", {}).get("data") or body.get("dataframe_records") or [])
        return body, {"predictions": [0] * rows}


@pytest.fixture
def stub():
    with ServingStub() as s:
        s.add_token("tok-prod", "sp-lakegate-prod")
        s.grant("sp-lakegate-prod", "prod", "read", "write")
        s.grant("sp-lakegate-prod", "serving:churn", "read", "write")
        yield s


def workspace(stub):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    return WorkspaceClient(config=Config(host=stub.url, token="tok-prod"))


def test_the_first_champion_writes_the_endpoint_config_from_the_yaml_and_later_ones_move_the_version(stub, envs):
    from lakegate.promotion.databricks.serving import endpoint_settings, update_serving_endpoint

    stub.endpoints["churn"] = {"config": {"config_version": 1}, "state": {"ready": "NOT_READY", "config_update": "NOT_UPDATING"}}
    client = workspace(stub)
    first = update_serving_endpoint(client, "churn", "prod.ml.churn", "1", principal="sp-lakegate-prod",
                                    settings=endpoint_settings(envs["prod"], "churn"))
    assert first.updated and "first config written from the YAML" in first.detail
    sent = stub.calls("PUT", "/api/2.0/serving-endpoints/churn/config")[-1].body
    assert sent["served_entities"] == [{"name": "churn-1", "entity_name": "prod.ml.churn", "entity_version": "1",
                                        "workload_size": "Medium", "workload_type": "CPU", "scale_to_zero_enabled": False}]
    assert sent["traffic_config"] == {"routes": [{"served_entity_name": "churn-1", "traffic_percentage": 100}]}
    moved = update_serving_endpoint(client, "churn", "prod.ml.churn", "2", principal="sp-lakegate-prod")
    assert moved.updated and moved.previous_version == "1"
    sent = stub.calls("PUT", "/api/2.0/serving-endpoints/churn/config")[-1].body
    assert [(e["name"], e["entity_version"], e["workload_size"]) for e in sent["served_entities"]] == [("churn-2", "2", "Medium")]
    assert sent["traffic_config"]["routes"] == [{"served_entity_name": "churn-2", "traffic_percentage": 100}]


def test_an_endpoint_serving_nothing_without_settings_is_refused(stub):
    from lakegate.promotion.databricks.serving import update_serving_endpoint
    from lakegate.promotion.registry import RegistryError

    stub.add_endpoint("churn", [])
    with pytest.raises(RegistryError, match="serves nothing yet and no settings were given"):
        update_serving_endpoint(workspace(stub), "churn", "prod.ml.churn", "1")


def test_the_deployment_job_on_databricks_updates_waits_and_queries(stub, envs, monkeypatch):
    from lakegate.infra.constructs.databricks.job_plan import endpoints_parameter, local_props
    from lakegate.pipelines.deployment import update_endpoint

    stub.endpoints["churn"] = {"config": {"config_version": 1}, "state": {"ready": "NOT_READY", "config_update": "NOT_UPDATING"}}
    client = workspace(stub)

    class Registry:
        def __init__(self):
            self.client = client

        def model_info(self, name, version):
            return {"input_example": {"columns": list(ROW), "data": [list(ROW.values())] * 2}}

    class Runtime:
        principal, registry, messages = "sp-lakegate-prod", Registry(), []

        def log(self, message):
            self.messages.append(message)

    settings = json.loads(endpoints_parameter(envs["prod"].endpoints, local_props(envs["prod"])))[0]
    result = update_endpoint.deploy_on_databricks(Runtime(), "churn", "prod.ml.churn", "3", settings, timeout=5)
    assert result == {"endpoint": "churn", "served": "3", "queried": True, "predictions": 2}
    assert stub.calls("POST", "/serving-endpoints/churn/invocations")[-1].body["dataframe_split"]["columns"] == list(ROW)


def test_waiting_for_a_rollout_fails_when_it_failed(stub):
    from lakegate.promotion.databricks.serving import wait_until_served
    from lakegate.promotion.registry import RegistryError

    stub.add_endpoint("churn", [{"name": "churn-1", "entity_name": "prod.ml.churn", "entity_version": "1"}])
    stub.endpoints["churn"]["state"]["config_update"] = "UPDATE_FAILED"
    with pytest.raises(RegistryError, match="the rollout of prod.ml.churn version 2 failed"):
        wait_until_served(workspace(stub), "churn", "prod.ml.churn", "2", timeout_seconds=1, poll_seconds=0.01)


class WarehouseStub(ServingStub):
    """Plus a SQL warehouse answering the Statement Execution API over `frame` (JSON_ARRAY: every value a string)."""

    def __init__(self, frame):
        super().__init__()
        import re

        self.frame = frame
        self.routes += [("GET", re.compile("/api/2.0/sql/warehouses/?"), self._warehouses),
                        ("POST", re.compile("/api/2.0/sql/statements/?"), self._statement)]

    def _warehouses(self, principal, **_):
        self._check(principal, "read", "staging")
        return None, {"warehouses": [{"id": "wh-1", "name": "lakegate-staging"}]}

    def _statement(self, principal, raw, **_):
        self._check(principal, "read", "staging")
        body = json.loads(raw)
        statement = body["statement"]
        if "staging.features.churn_validation" not in statement:
            return body, {"statement_id": "s-1", "status": {"state": "FAILED", "error": {
                "message": f"[TABLE_OR_VIEW_NOT_FOUND] The table or view `{statement.split()[-1]}` cannot be found."}}}
        if statement.startswith("DESCRIBE HISTORY"):
            columns, rows = [("version", "LONG")], [["4"]]
        else:
            import pandas as pd

            columns = [(c, "DOUBLE" if pd.api.types.is_float_dtype(t) else "INT" if pd.api.types.is_integer_dtype(t)
                        else "STRING") for c, t in self.frame.dtypes.items()]
            rows = [[str(v) for v in row] for row in self.frame.itertuples(index=False)]
        schema = {"columns": [{"name": n, "type_name": t, "position": i} for i, (n, t) in enumerate(columns)]}
        return body, {"statement_id": "s-1", "status": {"state": "SUCCEEDED"}, "manifest": {"schema": schema},
                      "result": {"data_array": rows}}


def test_the_targets_gates_read_its_validation_table_through_its_sql_warehouse_on_databricks(envs, models):
    """`--registry databricks`: the metric gates run outside a cluster and read the target's hold-out through the
    environment's SQL warehouse, as the target's principal (pipelines/tables.py WarehouseTables)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    from lakegate.pipelines.errors import MissingTable
    from lakegate.pipelines.evaluation import evaluate
    from lakegate.pipelines.tables import WarehouseTables

    holdout = data.landing("staging", 400, "validation")
    with WarehouseStub(holdout) as stub:
        stub.add_token("tok-staging", "sp-lakegate-staging")
        stub.grant("sp-lakegate-staging", "staging", "read")
        client = WorkspaceClient(config=Config(host=stub.url, token="tok-staging"))
        tables = WarehouseTables(client, envs["staging"], "sp-lakegate-staging")
        frame = tables.read("features.churn_validation")
        assert tables.version("features.churn_validation") == 4 and not tables.exists("features.nope")
        with pytest.raises(MissingTable, match="TABLE_OR_VIEW_NOT_FOUND"):
            tables.read("features.nope")
        sent = stub.calls("POST", "/api/2.0/sql/statements")[0].body
        assert sent["warehouse_id"] == "wh-1" and sent["statement"] == "SELECT * FROM staging.features.churn_validation"
    assert frame.shape == holdout.shape and frame[data.FEATURES].dtypes.eq("float64").all()
    assert evaluate(models[0], frame, data.LABEL)["accuracy"] > 0.8
