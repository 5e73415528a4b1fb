"""The REST fakes speak the vendor's shapes: every route of tests/databricks_stub.py (with the serving and SQL
warehouse routes tests/test_serving.py adds) and of tests/arm_stub.py is driven through the real clients, and
every answer is checked against the vendor's own definition of it (tests/vendor_routes.py, tests/vendor_shapes.py).

The checks themselves are tested first, on answers the vendor's definitions refuse: a checker that let
everything through would make the coverage below worthless.
"""

from __future__ import annotations

import re

import pytest
import requests

from tests import vendor_shapes as shapes
from tests.arm_stub import AccountsStub, ArmStub, EntraStub, self_signed_certificate
from tests.databricks_stub import DatabricksStub
from tests.test_serving import WarehouseStub
from tests.vendor_routes import accounts_table, arm_table, databricks_table, entra_table, uc_registry_table

# ------------------------------------------------------------------------------------------------------------------
# the checkers refuse what the vendor's definitions refuse


def test_sdk_dataclasses_refuse_unknown_fields_enum_values_types_and_missing_required_fields():
    from databricks.sdk.oauth import HostMetadata
    from databricks.sdk.service.catalog import ModelVersionInfo
    from databricks.sdk.service.serving import ServingEndpointDetailed

    good = {"model_name": "churn", "catalog_name": "dev", "schema_name": "ml", "version": 1, "status": "READY"}
    assert shapes.sdk_problems(ModelVersionInfo, good) == []
    assert shapes.sdk_problems(ModelVersionInfo, {**good, "tags": []}) == []                 # an empty list is no field
    assert shapes.sdk_problems(ModelVersionInfo, {**good, "tags": [{"key": "a"}]}) == [
        "ModelVersionInfo.tags: unknown field (or unknown enum value [{'key': 'a'}])"]
    assert shapes.sdk_problems(ModelVersionInfo, {**good, "version": "1"}) == [
        "ModelVersionInfo.version: expected an integer, got '1'"]
    assert "not a value of ModelVersionInfoStatus" in shapes.sdk_problems(ModelVersionInfo, {**good, "status": "DONE"})[0]
    assert shapes.sdk_problems(HostMetadata, {"workspace_id": "1"}) == [
        "HostMetadata.oidc_endpoint: required by HostMetadata but missing"]
    nested = shapes.sdk_problems(ServingEndpointDetailed, {"name": "e", "state": {"ready": "READYISH"}})
    assert nested and nested[0].startswith("ServingEndpointDetailed.state.ready: 'READYISH' is not a value")


def test_mlflow_protobufs_refuse_unknown_fields_and_wrong_types():
    from mlflow.protos.databricks_uc_registry_messages_pb2 import GetModelVersionResponse

    assert shapes.proto_problems(GetModelVersionResponse, {"model_version": {"name": "a.b.c", "version": "1"}}) == []
    assert "version" in shapes.proto_problems(GetModelVersionResponse, {"model_version": {"version": 1}})[0]
    assert "no field named \"model_name\"" in shapes.proto_problems(
        GetModelVersionResponse, {"model_version": {"model_name": "c"}})[0]
    assert "status" in shapes.proto_problems(GetModelVersionResponse, {"model_version": {"status": "DONE"}})[0]


def test_azure_models_refuse_unknown_fields_and_wrong_types():
    from azure.mgmt.resource.resources.models import ResourceGroup

    group = {"id": "/subscriptions/s/resourceGroups/rg", "name": "rg", "location": "westeurope",
             "properties": {"provisioningState": "Succeeded"}}
    assert shapes.hybrid_problems(ResourceGroup, group) == []
    assert shapes.hybrid_problems(ResourceGroup, {**group, "region": "x"}) == ["ResourceGroup.region: not a field of ResourceGroup"]
    assert shapes.hybrid_problems(ResourceGroup, {k: v for k, v in group.items() if k != "location"}) == [
        "ResourceGroup.location: required by ResourceGroup but missing"]
    assert shapes.hybrid_problems(ResourceGroup, {**group, "tags": {"a": 1}}) == ["ResourceGroup.tags.a: expected a string, got 1"]
    check = shapes.authorization("RoleDefinition").check
    definition = {"id": "/providers/Microsoft.Authorization/roleDefinitions/r", "name": "r",
                  "type": "Microsoft.Authorization/roleDefinitions", "properties": {"roleName": "Reader"}}
    assert check(definition, {"api-version": "2022-04-01"}, {}) == []
    assert check({**definition, "properties": {"roleName": "Reader", "builtIn": True}}, {"api-version": "2022-04-01"}, {}) == [
        "RoleDefinition.properties.builtIn: unknown field (or unknown enum value True)"]
    assert check(definition, {"api-version": "2099-01-01"}, {}) == [
        "azure-mgmt-authorization 4.0.0 has no models for api-version '2099-01-01'"]


def test_error_envelopes_are_the_vendors():
    assert shapes.databricks_error_problems(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}) == []
    assert shapes.databricks_error_problems(404, {"error_code": "INVALID_STATE", "message": "x"}) == [
        "Databricks error: INVALID_STATE is InvalidState in the SDK, not a NotFound (HTTP 404)"]
    assert shapes.databricks_error_problems(403, {"error": "forbidden"})[0].startswith("Databricks error: expected")
    assert shapes.arm_error_problems(404, {"error": {"code": "ResourceNotFound", "message": "gone"}}) == []
    assert shapes.arm_error_problems(404, {"error_code": "ResourceNotFound", "message": "gone"})[0].startswith("ARM error")


def test_a_fake_answering_a_shape_the_sdk_does_not_have_fails_the_test_that_received_it():
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config
    from databricks.sdk.errors import InternalError

    stub = DatabricksStub().start()
    stub.add_token("tok", "sp")
    stub.grant("sp", "serving:churn", "read")
    stub.add_endpoint("churn", [{"name": "churn-1", "entity_name": "prod.ml.churn", "entity_version": "1"}])
    stub.endpoints["churn"]["state"]["ready"] = "ALMOST"                        # no such EndpointStateReady
    with pytest.raises(InternalError, match="the fake disagrees with the vendor's model: .*state.ready: 'ALMOST'"):
        WorkspaceClient(config=Config(host=stub.url, token="tok")).serving_endpoints.get("churn")
    with pytest.raises(shapes.ShapeError, match=r"GET /api/2.0/serving-endpoints/churn \(HTTP 200\)"):
        stub.stop()                                                              # the end of the `with` block


def test_a_request_mlflows_messages_refuse_is_answered_400_and_fails_the_test():
    stub = DatabricksStub().start()
    stub.add_token("tok", "sp")
    finalize = f"{stub.url}/api/2.0/mlflow/unity-catalog/model-versions/finalize"
    auth = {"Authorization": "Bearer tok"}
    assert requests.post(finalize, json={"name": "a.b.c"}, headers=auth).status_code == 400       # no version
    answer = requests.post(finalize, json={"name": "a.b.c", "version": "1", "stage": "x"}, headers=auth)
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    with pytest.raises(shapes.ShapeError) as refused:
        stub.stop()
    assert "FinalizeModelVersionRequest.version: required but not sent" in str(refused.value)
    assert 'no field named "stage"' in str(refused.value)


def test_a_route_without_a_vendor_model_is_refused():
    stub = DatabricksStub()
    stub.routes.append(("GET", re.compile("/api/2.0/invented"), lambda **_: (None, {"ok": True})))
    with pytest.raises(shapes.ShapeError, match="no vendor model is known for GET /api/2.0/invented"):
        with stub:
            assert requests.get(f"{stub.url}/api/2.0/invented").status_code == 500


# ------------------------------------------------------------------------------------------------------------------
# every route of the fakes, through the real clients, checked


def routes_of(stub) -> set[tuple[str, str]]:
    return {(method, pattern.pattern) for method, pattern, _ in stub.routes}


def checked(stub, kind: str = "answer") -> dict[tuple[str, str], str]:
    """{(method, route pattern): vendor model} of the answers of `kind` that were checked."""
    return {(m, p): model for (m, p, model, k), n in stub.shape_checks.items() if k == kind and n}


def test_every_route_of_the_databricks_fake_answers_in_the_sdks_and_mlflows_shapes(envs):
    """The adapters (promotion/databricks, pipelines/tables.py WarehouseTables) drive every route; each answer and
    each error is checked. The one route without a vendor model (presigned cloud storage) is listed with its reason."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    from models import churn as data
    from lakegate.pipelines.tables import WarehouseTables
    from lakegate.promotion.databricks import UnityCatalogAdapter
    from lakegate.promotion.databricks.serving import endpoint_settings, query_endpoint, update_serving_endpoint, wait_until_served
    from lakegate.promotion.registry import NotFound, PermissionRefused

    files = {"MLmodel": b"artifact_path: model\n", "model.pkl": b"\x80" * 3000, "data/nested.json": b"{}"}
    with WarehouseStub(data.landing("staging", 20, "validation")) as stub:
        for principal, token in (("sp-lakegate-staging", "tok-staging"), ("sp-outsider", "tok-outsider")):
            stub.add_token(token, principal)
        stub.grant("sp-lakegate-staging", "staging", "read", "write")
        stub.grant("sp-lakegate-staging", "dev", "read")
        stub.grant("sp-lakegate-staging", "serving:churn", "read", "write")
        stub.runs["run-1"] = {"auc": 0.91}
        stub.add_version("dev.ml.churn", files, run_id="run-1", tags={"git_commit": "0a1b2c3"})
        stub.endpoints["churn"] = {"config": {"config_version": 1},
                                   "state": {"ready": "NOT_READY", "config_update": "NOT_UPDATING"}}
        config = Config(host=stub.url, token="tok-staging")
        uc = UnityCatalogAdapter(config, "sp-lakegate-staging")

        source = uc.get_version("dev.ml.churn", "1")
        copied = uc.copy_version(source, "staging.ml.churn", {"promoted_from": "dev.ml.churn"})
        uc.set_alias("staging.ml.churn", "champion", copied.version)
        assert uc.get_version_by_alias("staging.ml.churn", "champion").version == copied.version
        assert uc.get_version_by_alias("staging.ml.churn", "nope") is None            # 404, checked as an error
        uc.set_version_tag("staging.ml.churn", copied.version, "approved", "yes")
        stub.models["staging.ml.churn"]["owner"] = "sp-lakegate-staging"
        uc.set_model_tag("staging.ml.churn", "audit_anchor", "abc")
        assert uc.get_model_tag("staging.ml.churn", "audit_anchor") == "abc"
        assert uc.artifact_digest("staging.ml.churn", copied.version) == uc.artifact_digest("dev.ml.churn", "1")
        assert uc._run_metrics("run-1") == {"auc": 0.91} and uc._run_metrics("run-9") == {}
        uc.delete_alias("staging.ml.churn", "champion")
        uc.delete_alias("staging.ml.churn", "champion")                                  # already absent: a 404
        uc.delete_version("staging.ml.churn", copied.version)
        with pytest.raises(PermissionRefused):
            UnityCatalogAdapter(Config(host=stub.url, token="tok-outsider"), "sp-outsider").get_version("dev.ml.churn", "1")
        with pytest.raises(NotFound):
            uc.get_version("dev.ml.churn", "7")

        client = WorkspaceClient(config=config)
        assert client.registered_models.get("staging.ml.churn").full_name == "staging.ml.churn"
        from databricks.sdk.service.files import FilesAPI   # the generated download, without the presigned-URL mixin

        assert FilesAPI(client.api_client).download("/Models/dev/ml/churn/1/MLmodel").contents.read() == files["MLmodel"]
        settings = endpoint_settings(envs["staging"], "churn") or {"workload_size": "Small", "workload_type": "CPU"}
        update_serving_endpoint(client, "churn", "staging.ml.churn", "1", settings=settings)
        update_serving_endpoint(client, "churn", "staging.ml.churn", "2")
        wait_until_served(client, "churn", "staging.ml.churn", "2", timeout_seconds=1, poll_seconds=0.01)
        row = {c: 1.0 for c in data.FEATURES}
        assert query_endpoint(client, "churn", {"dataframe_records": [row, row]}) == [0, 0]

        tables = WarehouseTables(client, envs["staging"], "sp-lakegate-staging")
        assert len(tables.read("features.churn_validation")) == 20 and not tables.exists("features.nope")
        assert requests.get(f"{stub.url}/api/2.0/invented").status_code == 404            # the service's own 404
        refused = requests.get(f"{stub.url}/_storage/Models/dev/ml/churn/1/MLmodel?sig=forged")
        assert refused.status_code == 403 and refused.headers["x-ms-error-code"] == "AuthenticationFailed"

        routes, answered, errors = routes_of(stub), checked(stub), checked(stub, "error")
    assert stub.shape_failures == []
    assert routes == set(answered), f"routes never answered (so never checked): {routes - set(answered)}"
    unmodelled = {route: model for route, model in answered.items() if model.startswith("no vendor model")}
    assert list(unmodelled) == [("GET", "/_storage(?P<path>/.*)")] and "Azure Blob Storage" in unmodelled[
        ("GET", "/_storage(?P<path>/.*)")]
    registry = {(m, p.pattern) for m, p, _ in uc_registry_table()}
    assert len(routes) == 25 and len(databricks_table()) == 19 and len(registry) == 22  # MLflow's service: 22 RPCs
    ours = {(m, p) for m, p in routes if p.startswith("/api/2.0/mlflow/unity-catalog")}
    assert len(ours) == 7 and {(m, re.escape(p)) for m, p in ours} <= registry           # paths MLflow declares
    requested = {(m, p) for (m, p, _, kind), n in stub.shape_checks.items() if kind == "request" and n}
    assert {(m, re.escape(p)) for m, p in ours} == requested                       # what the adapter sent, checked
    assert {("GET", "/api/2.0/mlflow/unity-catalog/registered-models/alias"), ("GET", "/api/2.0/mlflow/runs/get"),
            ("DELETE", "/api/2.1/unity-catalog/models/(?P<full>[^/]+\\.[^/]+\\.[^/]+)/aliases/(?P<alias>[^/]+)")} <= set(errors)


def test_every_route_of_the_arm_entra_and_accounts_fakes_answers_in_the_azure_sdks_shapes(tmp_path, monkeypatch):
    """infra/preflight/arm.py's calls through azure-mgmt-resource / azure-mgmt-authorization, each answer checked."""
    from azure.core.credentials import AccessToken

    from lakegate.infra.preflight.arm import Arm, ArmSettings, STORAGE_API

    tls = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    sub, tenant = "33333333-3333-4333-8333-333333333333", "99999999-9999-4999-8999-999999999999"
    with EntraStub(tls) as entra, ArmStub(tls, entra) as arm, AccountsStub(tls) as accounts:
        app = entra.register("d0d0d0d0-0000-4000-8000-00000000a003", "0b0b0b0b-0000-4000-8000-0000000000d3")

        class Federated:
            def get_token(self, *scopes, **_):
                answer = requests.post(f"{entra.url}/{tenant}/oauth2/v2.0/token", verify=str(tls[0]), data={
                    "client_id": app.client_id, "client_assertion": app.federated_token, "scope": scopes[0],
                    "grant_type": "client_credentials"}).json()
                return AccessToken(answer["access_token"], 4102444800)

        assert requests.post(f"{entra.url}/{tenant}/oauth2/v2.0/token", verify=str(tls[0]),
                             data={"client_id": "unknown"}).status_code == 400
        arm.add_subscription(sub, tenant)
        arm.resource_groups[(sub, "rg-lakegate-prod")] = "westeurope"
        account = arm.add_storage_account(sub, "rg-lakegate-prod", "stlakegate")
        container = arm.add_container(account, "tfstate-prod")
        arm.assign(app.object_id, "Contributor", f"/subscriptions/{sub}/resourceGroups/rg-lakegate-prod")
        arm.assign(app.object_id, "Storage Blob Data Contributor", container, condition="@Resource[x] == 'y'")
        calls = Arm(Federated(), ArmSettings(arm.url, f"{arm.url}/.default"), sub)
        assert calls.subscription(sub).body["tenantId"] == tenant and calls.locations(sub).ok
        assert calls.provider(sub, "Microsoft.Databricks").body["registrationState"] == "Registered"
        assert calls.resource_group(sub, "rg-lakegate-prod").ok and not calls.resource_group(sub, "rg-x").ok
        assert calls.resource(account, STORAGE_API).ok and calls.resource(container, STORAGE_API).ok
        assert calls.resource(account + "x", STORAGE_API).code == "ResourceNotFound"
        assignments = calls.role_assignments(container, app.object_id).body
        assert len(assignments) == 2
        definition = calls.role_definition(assignments[0]["properties"]["roleDefinitionId"])
        assert definition.body["properties"]["roleName"] in ("Contributor", "Storage Blob Data Contributor")
        assert not calls.subscription("00000000-0000-4000-8000-000000000000").ok
        accounts.accounts = {"acc-1"}
        assert requests.get(f"{accounts.url}/oidc/accounts/acc-1/.well-known/oauth-authorization-server",
                            verify=str(tls[0])).ok
        assert requests.get(f"{accounts.url}/oidc/accounts/acc-2/.well-known/oauth-authorization-server",
                            verify=str(tls[0])).status_code == 404
        stubs = {"arm": arm, "entra": entra, "accounts": accounts}
        covered = {name: (routes_of(s), checked(s), checked(s, "error")) for name, s in stubs.items()}
    for name, (routes, answered, errors) in covered.items():
        assert stubs[name].shape_failures == []
        assert routes == set(answered), f"{name}: routes never answered: {routes - set(answered)}"
        assert errors, f"{name}: no error answer was checked"
    assert {len(answered) for _, answered, _ in covered.values()} == {7, 1}
    unmodelled = sorted(model for _, answered, _ in covered.values() for model in answered.values()
                        if model.startswith("no vendor model"))
    assert len(unmodelled) == 3 and "azure-mgmt-resource-subscriptions" in unmodelled[1]
    assert len(arm_table()) == 7 and len(entra_table()) == len(accounts_table()) == 1
