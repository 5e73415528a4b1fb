"""The ecosystem's credential names (Terraform's ARM_*, what GitHub Actions and Azure DevOps set, databricks-sdk's) and
where the workspace host comes from, against the same local Entra stand-in (tests/credentials_world.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lakegate.promotion.credentials import azure_strategies, CredentialsError, databricks_config, resolve_credentials

from .credentials_world import CLIENT, TENANT, github_actions, no_secret_in, signed_in_az, token_principal, trust
from .credentials_world import entra, env, workspace  # noqa: F401 - fixtures
from .databricks_stub import DatabricksStub


# ------------------------------------------------------------------------------------------------
# the ecosystem's names: Terraform's ARM_*, what GitHub Actions and Azure DevOps set, databricks-sdk's


def test_terraform_names_on_github_actions_with_the_cli_session_switched_off(env, workspace, entra, tmp_path):
    trust(env, entra)
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{entra.url}/github/token?api-version=2.0")
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", entra.github_request_token)
    env.setenv("ARM_CLIENT_ID", CLIENT)
    env.setenv("ARM_TENANT_ID", TENANT)
    env.setenv("ARM_USE_OIDC", "true")
    signed_in_az(env, tmp_path)   # azure/login ran before
    with pytest.raises(CredentialsError, match=r"more than one strategy is configured \(azure-workload-identity, "
                                               r"azure-cli\)"):
        resolve_credentials(azure_strategies())
    env.setenv("ARM_USE_CLI", "false")   # what the generated jobs set: Terraform's switch, read the same way
    credentials = resolve_credentials(azure_strategies())
    assert credentials.strategy == "azure-workload-identity" and "GitHub Actions OIDC" in credentials.description
    assert (credentials.client_id, credentials.tenant_id) == (CLIENT, TENANT)
    assert token_principal(entra, credentials.databricks_config(workspace.url)) == "sp-mlops-staging"


def test_terraform_oidc_request_names_come_first(env, workspace, entra):
    trust(env, entra)
    env.setenv("ARM_OIDC_REQUEST_URL", f"{entra.url}/github/token?api-version=2.0&audience=ignored")
    env.setenv("ARM_OIDC_REQUEST_TOKEN", entra.github_request_token)
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "https://127.0.0.1:9/never-asked")
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong-request-token-SECRET")
    env.setenv("ARM_CLIENT_ID", CLIENT)
    env.setenv("ARM_TENANT_ID", TENANT)
    assert token_principal(entra, databricks_config(workspace.url)) == "sp-mlops-staging"
    assert entra.calls("GET", "/github/token")[-1].query == {"api-version": "2.0",
                                                            "audience": "api://AzureADTokenExchange"}


def test_azure_devops_with_terraform_names(env, workspace, entra):
    """What the generated AzureCLI@2 steps export for Terraform, read by lakegate as well."""
    trust(env, entra)
    env.setenv("ARM_OIDC_REQUEST_URL", f"{entra.url}/ado/oidctoken")
    env.setenv("ARM_OIDC_REQUEST_TOKEN", entra.ado_access_token)
    env.setenv("ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "sc-0002")
    env.setenv("ARM_CLIENT_ID", CLIENT)
    env.setenv("AZURESUBSCRIPTION_CLIENT_ID", CLIENT.upper())   # the same id, as the task spells it
    env.setenv("ARM_TENANT_ID", TENANT)
    credentials = resolve_credentials(azure_strategies())
    assert "Azure DevOps OIDC, service connection sc-0002" in credentials.description
    assert token_principal(entra, credentials.databricks_config(workspace.url)) == "sp-mlops-staging"
    assert entra.calls("POST", "/ado/oidctoken")[-1].query == {"api-version": "7.1", "serviceConnectionId": "sc-0002"}


def test_azure_cli_task_id_token_with_add_spn_to_environment(env, workspace, entra, caplog):
    caplog.set_level(logging.DEBUG)
    trust(env, entra)
    env.setenv("idToken", entra.ado_oidc_token)
    env.setenv("servicePrincipalId", CLIENT)
    env.setenv("tenantId", TENANT)
    credentials = resolve_credentials(azure_strategies())
    assert credentials.description == f"OIDC token from idToken, client {CLIENT}, tenant {TENANT}"
    assert token_principal(entra, credentials.databricks_config(workspace.url)) == "sp-mlops-staging"
    assert no_secret_in(caplog.text, repr(credentials))


def test_names_for_one_identity_must_agree(env, entra):
    github_actions(env, entra)   # AZURE_CLIENT_ID, AZURE_TENANT_ID
    env.setenv("ARM_CLIENT_ID", "00000000-0000-4000-8000-000000000bad")
    with pytest.raises(CredentialsError, match=r"^azure-workload-identity: the variables naming the client id "
                                               r"disagree \(ARM_CLIENT_ID=00000000-0000-4000-8000-000000000bad, "
                                               rf"AZURE_CLIENT_ID={CLIENT}\): one job acts as one principal$"):
        resolve_credentials(azure_strategies())
    env.delenv("ARM_CLIENT_ID")
    env.delenv("AZURE_CLIENT_ID")
    env.setenv("DATABRICKS_CLIENT_ID", CLIENT)   # databricks-sdk's name: an Azure Databricks SP's Entra id
    assert resolve_credentials(azure_strategies()).client_id == CLIENT
    env.delenv("AZURE_TENANT_ID")
    assert resolve_credentials(azure_strategies(tenant_id=TENANT)).tenant_id == TENANT   # from the YAML


def test_arm_use_oidc_turns_the_strategy_on_and_off(env, entra):
    env.setenv("ARM_USE_OIDC", "true")
    env.setenv("ARM_CLIENT_ID", CLIENT)
    env.setenv("ARM_TENANT_ID", TENANT)
    with pytest.raises(CredentialsError, match=r"^azure-workload-identity: ARM_USE_OIDC is true but there is no "
                                               r"OIDC token source"):
        resolve_credentials(azure_strategies())
    github_actions(env, entra)
    env.setenv("ARM_USE_OIDC", "false")
    with pytest.raises(CredentialsError, match="^credentials: no strategy is configured"):
        resolve_credentials(azure_strategies())


def test_terraform_client_secret_name(env, workspace, caplog):
    caplog.set_level(logging.DEBUG)
    env.setenv("ARM_CLIENT_ID", CLIENT)
    env.setenv("ARM_TENANT_ID", TENANT)
    env.setenv("ARM_CLIENT_SECRET", "arm-client-secret-SECRET")
    credentials = resolve_credentials(azure_strategies())
    assert credentials.strategy == "azure-client-secret"
    # (the SDK's Config lists the *names* of the variables it saw, ARM_CLIENT_SECRET among them, never values)
    shown = (caplog.text, repr(credentials), repr(credentials.databricks_config(workspace.url)))
    assert not any("arm-client-secret" in text for text in shown)


# ------------------------------------------------------------------------------------------------
# which workspace: databricks-sdk's DATABRICKS_HOST, profiles, and the per-environment override

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "environments"
YAML_TENANT = "99999999-9999-4999-8999-999999999999"      # azure.tenant_id of the examples
STAGING_CLIENT = "5f0b1c2d-0000-4000-8000-0000000057a9"


@pytest.fixture(scope="module")
def examples():
    from lakegate.infra.loader import load_environments

    return load_environments(EXAMPLES)


def databrickscfg(path: Path, **profiles: str) -> Path:
    path.write_text("".join(f"[{name}]\nhost = {host}\n\n" for name, host in profiles.items()))
    return path


def test_workspace_host_sources_in_the_sdks_order(env, examples, tmp_path):
    from lakegate.promotion.databricks.factory import workspace_host

    staging, prod = examples["staging"], examples["prod"]
    config = databrickscfg(tmp_path / "databrickscfg", staging="https://adb-2234567890123452.2.azuredatabricks.net",
                           prod="adb-3234567890123453.3.azuredatabricks.net/", ci="https://adb-2234567890123452.2.azuredatabricks.net")
    env.setenv("DATABRICKS_CONFIG_FILE", str(config))
    found = workspace_host(staging)   # a profile named after the environment
    assert (found.host, found.source, found.job_wide) == (
        "https://adb-2234567890123452.2.azuredatabricks.net", f"profile [staging] of {config}", False)
    assert workspace_host(prod).host == "https://adb-3234567890123453.3.azuredatabricks.net"
    env.setenv("DATABRICKS_CONFIG_PROFILE", "ci")
    found = workspace_host(staging)
    assert found.source == f"profile [ci] of {config} (DATABRICKS_CONFIG_PROFILE)" and found.job_wide
    env.delenv("DATABRICKS_CONFIG_PROFILE")
    env.setenv("DATABRICKS_HOST", "https://adb-2234567890123452.2.azuredatabricks.net")
    assert workspace_host(staging).source == "DATABRICKS_HOST"
    env.setenv("DATABRICKS_HOST_PROD", "https://adb-3234567890123453.3.azuredatabricks.net")
    assert workspace_host(prod).source == "DATABRICKS_HOST_PROD"   # the override beats the job-wide host


def test_workspace_host_refusals(env, examples, tmp_path):
    from lakegate.promotion.databricks.factory import workspace_host

    staging = examples["staging"]
    config = databrickscfg(tmp_path / "databrickscfg", staging="https://adb-2234567890123452.2.azuredatabricks.net")
    env.setenv("DATABRICKS_CONFIG_FILE", str(config))
    cases = [
        ({"DATABRICKS_HOST": "https://adb-2234567890123452.9.azuredatabricks.net"},
         rf"^databricks: staging: DATABRICKS_HOST \(https://adb-2234567890123452.9.azuredatabricks.net\) and "
         rf"profile \[staging\] of {config} \(https://adb-2234567890123452.2.azuredatabricks.net\) name different "
         "workspaces: unset one$"),
        ({"DATABRICKS_HOST_STAGING": "https://adb-1234567890123451.1.azuredatabricks.net"},
         r"^databricks: staging: DATABRICKS_HOST_STAGING is workspace 1234567890123451, not staging's workspace "
         r"2234567890123452 \(workspace.id\)$"),
        ({"DATABRICKS_HOST_STAGING": "$(DATABRICKS_HOST)"}, r"a CI variable that was never defined"),
        ({"DATABRICKS_HOST_STAGING": "http://adb.example.com"}, r"not an https URL of a workspace$"),
        ({"DATABRICKS_CONFIG_PROFILE": "nope"}, rf"^databricks: DATABRICKS_CONFIG_PROFILE is 'nope', but {config} has "
                                                r"no \[nope\] profile$"),
        ({"LAKEGATE_STAGING_DATABRICKS_HOST": "https://x"}, r"^databricks: staging: LAKEGATE_STAGING_DATABRICKS_HOST "
                                                            r"is no longer read: set DATABRICKS_HOST_STAGING"),
    ]
    for variables, message in cases:
        with env.context() as scoped:
            for name, value in variables.items():
                scoped.setenv(name, value)
            with pytest.raises(CredentialsError, match=message):
                workspace_host(staging)


def test_the_factory_with_the_sdks_names_end_to_end(env, entra, examples):
    """DATABRICKS_HOST and Terraform's ARM_* as a CI job sets them: staging's adapter acts as staging's principal,
    in staging's tenant; a second environment cannot reuse the job's one workspace."""
    from lakegate.promotion.databricks.factory import databricks_adapter_factory

    entra.apps[STAGING_CLIENT] = "sp-lakegate-staging"
    trust(env, entra)
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{entra.url}/github/token?api-version=2.0")
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", entra.github_request_token)
    env.setenv("ARM_CLIENT_ID", STAGING_CLIENT)
    env.setenv("ARM_USE_OIDC", "true")
    with DatabricksStub() as workspace:
        workspace.token_issuers.append(entra.principal_of_token)
        workspace.grant("sp-lakegate-staging", "staging", "read", "write")
        env.setenv("DATABRICKS_HOST", workspace.url)
        env.setenv("ARM_TENANT_ID", TENANT)   # not the environment's tenant
        with pytest.raises(CredentialsError, match=rf"^azure-workload-identity: the credentials are for tenant "
                                                   rf"{TENANT}, not {YAML_TENANT} \(the environment's azure.tenant_id\)$"):
            databricks_adapter_factory(examples)("staging")
        env.setenv("ARM_TENANT_ID", YAML_TENANT)
        factory = databricks_adapter_factory(examples)
        assert factory("staging").list_versions("staging.ml.churn") == []
        assert workspace.requests[-1].principal == "sp-lakegate-staging"
        with pytest.raises(CredentialsError, match=r"^databricks: prod: DATABRICKS_HOST names one workspace, already "
                                                   r"used for staging; .* set DATABRICKS_HOST_PROD"):
            factory("prod")
