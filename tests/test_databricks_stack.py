"""The `<env>-databricks` stacks as synthesized from the examples: one test per resource family, plus the
grants (exactly what infra/access.py derives), the catalog bindings and the model owners."""

from __future__ import annotations

import json
import re

import pytest

from infra import access
from infra.model.grants import WRITE_PRIVILEGES


def has(stack_json: dict, resource_type: str, properties: dict) -> bool:
    from cdktn import Testing

    return Testing.to_have_resource_with_properties(json.dumps(stack_json), resource_type, properties)


def resources(stack_json: dict, resource_type: str) -> list[dict]:
    return list(stack_json.get("resource", {}).get(resource_type, {}).values())


def one(stack_json: dict, resource_type: str, **match) -> dict:
    found = [r for r in resources(stack_json, resource_type) if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} {resource_type} matching {match}"
    return found[0]


def refers_to_azure_stack_of(value: str, env: str) -> bool:
    """A value taken from `<env>-azure`: a cross-stack reference, or the variable that stands in for it."""
    return f"cross-stack-reference-input-{env}-azure" in value or re.search(rf"var\.(application|workspace)_id_{env}\b", value) is not None


def sp_application_id(stack_json: dict) -> str:
    return one(stack_json, "databricks_service_principal")["application_id"]


def principal_names(stack_json: dict, env_name: str, envs) -> callable:
    """Map a principal as written in the JSON back to its YAML name."""
    own = sp_application_id(stack_json)

    def name(principal: str) -> str:
        if principal == own:
            return envs[env_name].service_principal
        for other in envs:
            if other.name != env_name and refers_to_azure_stack_of(principal, other.name):
                return other.service_principal
        return principal

    return name


# --- provider and state ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_provider_comes_from_the_azure_stack_and_holds_no_secret(stack, name):
    data = stack(f"{name}-databricks")
    (provider,) = data["provider"]["databricks"]
    assert refers_to_azure_stack_of(provider["host"], name)
    assert refers_to_azure_stack_of(provider["azure_workspace_resource_id"], name)
    assert not {"token", "password", "client_secret", "azure_client_secret"} & set(provider)
    assert not re.search(r'"(token|password|client_secret|azure_client_secret)"\s*:', json.dumps(data))


def test_prod_state_is_remote(stack):
    backend = stack("prod-databricks")["terraform"]["backend"]["azurerm"]
    assert backend["key"] == "prod-databricks.tfstate" and backend["use_oidc"] is True


# --- Unity Catalog ----------------------------------------------------------------------------------------

def test_storage_credential_and_external_locations(stack):
    prod = stack("prod-databricks")
    credential = one(prod, "databricks_storage_credential", name="prod_access_connector")
    assert refers_to_azure_stack_of(credential["azure_managed_identity"]["access_connector_id"], "prod")
    managed = one(prod, "databricks_external_location", name="prod_managed")
    assert managed["url"] == "abfss://unity-catalog@stlakegateprod.dfs.core.windows.net/"
    landing = one(prod, "databricks_external_location", name="prod_landing")
    assert landing["read_only"] is True and landing["url"].startswith("abfss://landing@")
    assert "read_only" not in one(prod, "databricks_external_location", name="prod_predictions")


def test_catalog_is_isolated_with_its_storage_root_in_its_own_container(stack):
    prod = stack("prod-databricks")
    catalog = one(prod, "databricks_catalog", name="prod")
    assert catalog["isolation_mode"] == "ISOLATED"
    assert catalog["storage_root"].startswith("${databricks_external_location.") and "managed" in catalog["storage_root"]


def test_schemas_volumes_and_models(stack, envs):
    for name in ("dev", "staging", "prod"):
        data = stack(f"{name}-databricks")
        assert {s["name"] for s in resources(data, "databricks_schema")} == set(envs[name].unity_catalog.schema_names)
    assert has(stack("dev-databricks"), "databricks_volume", {"name": "raw_files", "volume_type": "MANAGED"})


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_registered_models_are_owned_by_the_service_principal(stack, envs, name):
    data = stack(f"{name}-databricks")
    (model,) = resources(data, "databricks_registered_model")
    assert model["name"] == "churn" and access.model_owner(envs[name]) == envs[name].service_principal
    assert model["owner"] == sp_application_id(data)


def test_catalog_bindings(stack):
    def bindings(name):
        data = stack(f"{name}-databricks")
        return {b["binding_type"]: b["workspace_id"] for b in resources(data, "databricks_workspace_binding")}, data

    prod, _ = bindings("prod")
    # prod's catalog: its own workspace read-write, dev's read-only (data scientists read production data).
    assert refers_to_azure_stack_of(prod["BINDING_TYPE_READ_WRITE"], "prod")
    assert refers_to_azure_stack_of(prod["BINDING_TYPE_READ_ONLY"], "dev")
    # A promotion source is bound read-only to its target's workspace.
    dev, _ = bindings("dev")
    staging, _ = bindings("staging")
    assert refers_to_azure_stack_of(dev["BINDING_TYPE_READ_ONLY"], "staging")
    assert refers_to_azure_stack_of(staging["BINDING_TYPE_READ_ONLY"], "prod")


# --- identities -------------------------------------------------------------------------------------------

def test_service_principal_and_groups(stack):
    prod = stack("prod-databricks")
    sp = one(prod, "databricks_service_principal")
    assert sp["display_name"] == "sp-lakegate-prod" and refers_to_azure_stack_of(sp["application_id"], "prod")
    assert sp["workspace_access"] is True and sp["allow_cluster_create"] is False
    # data-scientists is known to prod's grants but has no entitlements there: not assigned to the workspace.
    assigned = {a["group_name"] for a in resources(prod, "databricks_permission_assignment")}
    assert assigned == {"ml-engineers", "ml-approvers", "crm-scoring"}
    assert all(a["permissions"] == ["USER"] for a in resources(prod, "databricks_permission_assignment"))
    assert {u["user_name"] for u in resources(prod, "databricks_user")} == {
        "sam.okafor@contoso.com", "priya.nair@contoso.com", "head.of.ml@contoso.com"}
    assert len(resources(prod, "databricks_group_member")) == 3
    dev = stack("dev-databricks")
    assert has(dev, "databricks_entitlements", {"allow_cluster_create": True, "databricks_sql_access": True})


# --- grants -----------------------------------------------------------------------------------------------

SECURABLE_KEYS = ("catalog", "schema", "table", "volume", "model", "external_location", "storage_credential")


def emitted_grants(stack_json: dict, env_name: str, envs) -> dict:
    """{(type, name): {principal name: privileges}} as emitted in the stack."""
    name_of = principal_names(stack_json, env_name, envs)
    emitted = {}
    for grants in resources(stack_json, "databricks_grants"):
        (kind,) = [k for k in SECURABLE_KEYS if k in grants]
        emitted[(kind, grants[kind])] = {name_of(g["principal"]): set(g["privileges"]) for g in grants["grant"]}
    return emitted


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_every_grant_is_exactly_what_access_derives(stack, envs, name):
    expected = access.merged_privileges(access.grants_owned_by(envs[name], envs))
    assert emitted_grants(stack(f"{name}-databricks"), name, envs) == expected


@pytest.mark.parametrize("source,target", [("dev", "staging"), ("staging", "prod")])
def test_promotion_target_reads_the_source_and_the_source_stack_emits_it(stack, envs, source, target):
    data = stack(f"{source}-databricks")
    emitted = emitted_grants(data, source, envs)
    sp = envs[target].service_principal
    assert emitted[("catalog", source)][sp] == {"USE_CATALOG"}
    assert emitted[("schema", f"{source}.ml")][sp] == {"USE_SCHEMA", "EXECUTE"}
    # The target's own service principal registers models in its own catalog.
    own = emitted_grants(stack(f"{target}-databricks"), target, envs)
    assert {"USE_SCHEMA", "CREATE_MODEL"} <= own[("schema", f"{target}.ml")][sp]


def test_nobody_gets_write_on_another_environments_catalog(stack, envs):
    for env in envs:
        for (kind, name), by_principal in emitted_grants(stack(f"{env.name}-databricks"), env.name, envs).items():
            for other in envs:
                if other.name != env.name and other.service_principal in by_principal:
                    assert not by_principal[other.service_principal] & WRITE_PRIVILEGES, (kind, name, other.name)


# --- compute ----------------------------------------------------------------------------------------------

def test_policies_bound_runtime_size_and_idle_time(stack):
    prod = stack("prod-databricks")
    policy = one(prod, "databricks_cluster_policy", name="prod-jobs")
    definition = json.loads(policy["definition"])
    assert definition["spark_version"] == {"type": "fixed", "value": "15.4.x-cpu-ml-scala2.12"}
    assert definition["node_type_id"]["values"] == ["Standard_D8ds_v5", "Standard_D16ds_v5"]
    assert definition["autoscale.max_workers"]["maxValue"] == 20
    assert definition["autotermination_minutes"]["maxValue"] == 20
    assert definition["data_security_mode"] == {"type": "fixed", "value": "SINGLE_USER"}
    assert definition["cluster_type"] == {"type": "fixed", "value": "job"}
    assert definition["dbus_per_hour"]["maxValue"] == 80
    assert definition["custom_tags.environment"] == {"type": "fixed", "value": "prod"}
    assert has(prod, "databricks_permissions", {"access_control": [
        {"group_name": "ml-engineers", "permission_level": "CAN_USE"},
        {"service_principal_name": sp_application_id(prod), "permission_level": "CAN_USE"}]})


def test_all_purpose_clusters_only_where_allowed(stack):
    assert resources(stack("prod-databricks"), "databricks_cluster") == []
    assert resources(stack("staging-databricks"), "databricks_cluster") == []
    dev = stack("dev-databricks")
    cluster = one(dev, "databricks_cluster", cluster_name="exploration")
    assert cluster["data_security_mode"] == "SINGLE_USER" and cluster["single_user_name"] == "data-scientists"
    assert cluster["autotermination_minutes"] == 30 and cluster["policy_id"].startswith("${databricks_cluster_policy.")
    assert has(dev, "databricks_permissions", {"access_control": [{"group_name": "data-scientists",
                                                                     "permission_level": "CAN_RESTART"}]})


# --- workflows --------------------------------------------------------------------------------------------

def jobs(stack_json: dict) -> dict[str, dict]:
    return {job["name"]: job for job in resources(stack_json, "databricks_job")}


def parameters(job: dict) -> dict[str, str]:
    return {p["name"]: p["default"] for p in job["parameter"]}


def test_every_workflow_step_is_a_job_running_as_the_service_principal(stack):
    prod = stack("prod-databricks")
    by_name = jobs(prod)
    assert {job["tags"]["purpose"] for job in by_name.values()} == {
        "feature_refresh", "training", "validation", "deployment", "batch_inference", "monitoring"}
    for job in by_name.values():
        assert job["run_as"] == {"service_principal_name": sp_application_id(prod)}
        assert job["git_source"] == {"url": "https://github.com/contoso/lakegate-ml", "provider": "gitHub", "branch": "release"}
        for cluster in job["job_cluster"]:
            assert cluster["new_cluster"]["policy_id"].startswith("${databricks_cluster_policy.")
            assert cluster["new_cluster"]["data_security_mode"] == "SINGLE_USER"


def test_training_job_has_the_smoke_test_switch(stack):
    for name in ("dev", "staging", "prod"):
        train = jobs(stack(f"{name}-databricks"))[f"{name}-train"]
        params = parameters(train)
        # CI runs the job with smoke_test=true: a 5 % sample, one epoch, nothing registered.
        assert (params["smoke_test"], params["smoke_sample_fraction"], params["smoke_epochs"],
                params["smoke_register_model"]) == ("false", "0.05", "1", "false")
        assert params["model_name"] == f"{name}.ml.churn"


def test_schedules_run_in_prod_and_wait_in_dev(stack):
    prod_train = jobs(stack("prod-databricks"))["prod-train"]
    assert prod_train["schedule"] == {"quartz_cron_expression": "0 0 3 ? * MON", "timezone_id": "Europe/Amsterdam",
                                      "pause_status": "UNPAUSED"}
    assert jobs(stack("dev-databricks"))["dev-train"]["schedule"]["pause_status"] == "PAUSED"


def test_batch_inference_writes_a_table(stack):
    job = jobs(stack("prod-databricks"))["prod-batch-inference"]
    assert parameters(job)["output_table"] == "prod.predictions.churn_scores"
    assert job["task"][0]["notebook_task"]["base_parameters"] == {"model_alias": "champion"}


def test_retraining_when_drift_exceeds_the_threshold(stack, envs):
    prod = stack("prod-databricks")
    monitoring = jobs(prod)["prod-monitoring"]
    tasks = {t["task_key"]: t for t in monitoring["task"]}
    threshold = envs["prod"].workflows.job("monitoring").retrain_on_drift.threshold
    assert tasks["drift_above_threshold"]["condition_task"] == {
        "left": "{{tasks.refresh_monitor.values.drift}}", "op": "GREATER_THAN", "right": f"{threshold:g}"}
    assert tasks["drift_above_threshold"]["depends_on"] == [{"task_key": "refresh_monitor"}]
    assert tasks["retrain"]["depends_on"] == [{"task_key": "drift_above_threshold", "outcome": "true"}]
    train_id = tasks["retrain"]["run_job_task"]["job_id"]
    assert re.fullmatch(r"\$\{databricks_job\.workflows_job_train_\w+\.id\}", train_id)


def test_validation_and_deployment_start_on_model_events(stack):
    by_name = jobs(stack("prod-databricks"))
    assert by_name["prod-validate"]["trigger"] == {"model": {"condition": "MODEL_VERSION_READY", "securable_name": "prod.ml.churn"}}
    assert by_name["prod-deploy"]["trigger"]["model"]["aliases"] == ["champion"]


def test_job_notifications_and_permissions(stack):
    prod = stack("prod-databricks")
    assert jobs(prod)["prod-train"]["email_notifications"]["on_failure"] == ["ml-platform@contoso.com", "ml-oncall@contoso.com"]
    assert has(prod, "databricks_permissions", {"job_id": "${databricks_job." + next(
        k for k in prod["resource"]["databricks_job"] if "train" in k) + ".id}",
        "access_control": [{"group_name": "ml-engineers", "permission_level": "CAN_VIEW"}]})


def test_experiments(stack):
    dev = stack("dev-databricks")
    experiment = one(dev, "databricks_mlflow_experiment", name="/Shared/lakegate/churn")
    assert experiment["description"]
    assert has(dev, "databricks_permissions", {"access_control": [
        {"group_name": "data-scientists", "permission_level": "CAN_MANAGE"},
        {"group_name": "ml-engineers", "permission_level": "CAN_EDIT"},
        {"service_principal_name": sp_application_id(dev), "permission_level": "CAN_MANAGE"}]})


# --- serving ----------------------------------------------------------------------------------------------

def test_serving_endpoint(stack):
    prod = stack("prod-databricks")
    endpoint = one(prod, "databricks_model_serving", name="churn")
    (served,) = endpoint["config"]["served_entities"]
    assert served == {"name": "churn", "entity_name": "prod.ml.churn", "entity_version": "1", "workload_size": "Medium",
                      "workload_type": "CPU", "scale_to_zero_enabled": False}
    gateway = endpoint["ai_gateway"]
    assert gateway["inference_table_config"] == {"enabled": True, "catalog_name": "prod", "schema_name": "monitoring",
                                                 "table_name_prefix": "churn"}
    assert gateway["rate_limits"] == [{"calls": 3000, "key": "endpoint", "renewal_period": "minute"},
                                      {"calls": 300, "key": "user", "renewal_period": "minute"}]
    # Promotion moves the served version; Terraform must not roll it back.
    assert endpoint["lifecycle"]["ignore_changes"] == ["config[0].served_entities[0].entity_version"]
    assert has(prod, "databricks_permissions", {"access_control": [
        {"group_name": "crm-scoring", "permission_level": "CAN_QUERY"},
        {"group_name": "ml-engineers", "permission_level": "CAN_QUERY"},
        {"service_principal_name": sp_application_id(prod), "permission_level": "CAN_MANAGE"}]})
    dev_endpoint = one(stack("dev-databricks"), "databricks_model_serving", name="churn-dev")
    assert dev_endpoint["config"]["served_entities"][0]["scale_to_zero_enabled"] is True


# --- monitoring and tooling -------------------------------------------------------------------------------

def test_quality_monitors_write_to_the_monitoring_schema(stack):
    prod = stack("prod-databricks")
    monitor = one(prod, "databricks_quality_monitor", table_name="prod.monitoring.churn_inference")
    assert monitor["output_schema_name"] == "prod.monitoring"
    assert monitor["inference_log"][0]["problem_type"] == "PROBLEM_TYPE_CLASSIFICATION"
    assert monitor["inference_log"][0]["label_col"] == "churned"
    assert monitor["warehouse_id"].startswith("${databricks_sql_endpoint.")
    assert has(prod, "databricks_quality_monitor", {"table_name": "prod.predictions.churn_scores"})


def test_sql_warehouse(stack):
    prod = stack("prod-databricks")
    warehouse = one(prod, "databricks_sql_endpoint", name="lakegate-prod")
    assert (warehouse["cluster_size"], warehouse["auto_stop_mins"], warehouse["enable_serverless_compute"]) == ("Small", 15, True)
    assert has(prod, "databricks_permissions", {"sql_endpoint_id": "${databricks_sql_endpoint." + next(
        iter(prod["resource"]["databricks_sql_endpoint"])) + ".id}",
        "access_control": [{"group_name": "ml-engineers", "permission_level": "CAN_USE"}]})


def test_secret_scope_acls(stack):
    prod = stack("prod-databricks")
    one(prod, "databricks_secret_scope", name="lakegate-ml")
    acls = {a["principal"]: a["permission"] for a in resources(prod, "databricks_secret_acl")}
    assert acls == {sp_application_id(prod): "READ", "ml-engineers": "READ"}


def test_git_folder_where_declared(stack):
    repo = one(stack("dev-databricks"), "databricks_repo", path="/Workspace/Shared/lakegate-ml")
    assert (repo["url"], repo["git_provider"], repo["branch"]) == ("https://github.com/contoso/lakegate-ml", "gitHub", "main")
    assert resources(stack("prod-databricks"), "databricks_repo") == []


# --- other environments' values: cross-stack references, or variables when their stack is absent -------------

def test_peers_become_cross_stack_references_or_variables(envs, tmp_path):
    import os

    from cdktn import App

    from infra.stacks.azure import AzureStack
    from infra.stacks.databricks import DatabricksStack

    app = App(outdir=str(tmp_path))
    dev = AzureStack(app, "dev-azure", env=envs["dev"], envs=envs).foundation
    staging = AzureStack(app, "staging-azure", env=envs["staging"], envs=envs).foundation
    DatabricksStack(app, "dev-databricks", env=envs["dev"], envs=envs, foundation=dev, peers={"staging": staging})
    DatabricksStack(app, "dev-databricks-alone", env=envs["dev"], envs=envs, foundation=dev)
    app.synth()

    def load(name):
        with open(os.path.join(tmp_path, "stacks", name, "cdk.tf.json")) as handle:
            return json.load(handle)

    with_peer, alone = load("dev-databricks"), load("dev-databricks-alone")
    assert "variable" not in with_peer
    binding = one(with_peer, "databricks_workspace_binding", binding_type="BINDING_TYPE_READ_ONLY")
    assert "cross-stack-reference-input-staging-azure" in binding["workspace_id"]
    assert set(alone["variable"]) == {"application_id_staging", "workspace_id_staging"}
    binding = one(alone, "databricks_workspace_binding", binding_type="BINDING_TYPE_READ_ONLY")
    assert binding["workspace_id"] == "${var.workspace_id_staging}"
