"""UnityCatalogAdapter and the serving update, at the HTTP boundary against tests/databricks_stub.py.

The adapter runs unmodified through databricks-sdk's WorkspaceClient (PAT auth here; the Entra path
is covered in test_credentials.py); the stub records each request so the exact REST calls are asserted.
"""

from __future__ import annotations


import pandas as pd
import pytest
from databricks.sdk.core import Config

from tests.databricks_stub import DatabricksStub

from lakegate.promotion.databricks import UnityCatalogAdapter, update_serving_endpoint  # noqa: E402
from lakegate.promotion.registry import NotFound, PermissionRefused, RegistryError  # noqa: E402

UC = "/api/2.1/unity-catalog/models"
REG = "/api/2.0/mlflow/unity-catalog"
LINEAGE = {"git_commit": "0a1b2c3", "git_repo": "github.com/acme/churn", "training_run": "run-1"}


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, bytes]:
    """The files of a real MLflow sklearn model with signature and input example."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"tenure": [1.0, 5.0, 12.0, 30.0], "charges": [80.0, 60.0, 40.0, 20.0]})
    y = [1, 1, 0, 0]
    model = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("sk") / "model"
    mlflow.sklearn.save_model(model, str(path), signature=infer_signature(X, model.predict(X)),
                              input_example=X.head(2), pip_requirements=["scikit-learn"])  # skips slow inference
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.fixture
def stub():
    with DatabricksStub() as s:
        s.add_token("tok-staging", "sp-mlops-staging")
        s.add_token("tok-dev", "sp-mlops-dev")
        s.grant("sp-mlops-staging", "dev", "read")                 # reads the source...
        s.grant("sp-mlops-staging", "staging", "read", "write")    # ...writes only its own catalog
        s.grant("sp-mlops-staging", "serving:churn", "read", "write")
        s.grant("sp-mlops-dev", "dev", "read", "write")
        yield s


def adapter_for(stub: DatabricksStub, token: str, principal: str) -> UnityCatalogAdapter:
    return UnityCatalogAdapter(Config(host=stub.url, token=token), principal)


@pytest.fixture
def staging(stub) -> UnityCatalogAdapter:
    return adapter_for(stub, "tok-staging", "sp-mlops-staging")


@pytest.fixture
def dev_v1(stub, model_files) -> str:
    stub.runs["run-1"] = {"auc": 0.91, "accuracy": 0.87}
    return stub.add_version("dev.ml.churn", model_files, run_id="run-1", tags=LINEAGE)


def test_get_version_reads_tags_aliases_and_source(stub, staging, dev_v1):
    stub.models["dev.ml.churn"]["aliases"]["champion"] = 1
    mv = staging.get_version("dev.ml.churn", dev_v1)
    assert (mv.name, mv.version, mv.run_id, mv.status) == ("dev.ml.churn", "1", "run-1", "READY")
    assert mv.tags == LINEAGE and mv.aliases == ("champion",) and mv.source == "runs:/run-1/model"
    call = stub.calls("GET", f"{REG}/model-versions/get")[-1]
    assert call.query == {"name": "dev.ml.churn", "version": "1"}
    assert call.authorized and call.principal == "sp-mlops-staging"


def test_missing_version_is_not_found_and_forbidden_read_is_refused(stub, dev_v1):
    staging = adapter_for(stub, "tok-staging", "sp-mlops-staging")
    with pytest.raises(NotFound, match="dev.ml.churn version 9"):
        staging.get_version("dev.ml.churn", "9")
    stub.add_token("tok-prod", "sp-mlops-prod")   # prod has no grant on dev
    prod = adapter_for(stub, "tok-prod", "sp-mlops-prod")
    with pytest.raises(PermissionRefused) as refused:
        prod.get_version("dev.ml.churn", dev_v1)
    assert str(refused.value) == "principal sp-mlops-prod may not read model version on dev.ml.churn version 1"
    assert "EXECUTE" in refused.value.detail


def test_alias_lookup_list_and_find_by_tag(stub, staging, dev_v1, model_files):
    v2 = stub.add_version("dev.ml.churn", model_files, run_id="run-2", tags={**LINEAGE, "idem": "k2"})
    stub.models["dev.ml.churn"]["aliases"]["champion"] = 2
    assert staging.get_version_by_alias("dev.ml.churn", "champion").version == v2
    assert staging.get_version_by_alias("dev.ml.churn", "challenger") is None
    assert [v.version for v in staging.list_versions("dev.ml.churn")] == ["1", "2"]
    assert staging.list_versions("staging.ml.churn") == []          # no model yet: nothing to list
    assert staging.find_version_by_tag("dev.ml.churn", "idem", "k2").version == "2"
    assert staging.find_version_by_tag("dev.ml.churn", "idem", "k3") is None
    assert staging.find_version_by_tag("staging.ml.churn", "idem", "k2") is None


def test_copy_version_duplicates_files_into_a_new_target_version(stub, staging, dev_v1, model_files):
    source = staging.get_version("dev.ml.churn", dev_v1)
    stub.requests.clear()
    seen: list[tuple[int, int]] = []
    tags = {"promoted_from": "dev.ml.churn", "source_version": "1", "git_commit": "0a1b2c3", "idem": "k1"}
    new = staging.copy_version(source, "staging.ml.churn", tags, progress=lambda d, t: seen.append((d, t)))

    assert (new.name, new.version, new.status, new.tags) == ("staging.ml.churn", "1", "READY", tags)
    assert new.source == "models:/dev.ml.churn/1" and new.run_id == "run-1"
    # a real copy: the target version has its own files, byte for byte the source's
    assert stub.version_files("staging.ml.churn", "1") == model_files
    total = sum(len(b) for b in model_files.values())
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    # the REST conversation, in order (file transfers summarised)
    registry_calls = [(r.method, r.path) for r in stub.requests if not r.path.startswith(("/api/2.0/fs", "/_storage"))]
    assert registry_calls == [
        ("GET", f"{UC}/staging.ml.churn"),                 # 404: the target model does not exist yet
        ("POST", UC),
        ("GET", f"{UC}/staging.ml.churn/versions"),        # any copy left pending by a crash?
        ("POST", f"{REG}/model-versions/create"),
        ("POST", f"{REG}/model-versions/finalize"),
    ]
    assert stub.calls("POST", UC)[0].body == {"catalog_name": "staging", "schema_name": "ml", "name": "churn"}
    create = stub.calls("POST", f"{REG}/model-versions/create")[0].body
    assert create == {"name": "staging.ml.churn", "source": "models:/dev.ml.churn/1", "run_id": "run-1",
                      "tags": [{"key": k, "value": v} for k, v in tags.items()]}
    uploads = {r.path.removeprefix("/api/2.0/fs/files") for r in stub.calls("PUT", "/api/2.0/fs/files")}
    assert uploads == {f"/Models/staging/ml/churn/1/{rel}" for rel in model_files}
    assert all(r.principal == "sp-mlops-staging" for r in stub.requests if r.path.startswith("/api/"))


def test_copy_resumes_a_version_left_pending_by_a_crash(stub, staging, dev_v1, model_files):
    tags = {"promoted_from": "dev.ml.churn", "idem": "k1"}
    pending = stub.add_version("staging.ml.churn", {"MLmodel": model_files["MLmodel"]}, status="PENDING_REGISTRATION",
                               tags=tags, source="models:/dev.ml.churn/1")
    stub.requests.clear()
    new = staging.copy_version(staging.get_version("dev.ml.churn", dev_v1), "staging.ml.churn", tags)
    assert new.version == pending and new.status == "READY"
    assert list(stub.models["staging.ml.churn"]["versions"]) == [1]
    assert stub.version_files("staging.ml.churn", "1") == model_files
    assert stub.calls("POST", f"{REG}/model-versions/create") == []


def test_copy_into_a_catalog_the_principal_may_not_write_is_refused(stub, dev_v1):
    dev = adapter_for(stub, "tok-dev", "sp-mlops-dev")
    source = dev.get_version("dev.ml.churn", dev_v1)
    stub.grant("sp-mlops-dev", "staging", "read")
    with pytest.raises(PermissionRefused) as refused:
        dev.copy_version(source, "staging.ml.churn", {"idem": "k1"})
    assert str(refused.value) == "principal sp-mlops-dev may not create a registered model on staging.ml.churn"
    assert "staging.ml.churn" not in stub.models


def test_alias_moves_and_tags(stub, staging, model_files):
    for _ in range(2):
        stub.add_version("staging.ml.churn", model_files)
    staging.set_alias("staging.ml.churn", "champion", "1")
    staging.set_alias("staging.ml.churn", "champion", "2")      # moving = setting it again
    assert stub.calls("PUT", f"{UC}/staging.ml.churn/aliases/champion")[-1].body == {"version_num": 2}
    assert staging.get_version_by_alias("staging.ml.churn", "champion").version == "2"
    assert staging.get_version("staging.ml.churn", "1").aliases == ()
    staging.delete_alias("staging.ml.churn", "champion")
    staging.delete_alias("staging.ml.churn", "champion")       # already gone: no error
    assert staging.get_version_by_alias("staging.ml.churn", "champion") is None
    staging.set_version_tag("staging.ml.churn", "2", "gate.metric_threshold", "passed")
    assert stub.calls("POST", f"{REG}/model-versions/set-tag")[-1].body == {
        "name": "staging.ml.churn", "version": "2", "key": "gate.metric_threshold", "value": "passed"}
    assert staging.get_version("staging.ml.churn", "2").tags == {"gate.metric_threshold": "passed"}
    with pytest.raises(NotFound):
        staging.set_alias("staging.ml.churn", "champion", "7")
    with pytest.raises(PermissionRefused, match="may not set alias champion on dev.ml.churn"):
        staging.set_alias("dev.ml.churn", "champion", "1")


def test_model_info_and_load_pyfunc_read_the_logged_model(stub, staging, dev_v1, model_files):
    info = staging.model_info("dev.ml.churn", dev_v1)
    assert set(info) == {"signature", "input_example", "input_example_info", "flavors", "metrics"}
    assert [c["name"] for c in info["signature"]["inputs"]] == ["tenure", "charges"]
    assert info["input_example"] == {"columns": ["tenure", "charges"], "data": [[1.0, 80.0], [5.0, 60.0]]}
    assert info["flavors"] == ["python_function", "sklearn"]
    assert info["metrics"] == {"accuracy": 0.87, "auc": 0.91}
    # only MLmodel and the example were fetched, not the (possibly large) model weights
    fetched = {r.path.rsplit("/", 1)[-1] for r in stub.calls("GET", "/_storage")}
    assert "model.pkl" not in fetched and "MLmodel" in fetched

    model = staging.load_pyfunc("dev.ml.churn", dev_v1)
    example = pd.DataFrame(info["input_example"]["data"], columns=info["input_example"]["columns"])
    assert list(model.predict(example)) == [1, 1]

    stub.runs.clear()   # the training run lives in a workspace this one cannot see
    assert staging.model_info("dev.ml.churn", dev_v1)["metrics"] == {}


ENTITY = {"name": "churn-1", "entity_name": "staging.ml.churn", "entity_version": "1", "workload_size": "Small",
          "scale_to_zero_enabled": True, "state": {"deployment": "DEPLOYMENT_READY"}}


def test_serving_endpoint_moves_to_the_new_champion_keeping_its_settings(stub, staging):
    stub.add_endpoint("churn", [ENTITY], routes=[{"served_model_name": "churn-1", "traffic_percentage": 100}])
    result = update_serving_endpoint(staging.client, "churn", "staging.ml.churn", "2", principal=staging.principal)
    assert (result.updated, result.previous_version, result.version) == (True, "1", "2")
    sent = stub.calls("PUT", "/api/2.0/serving-endpoints/churn/config")[0].body
    assert sent == {"served_entities": [{"name": "churn-2", "entity_name": "staging.ml.churn", "entity_version": "2",
                                         "workload_size": "Small", "scale_to_zero_enabled": True}],
                    "traffic_config": {"routes": [{"served_model_name": "churn-2", "traffic_percentage": 100}]}}

    stub.endpoints["churn"]["config"]["served_entities"] = [{**ENTITY, "name": "churn-2", "entity_version": "2"}]
    again = update_serving_endpoint(staging.client, "churn", "staging.ml.churn", "2")
    assert not again.updated and "already serves" in again.detail


def test_serving_update_skips_a_missing_endpoint_and_refuses_foreign_ones(stub, staging):
    skipped = update_serving_endpoint(staging.client, "churn", "staging.ml.churn", "2")
    assert not skipped.updated and "does not exist yet" in skipped.detail
    stub.add_endpoint("churn", [{**ENTITY, "entity_name": "staging.ml.other"}])
    with pytest.raises(RegistryError, match="serves staging.ml.other v1, not staging.ml.churn"):
        update_serving_endpoint(staging.client, "churn", "staging.ml.churn", "2")
    stub.add_endpoint("fraud", [ENTITY])
    with pytest.raises(PermissionRefused, match="principal sp-mlops-staging may not read serving endpoint on fraud"):
        update_serving_endpoint(staging.client, "fraud", "staging.ml.churn", "2", principal="sp-mlops-staging")


def test_delete_version_drops_it_and_its_aliases(stub, staging, model_files):
    dev = adapter_for(stub, "tok-dev", "sp-mlops-dev")
    for _ in range(2):
        stub.add_version("staging.ml.churn", model_files)
    staging.set_alias("staging.ml.churn", "challenger", "2")
    staging.delete_version("staging.ml.churn", "2")
    assert stub.calls("DELETE", f"{UC}/staging.ml.churn/versions/2")
    assert [v.version for v in staging.list_versions("staging.ml.churn")] == ["1"]
    assert staging.get_version_by_alias("staging.ml.churn", "challenger") is None
    with pytest.raises(NotFound):
        staging.delete_version("staging.ml.churn", "2")
    with pytest.raises(PermissionRefused, match="principal sp-mlops-dev may not delete version 1 on staging.ml.churn"):
        dev.delete_version("staging.ml.churn", "1")


def test_the_audit_anchor_is_a_registered_model_tag_only_the_owner_writes(stub, staging, dev_v1, model_files):
    source = staging.get_version("dev.ml.churn", dev_v1)
    staging.copy_version(source, "staging.ml.churn", {"k": "v"})   # staging's principal creates it: owner
    assert staging.get_model_tag("staging.ml.churn", "lakegate.audit_head") is None
    staging.set_model_tag("staging.ml.churn", "lakegate.audit_head", "3:" + "a" * 64)
    assert staging.get_model_tag("staging.ml.churn", "lakegate.audit_head") == "3:" + "a" * 64
    call = stub.calls("POST", f"{REG}/registered-models/set-tag")[-1]
    assert call.body == {"name": "staging.ml.churn", "key": "lakegate.audit_head", "value": "3:" + "a" * 64}
    stub.grant("sp-mlops-dev", "staging", "read", "write")  # even with write on the catalog, not the owner
    dev = adapter_for(stub, "tok-dev", "sp-mlops-dev")
    with pytest.raises(PermissionRefused, match="principal sp-mlops-dev may not set tag lakegate.audit_head on staging.ml.churn"):
        dev.set_model_tag("staging.ml.churn", "lakegate.audit_head", "9:" + "b" * 64)
    with pytest.raises(NotFound):
        staging.get_model_tag("staging.ml.nosuch", "lakegate.audit_head")


def test_artifact_digest_hashes_the_version_files_as_served(stub, staging, dev_v1, model_files):
    import hashlib

    from lakegate.promotion.registry import artifacts_digest

    expected = artifacts_digest((rel, len(b), hashlib.sha256(b).hexdigest()) for rel, b in model_files.items())
    assert staging.artifact_digest("dev.ml.churn", dev_v1) == expected
    copy = staging.copy_version(staging.get_version("dev.ml.churn", dev_v1), "staging.ml.churn", {})
    assert staging.artifact_digest("staging.ml.churn", copy.version) == expected  # a copy is its source's files
    stub.files[f"/Models/staging/ml/churn/{copy.version}/MLmodel"] += b"\n# changed"
    assert staging.artifact_digest("staging.ml.churn", copy.version) != expected
