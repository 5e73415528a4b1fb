"""The `<env>-databricks` stacks as synthesized from the examples: one test per resource family, plus the
grants (exactly what infra/access.py derives), the catalog bindings and the model owners."""

from __future__ import annotations

import json
import re

import pytest

from lakegate.infra import access
from lakegate.infra.model.grants import WRITE_PRIVILEGES


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
    """A value taken from `<env>-azure`: a cross-stack reference within the environment."""
    return f"cross-stack-reference-input-{env}-azure" in str(value)


def account_output_of(value: str, env: str) -> bool:
    """env's service principal application id, read from the account stack's state."""
    return re.fullmatch(rf"\$\{{data\.terraform_remote_state\.account_state_\w+\.outputs\.application_id_{env}\}}",
                        str(value)) is not None


def sp_application_id(stack_json: dict) -> str:
    """The stack's own service principal as it names it (the owner of its registered models)."""
    owners = {model["owner"] for model in resources(stack_json, "databricks_registered_model")}
    (owner,) = owners  # every model of the environment has the same owner
    return owner


def principal_names(stack_json: dict, env_name: str, envs) -> callable:
    """Map a principal as written in the JSON back to its YAML name."""

    def name(principal: str) -> str:
        for env in envs:
            if account_output_of(principal, env.name):
                return env.service_principal
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
    models = resources(data, "databricks_registered_model")
    assert sorted(m["name"] for m in models) == ["churn", "demand"]
    assert access.model_owner(envs[name]) == envs[name].service_principal
    for model in models:
        # The application id comes from the account stack (which created the principal), never a literal guess.
        assert account_output_of(model["owner"], name)
        # Names of the same stack's objects are references, so Terraform orders the model after its schema.
        assert model["catalog_name"].startswith("${databricks_catalog.") and model["schema_name"].startswith("${databricks_schema.")


def test_catalog_bindings(stack, envs):
    def bindings(name):
        data = stack(f"{name}-databricks")
        return {b["binding_type"]: b["workspace_id"] for b in resources(data, "databricks_workspace_binding")}

    prod = bindings("prod")
    # prod's catalog: its own workspace read-write (a reference within prod), dev's read-only (data scientists
    # read production data) by the id dev's YAML declares: never a reference into dev's stacks or state.
    assert refers_to_azure_stack_of(prod["BINDING_TYPE_READ_WRITE"], "prod")
    assert prod["BINDING_TYPE_READ_ONLY"] == envs["dev"].workspace.id
    # A promotion source is bound read-only to its target's workspace.
    assert bindings("dev")["BINDING_TYPE_READ_ONLY"] == envs["staging"].workspace.id
    assert bindings("staging")["BINDING_TYPE_READ_ONLY"] == envs["prod"].workspace.id


def test_catalog_checks_its_metastore_before_anything_is_created_in_it(stack, envs):
    prod = stack("prod-databricks")
    catalog = one(prod, "databricks_catalog", name="prod")
    (precondition,) = catalog["lifecycle"]["precondition"]
    assert envs["prod"].unity_catalog.metastore_id in precondition["condition"]
    assert "data.databricks_current_metastore." in precondition["condition"]
    assert "not assigned to metastore" in precondition["error_message"]


# --- identities -------------------------------------------------------------------------------------------

def test_workspace_is_given_account_groups_and_creates_no_identity(stack):
    prod = stack("prod-databricks")
    # data-scientists is known to prod's grants but has no entitlements there: not assigned to the workspace.
    assigned = {a["group_name"] for a in resources(prod, "databricks_permission_assignment")}
    assert assigned == {"ml-engineers", "ml-approvers", "crm-scoring"}
    assert all(a["permissions"] == ["USER"] for a in resources(prod, "databricks_permission_assignment"))
    for name in ("dev", "staging", "prod"):
        body = stack(f"{name}-databricks")
        # Users, group members and service principals are account objects: the account stack's.
        for kind in ("databricks_user", "databricks_group_member", "databricks_service_principal", "databricks_group"):
            assert kind not in body["resource"], (name, kind)
    dev = stack("dev-databricks")
    assert has(dev, "databricks_entitlements", {"allow_cluster_create": True, "databricks_sql_access": True})


# --- grants -----------------------------------------------------------------------------------------------

SECURABLE_KEYS = ("catalog", "schema", "table", "volume", "model", "external_location", "storage_credential")


def securable_names(stack_json: dict) -> dict[str, str]:
    """`${databricks_schema.X.id}` -> `prod.ml`: what each securable reference of the stack names."""
    kinds = {"catalog": "databricks_catalog", "schema": "databricks_schema", "volume": "databricks_volume",
             "model": "databricks_registered_model", "external_location": "databricks_external_location",
             "storage_credential": "databricks_storage_credential"}
    (catalog,) = resources(stack_json, "databricks_catalog")
    schemas = {f"${{databricks_schema.{k}.name}}": v["name"] for k, v in stack_json["resource"]["databricks_schema"].items()}
    names = {}
    for kind, resource_type in kinds.items():
        for logical_id, body in stack_json["resource"].get(resource_type, {}).items():
            parts = {"catalog": [], "schema": [catalog["name"]]}.get(kind, [catalog["name"], schemas.get(body.get("schema_name"))])
            full = ".".join(parts + [body["name"]]) if kind in ("catalog", "schema", "volume", "model") else body["name"]
            names[f"${{{resource_type}.{logical_id}.id}}"] = full
    return names


def emitted_grants(stack_json: dict, env_name: str, envs) -> dict:
    """{(type, name): {principal name: privileges}} as emitted in the stack."""
    name_of, securables = principal_names(stack_json, env_name, envs), securable_names(stack_json)
    emitted = {}
    for grants in resources(stack_json, "databricks_grants"):
        (kind,) = [k for k in SECURABLE_KEYS if k in grants]
        emitted[(kind, securables.get(grants[kind], grants[kind]))] = {
            name_of(g["principal"]): set(g["privileges"]) for g in grants["grant"]}
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
    assert definition["spark_version"] == {"type": "fixed", "value": "17.3.x-cpu-ml-scala2.13"}
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

# catalog.schema.model, each part a reference to the resource of this stack.
MODEL_REFERENCE = (r"\$\{databricks_catalog\.[\w-]+\.name\}\.\$\{databricks_schema\.[\w-]+\.name\}"
                   r"\.\$\{databricks_registered_model\.[\w-]+\.name\}")


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
        train = jobs(stack(f"{name}-databricks"))[f"{name}-churn-train"]
        params = parameters(train)
        # CI runs the job with smoke_test=true: a 5 % sample, one epoch, nothing registered.
        assert (params["smoke_test"], params["smoke_sample_fraction"], params["smoke_epochs"],
                params["smoke_register_model"]) == ("false", "0.05", "1", "false")
        assert re.fullmatch(MODEL_REFERENCE, params["model_name"]), params["model_name"]


def test_schedules_run_in_prod_and_wait_in_dev(stack):
    prod_train = jobs(stack("prod-databricks"))["prod-churn-train"]
    assert prod_train["schedule"] == {"quartz_cron_expression": "0 0 3 ? * MON", "timezone_id": "Europe/Amsterdam",
                                      "pause_status": "UNPAUSED"}
    assert jobs(stack("dev-databricks"))["dev-churn-train"]["schedule"]["pause_status"] == "PAUSED"


def test_batch_inference_writes_a_table(stack):
    job = jobs(stack("prod-databricks"))["prod-churn-batch-inference"]
    assert re.fullmatch(r"\$\{databricks_catalog\.[\w-]+\.name\}\.predictions\.churn_scores", parameters(job)["output_table"])
    # The task runs this repository's file with the job's parameters, then its own (the same argv locally).
    task = job["task"][0]["spark_python_task"]
    assert (task["python_file"], task["source"]) == ("pipelines/inference/score.py", "GIT")
    assert task["parameters"][:2] == ["--environment={{job.parameters.environment}}", "--catalog={{job.parameters.catalog}}"]
    assert task["parameters"][-4:-2] == ["--model_alias=champion", "--features_table=features.churn_features"]
    # The environment baked into the task (a run-now job-parameter override cannot change it).
    assert task["parameters"][-2] == "--lakegate_environment=prod"
    assert re.fullmatch(r"--lakegate_catalog=\$\{databricks_catalog\.[\w-]+\.name\}", task["parameters"][-1])
    assert "--output_table={{job.parameters.output_table}}" in task["parameters"]


def test_retraining_when_drift_exceeds_the_threshold(stack, envs):
    prod = stack("prod-databricks")
    monitoring = jobs(prod)["prod-churn-monitoring"]
    tasks = {t["task_key"]: t for t in monitoring["task"]}
    threshold = envs["prod"].job("churn-monitoring").retrain_on_drift.threshold
    assert tasks["drift_above_threshold"]["condition_task"] == {
        "left": "{{tasks.refresh_monitor.values.drift}}", "op": "GREATER_THAN", "right": f"{threshold:g}"}
    assert tasks["drift_above_threshold"]["depends_on"] == [{"task_key": "refresh_monitor"}]
    assert tasks["outside_cooldown"]["condition_task"] == {
        "left": "{{tasks.refresh_monitor.values.in_cooldown}}", "op": "EQUAL_TO", "right": "false"}
    assert tasks["outside_cooldown"]["depends_on"] == [{"task_key": "drift_above_threshold", "outcome": "true"}]
    assert tasks["retrain"]["depends_on"] == [{"task_key": "outside_cooldown", "outcome": "true"}]
    # The drift task is a notebook (only notebooks set task values); it gets the threshold and the cooldown.
    refresh = tasks["refresh_monitor"]["notebook_task"]
    assert refresh["notebook_path"] == "pipelines/monitoring/refresh_monitor"
    assert (refresh["base_parameters"]["drift_threshold"], refresh["base_parameters"]["retrain_cooldown_hours"]) == (
        f"{threshold:g}", "24")
    monitors = json.loads(parameters(monitoring)["quality_monitors"])
    assert [m["table"] for m in monitors] == ["monitoring.churn_inference", "predictions.churn_scores"]
    train_id = tasks["retrain"]["run_job_task"]["job_id"]
    assert re.fullmatch(r"\$\{databricks_job\.workflows_job_train_\w+\.id\}", train_id)


def test_validation_and_deployment_start_on_model_events(stack):
    by_name = jobs(stack("prod-databricks"))
    trigger = by_name["prod-churn-validate"]["trigger"]["model"]
    assert trigger["condition"] == "MODEL_VERSION_READY"
    # The registered model by reference (catalog.schema.model): the job waits for the model to exist.
    assert re.fullmatch(MODEL_REFERENCE, trigger["securable_name"]), trigger
    assert by_name["prod-churn-deploy"]["trigger"]["model"]["aliases"] == ["champion"]


def test_job_notifications_and_permissions(stack):
    prod = stack("prod-databricks")
    assert jobs(prod)["prod-churn-train"]["email_notifications"]["on_failure"] == ["ml-platform@contoso.com", "ml-oncall@contoso.com"]
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

def test_serving_endpoint_serves_nothing_until_the_first_champion(stack):
    prod = stack("prod-databricks")
    endpoint = one(prod, "databricks_model_serving", name="churn")
    # No model version exists at the first apply: the first promotion writes the config (from the YAML).
    assert "config" not in endpoint
    assert endpoint["lifecycle"]["ignore_changes"] == ["config"]
    gateway = endpoint["ai_gateway"]
    # The inference table lands in the monitoring schema, by reference: the endpoint waits for the schema.
    table = gateway["inference_table_config"]
    assert table["enabled"] is True and table["table_name_prefix"] == "churn"
    assert table["catalog_name"].startswith("${databricks_catalog.") and table["schema_name"].startswith("${databricks_schema.")
    assert gateway["rate_limits"] == [{"calls": 3000, "key": "endpoint", "renewal_period": "minute"},
                                      {"calls": 300, "key": "user", "renewal_period": "minute"}]
    assert has(prod, "databricks_permissions", {"access_control": [
        {"group_name": "crm-scoring", "permission_level": "CAN_QUERY"},
        {"group_name": "ml-engineers", "permission_level": "CAN_QUERY"},
        {"service_principal_name": sp_application_id(prod), "permission_level": "CAN_MANAGE"}]})


def test_no_quality_monitor_before_its_table_exists(stack):
    # The jobs write the monitored tables; the monitoring job creates each monitor once its table exists.
    for name in ("dev", "staging", "prod"):
        assert "databricks_quality_monitor" not in stack(f"{name}-databricks")["resource"]


# --- tooling ----------------------------------------------------------------------------------------------

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


# --- other environments' values: their YAML or the account stack, never their state --------------------------

def test_an_environment_synthesizes_alone_and_reads_no_peer_state(envs, tmp_path):
    import os

    from cdktn import App

    from lakegate.infra.stacks.azure import AzureStack
    from lakegate.infra.stacks.databricks import DatabricksStack

    app = App(outdir=str(tmp_path))
    dev = AzureStack(app, "dev-azure", env=envs["dev"], envs=envs).foundation
    DatabricksStack(app, "dev-databricks", env=envs["dev"], envs=envs, foundation=dev)
    app.synth()
    with open(os.path.join(tmp_path, "stacks", "dev-databricks", "cdk.tf.json")) as handle:
        alone = json.load(handle)
    assert "variable" not in alone
    states = alone["data"]["terraform_remote_state"]
    assert {state["config"].get("key") or state["config"].get("path", "").rsplit("/", 1)[-1]
            for state in states.values()} == {"dev-azure.tfstate", "account.tfstate"}
