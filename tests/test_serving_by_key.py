"""Serving by key (`models.<name>.serving.lookup: by_key`): the whole local path on the REAL local registry — dev's
feature-refresh job writes the feature table (and records the publish step), the train job logs the model with
its feature lookup, `serve`'s ChampionServer answers `{"dataframe_records": [{"customer_id": ...}]}` from the
feature table as the serving principal — then what is refused (missing key: 404; bad key type, missing key
field, key mixed with features: 400; a principal without SELECT: 403 and no start) and what the
`<env>-databricks` stack synthesizes for the endpoint's online lookups."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakegate.infra.loader import load_environments
from lakegate.promotion.local_access import derive_local_plan

from .helpers import copy_examples
from .local_registry_fixtures import running_local_registry



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """dev's churn: feature refresh, training, and its endpoint serving by key on loopback."""
    from lakegate.pipelines.runner import run_job
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.pipelines.serving.server import ChampionServer

    folder = copy_examples(tmp_path_factory.mktemp("by-key-environments"))
    envs = load_environments(folder)
    with running_local_registry(tmp_path_factory.mktemp("by-key") / "state", derive_local_plan(envs)) as registry:
        runs = {}
        for job, overrides in (("churn-feature-refresh", {}), ("churn-train", {"epochs": "3"})):
            runs[job] = run_job(envs, "dev", job, state_dir=registry.state_dir, echo=False, overrides=overrides)
            assert runs[job].error is None, runs[job].error
        runtime = LocalRuntime(envs, "dev", registry.state_dir)
        runtime.echo = False
        server = ChampionServer(runtime, "churn", log_requests=False, refresh_seconds=60)
        url = server.start()
        http = requests.Session()
        http.trust_env = False
        try:
            yield {"envs": envs, "registry": registry, "runs": runs, "server": server, "url": url, "http": http,
                   "table": runtime.tables.read("features.churn_features")}
        finally:
            server.stop()


def post(world, body) -> requests.Response:
    return world["http"].post(world["url"], json=body, timeout=30)


def test_the_model_is_logged_with_its_feature_lookup(world):
    served = world["server"].app.current
    spec = served.lookup_spec
    assert spec is not None and (spec.table, spec.key, spec.key_type) == ("features.churn_features", "customer_id",
                                                                          "string")
    assert spec.feature_names == served.columns  # exactly the features the signature names: no key, no label
    tags = world["registry"].adapter("sp-lakegate-dev").get_version("dev.ml.churn", served.version).tags
    assert json.loads(tags["feature_lookup"])["lookup_key"] == ["customer_id"]


def test_the_feature_refresh_records_the_publish_to_the_online_store(world):
    task = world["runs"]["churn-feature-refresh"].tasks[0]
    assert task.values["online_table"] == "dev.features.churn_features_online"
    assert any("online store lakegate-dev-features" in message for message in task.messages)


def test_a_request_by_key_answers_what_the_full_row_scores(world):
    table, columns = world["table"], world["server"].app.current.columns
    rows = table.sample(5, random_state=3)
    by_key = post(world, {"dataframe_records": [{"customer_id": k} for k in rows["customer_id"]]})
    full = post(world, {"dataframe_split": {"columns": list(columns), "data": rows[list(columns)].values.tolist()}})
    assert by_key.status_code == 200 and full.status_code == 200, (by_key.text, full.text)
    assert by_key.json()["predictions"] == full.json()["predictions"]
    expected = world["server"].app.current.model.predict(rows[list(columns)]).tolist()
    assert by_key.json()["predictions"] == expected
    assert by_key.headers["x-lakegate-model-version"] == world["server"].version
    # the same key twice, and the key-only dataframe_split form
    key = rows["customer_id"].iloc[0]
    split = post(world, {"dataframe_split": {"columns": ["customer_id"], "data": [[key], [key]]}})
    assert split.status_code == 200 and split.json()["predictions"] == [expected[0]] * 2


def test_a_key_without_a_row_is_a_404_naming_it(world):
    known = world["table"]["customer_id"].iloc[0]
    answer = post(world, {"dataframe_records": [{"customer_id": known}, {"customer_id": "nobody-000001"}]})
    assert answer.status_code == 404 and answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert answer.json()["message"] == ("no row in dev.features.churn_features for customer_id 'nobody-000001' "
                                        "(1 of 2 key(s))")


@pytest.mark.parametrize("records,message", [
    ([{"customer_id": 42}], "column customer_id: 42 in row 0 is not a string (the key customer_id is a string)"),
    ([{"customer_id": True}], "column customer_id: true in row 0 is not a string"),
    ([{"customer_id": None}], "column customer_id: null in row 0 is not a string"),
    ([{"customer_id": "dev-lan-000001"}, {}], "dataframe_records[1]: missing the key customer_id"),
    ([{"customer_id": "dev-lan-000001", "tenure_months": 3.0}],
     "dataframe_records[0]: a request by key gives only customer_id, not tenure_months"),
    (["dev-lan-000001", {"customer_id": "dev-lan-000001"}], "dataframe_records[0] must be an object"),
    ([{"customer_id": {"$gt": ""}}], 'column customer_id: {"$gt": ""} in row 0 is not a string'),
    ([{"customer_id": ["a", "b"]}], 'column customer_id: ["a", "b"] in row 0 is not a string'),
], ids=["number", "boolean", "null", "missing-field", "key-and-feature", "not-an-object", "object", "list"])
def test_a_malformed_request_by_key_is_a_400_naming_the_field(world, records, message):
    answer = post(world, {"dataframe_records": records})
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_INPUT", answer.text
    assert answer.json()["message"].startswith(message), answer.json()["message"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["customer_id", "tenure_months", "x"]), JSON, max_size=3),
                min_size=0, max_size=3))
def test_any_request_naming_the_key_gets_a_clean_answer_never_a_5xx(world, records):
    answer = post(world, {"dataframe_records": records})
    assert answer.status_code < 500, (records, answer.text)
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error_code", "message"} and answer.json()["message"]


def test_requests_by_features_keep_their_strict_check(world):
    answer = post(world, {"dataframe_records": [{"tenure_months": "3"}]})
    assert answer.status_code == 400 and "tenure_months" in answer.json()["message"]
    described = world["http"].get(world["url"].rsplit("/invocations", 1)[0], timeout=10).json()
    assert described["feature_lookup"] == {"table": "dev.features.churn_features", "key": "customer_id",
                                           "principal": "sp-lakegate-dev"}
    document = world["http"].get(world["url"].replace("/invocations", "/openapi.json"), timeout=10).json()
    operation = next(iter(document["paths"].values()))["post"]
    by_key = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"][-1]
    assert by_key["properties"]["dataframe_records"]["items"]["properties"] == {"customer_id": {"type": "string"}}
    assert {"403", "404", "503"} <= set(operation["responses"])


def test_a_principal_without_select_is_refused(world):
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.pipelines.serving.app import ServingApp
    from lakegate.pipelines.serving.lookup import KeyLookup
    from lakegate.pipelines.serving.server import ChampionServer, UvicornThread
    from lakegate.pipelines.tables import LocalTables
    from lakegate.promotion.registry import PermissionRefused

    envs, state = world["envs"], world["registry"].state_dir
    outsider = "crm-scoring"  # a consumer group: CAN_QUERY elsewhere, no grant on dev.features
    with pytest.raises(PermissionRefused, match="principal crm-scoring may not read on dev.features.churn_features"):
        ChampionServer(LocalRuntime(envs, "dev", state, principal=outsider), "churn", log_requests=False)
    # and per request, should the grant go while the endpoint runs
    lookup = KeyLookup(LocalTables(state / "lakehouse", envs, outsider, "dev"), "features.churn_features",
                       "customer_id")
    server = UvicornThread(ServingApp("outsider", world["server"].app.current, lookup=lookup))
    port = server.start()
    try:
        answer = world["http"].post(f"http://127.0.0.1:{port}/invocations", timeout=30,
                                    json={"dataframe_records": [{"customer_id": world["table"]["customer_id"][0]}]})
    finally:
        server.stop()
    assert answer.status_code == 403 and answer.json()["error_code"] == "PERMISSION_DENIED"
    assert "crm-scoring may not read on dev.features.churn_features (missing USE_CATALOG" in answer.json()["message"]


def test_lookup_by_key_is_declared_on_the_model_with_a_default_of_none(envs):
    from lakegate.infra.model.serving import online_store_name

    dev_churn = next(e for e in envs["dev"].endpoints if e.model == "churn")
    assert (dev_churn.feature_lookup.table, dev_churn.feature_lookup.key) == ("features.churn_features", "customer_id")
    assert next(e for e in envs["dev"].endpoints if e.model == "demand").feature_lookup is None  # the default
    refresh = envs["prod"].job("churn-feature-refresh").tasks[0].parameters
    assert (refresh["online_store"], refresh["online_table"]) == (online_store_name("prod"),
                                                                  "features.churn_features_online")
    assert "online_store" not in envs["prod"].job("demand-feature-refresh").tasks[0].parameters


def test_the_stack_has_the_online_store_the_refresh_publishes_to(stack):
    from .test_databricks_stack import one, resources, sp_application_id

    for env, replicas in (("dev", 0), ("staging", 0), ("prod", 1)):
        synthesized = stack(f"{env}-databricks")
        store = one(synthesized, "databricks_online_store", name=f"lakegate-{env}-features")
        assert (store["capacity"], store["read_replica_count"]) == ("CU_1", replicas)
        (address,) = synthesized["resource"]["databricks_online_store"]
        # least privilege: the service principal alone, CAN_USE (publishes synced tables), on this store by reference
        permissions = one(synthesized, "databricks_permissions",
                          database_instance_name=f"${{databricks_online_store.{address}.name}}")
        assert permissions["access_control"] == [{"permission_level": "CAN_USE",
                                                  "service_principal_name": sp_application_id(synthesized)}]
        assert synthesized["output"]["online_store"]["value"] == f"${{databricks_online_store.{address}.name}}"
        refresh = next(job for job in resources(synthesized, "databricks_job")
                       if job["name"].endswith("churn-feature-refresh"))
        arguments = refresh["task"][0]["spark_python_task"]["parameters"]
        assert f"--online_store={store['name']}" in arguments
        assert "--online_table=features.churn_features_online" in arguments
        # the legacy online tables are not used; the synced table is the refresh job's to create
        assert "databricks_online_table" not in synthesized["resource"]
        assert "databricks_database_synced_database_table" not in synthesized["resource"]


def test_no_store_without_a_model_served_by_key():
    from cdktn import App, TerraformStack

    from lakegate.infra.constructs.databricks.online_features import OnlineFeatures, OnlineFeaturesProps

    construct = OnlineFeatures(TerraformStack(App(), "bare"), "online", OnlineFeaturesProps("dev", "sp"), directory=None)
    assert construct.store is None and construct.store_name == "lakegate-dev-features"


def test_lg_serve_001_an_endpoint_by_key_needs_the_job_that_publishes_its_table(envs):
    from lakegate.infra.guardrails.packs import DEFAULT
    from lakegate.infra.guardrails.runner import check_environments

    from .test_databricks_rules import fired, with_model

    assert not any(tag.startswith("LG-SERVE-001") for tag in fired(check_environments(envs, rules=DEFAULT)))
    # staging's churn keeps serving by key but its feature refresh is switched off: nothing publishes the table
    jobs = {k: v.model_dump(exclude_unset=True) for k, v in envs["staging"].models["churn"].jobs.items()}
    jobs["feature-refresh"] = {**jobs["feature-refresh"], "enabled": False}
    report = check_environments(with_model(envs, "staging", "churn", jobs=jobs), rules=DEFAULT)
    assert fired(report) == {"LG-SERVE-001[endpoint=churn-staging,table=features.churn_features]"}
    (finding,) = report.findings
    assert finding.field_path == "models.churn.serving.lookup"
