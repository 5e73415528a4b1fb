"""Credential strategies and the chain (promotion/credentials/): OIDC exchanges through azure-identity against a
local Entra stand-in, the Azure CLI, client secrets, the local password (tests/credentials_world.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from lakegate.promotion.credentials import (
    AZURE_DATABRICKS_SCOPE, STRATEGY_NAMES, AzureCredentials, CredentialsError, Secret, azure_strategies,
    databricks_config, local_login, resolve_credentials,
)
from lakegate.promotion.databricks import UnityCatalogAdapter

from .credentials_world import AZ, CLIENT, TENANT, client_secret, entra_exchanges, github_actions, no_secret_in, trust
from .credentials_world import entra, env, workspace  # noqa: F401 - fixtures
from .databricks_stub import DatabricksStub


# ------------------------------------------------------------------------------------------------
# azure-workload-identity


def test_github_actions_oidc_is_exchanged_for_a_databricks_token_end_to_end(env, workspace, entra, caplog):
    github_actions(env, entra)
    caplog.set_level(logging.DEBUG)
    before = len(entra_exchanges(entra))
    with DatabricksStub() as workspace:
        workspace.token_issuers.append(entra.principal_of_token)
        workspace.grant("sp-mlops-staging", "staging", "read", "write")
        config = databricks_config(workspace.url)
        adapter = UnityCatalogAdapter(config, "sp-mlops-staging")
        assert adapter.list_versions("staging.ml.churn") == []
        assert workspace.requests[-1].principal == "sp-mlops-staging"   # the Entra token was accepted

    github = entra.calls("GET", "/github/token")[-1]
    assert github.query == {"api-version": "2.0", "audience": "api://AzureADTokenExchange"}
    exchange = entra_exchanges(entra)[before:]
    assert len(exchange) == 1 and exchange[0].body == {
        "client_id": CLIENT, "grant_type": "client_credentials", "scope": AZURE_DATABRICKS_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "tenant": TENANT, "assertion_accepted": True}
    assert config.auth_type == "azure-workload-identity"
    assert "credentials: using azure-workload-identity (GitHub Actions OIDC, client " + CLIENT in caplog.text
    assert no_secret_in(caplog.text, repr(config), str(config.as_dict()))


def test_azure_devops_service_connection_oidc(env, workspace, entra):
    trust(env, entra)
    env.setenv("SYSTEM_OIDCREQUESTURI", f"{entra.url}/ado/oidctoken")
    env.setenv("SYSTEM_ACCESSTOKEN", entra.ado_access_token)
    env.setenv("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "sc-0001")
    env.setenv("AZURESUBSCRIPTION_CLIENT_ID", CLIENT)
    env.setenv("AZURESUBSCRIPTION_TENANT_ID", TENANT)
    credentials = resolve_credentials(azure_strategies())
    assert credentials.strategy == "azure-workload-identity" and "Azure DevOps" in credentials.description
    headers = credentials.databricks_config(workspace.url).authenticate()
    assert entra.principal_of_token(headers["Authorization"].removeprefix("Bearer ")) == "sp-mlops-staging"
    assert entra.calls("POST", "/ado/oidctoken")[-1].query == {"api-version": "7.1", "serviceConnectionId": "sc-0001"}


def test_aks_federated_token_file(env, workspace, entra, tmp_path):
    trust(env, entra)
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(entra.aks_token)
    env.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    env.setenv("AZURE_CLIENT_ID", CLIENT)
    env.setenv("AZURE_TENANT_ID", TENANT)
    headers = databricks_config(workspace.url).authenticate()
    assert entra.principal_of_token(headers["Authorization"].removeprefix("Bearer ")) == "sp-mlops-staging"


def test_workload_identity_errors_name_the_strategy(env, workspace, entra):
    github_actions(env, entra)
    env.delenv("AZURE_TENANT_ID")
    with pytest.raises(CredentialsError, match=r"^azure-workload-identity: ARM_TENANT_ID \(or AZURE_TENANT_ID\) is not set$"):
        databricks_config(workspace.url)
    env.setenv("AZURE_TENANT_ID", TENANT)
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong-request-token-SECRET")
    config = databricks_config(workspace.url)
    with pytest.raises(CredentialsError) as failed:
        config.authenticate()
    assert str(failed.value).startswith("azure-workload-identity: ")
    assert "HTTP 401" in str(failed.value) and no_secret_in(str(failed.value))
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", entra.github_request_token)
    env.setenv("AZURE_CLIENT_ID", "00000000-0000-4000-8000-000000000bad")   # no federated credential in Entra
    with pytest.raises(
            CredentialsError, match=r"^azure-workload-identity: could not get an Entra token: .*AADSTS700016"):
        databricks_config(workspace.url).authenticate()


# ------------------------------------------------------------------------------------------------
# azure-client-secret, azure-cli, local-password


def test_client_secret_applies_warns_and_never_prints_the_secret(env, workspace, caplog):
    client_secret(env)
    caplog.set_level(logging.DEBUG)
    credentials = resolve_credentials(azure_strategies())
    assert isinstance(credentials, AzureCredentials) and credentials.strategy == "azure-client-secret"
    warning = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "lakegate.credentials"]
    assert warning and "prefer azure-workload-identity" in warning[0].getMessage()
    config = credentials.databricks_config(workspace.url)
    assert no_secret_in(caplog.text, repr(credentials), str(credentials), repr(config))
    env.delenv("AZURE_TENANT_ID")
    with pytest.raises(CredentialsError, match=r"^azure-client-secret: ARM_TENANT_ID \(or AZURE_TENANT_ID\) is not set$"):
        resolve_credentials(azure_strategies())



def test_azure_cli_applies_only_when_az_is_installed_and_signed_in(env, workspace, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env.setenv("PATH", str(bin_dir))
    assert not any(s.applies() for s in azure_strategies())          # no az at all
    (bin_dir / "az").write_text(AZ)
    (bin_dir / "az").chmod(0o755)
    profile = Path(os.environ["AZURE_CONFIG_DIR"]) / "azureProfile.json"
    profile.write_text(json.dumps({"subscriptions": []}), encoding="utf-8-sig")
    assert not any(s.applies() for s in azure_strategies())          # installed, signed out
    profile.write_text(json.dumps({"subscriptions": [{"id": "sub", "tenantId": TENANT}]}), encoding="utf-8-sig")
    config = databricks_config(workspace.url)
    assert config.auth_type == "azure-cli"
    assert config.authenticate() == {"Authorization": "Bearer cli-token-SECRET"}


def test_local_password_reads_a_private_file_and_keeps_the_password_hidden(env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "credentials.json"   # the shape promotion/local/secret_file.py writes
    path.write_text(json.dumps({"admin": {"username": "admin", "password": "admin-pw-SECRET"},
                                "flask_secret_key": "flask-SECRET", "users": {"sp-mlops-staging": "local-pw-SECRET"}}))
    path.chmod(0o600)
    login = local_login(path, "sp-mlops-staging")
    assert (login.strategy, login.username, login.password.reveal()) == (
        "local-password", "sp-mlops-staging", "local-pw-SECRET")
    assert no_secret_in(repr(login), str(login), f"{login.password}", caplog.text)
    assert "credentials: using local-password (principal sp-mlops-staging)" in caplog.text
    with pytest.raises(CredentialsError, match="^local-password: .* has no password for principal sp-nobody$"):
        local_login(path, "sp-nobody")
    path.chmod(0o644)
    with pytest.raises(CredentialsError, match=r"^local-password: .* is readable by other users \(mode 0644\)"):
        local_login(path, "sp-mlops-staging")
    with pytest.raises(CredentialsError, match=r"^local-password: pinned but not configured: start the local registry"):
        local_login(tmp_path / "missing.json", "sp-mlops-staging", pinned="local-password")


# ------------------------------------------------------------------------------------------------
# the chain


def test_the_chain_requires_exactly_one_configured_strategy_unless_pinned(env, workspace, entra, caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(CredentialsError, match="^credentials: no strategy is configured; azure-workload-identity: "):
        resolve_credentials(azure_strategies())
    github_actions(env, entra)
    client_secret(env)
    with pytest.raises(CredentialsError) as both:
        resolve_credentials(azure_strategies())
    assert "more than one strategy is configured (azure-workload-identity, azure-client-secret)" in str(both.value)
    assert resolve_credentials(azure_strategies(), pinned="azure-client-secret").strategy == "azure-client-secret"
    pinned = resolve_credentials(azure_strategies(), pinned="azure-workload-identity")
    assert pinned.strategy == "azure-workload-identity"
    assert "credentials: using azure-workload-identity" in caplog.text and "[pinned]" in caplog.text
    with pytest.raises(CredentialsError, match=r"^azure-cli: pinned but not configured: install the Azure CLI"):
        resolve_credentials(azure_strategies(), pinned="azure-cli")
    with pytest.raises(CredentialsError, match=r"^local-password: cannot be used here"):
        databricks_config(workspace.url, pinned="local-password")
    with pytest.raises(CredentialsError, match=r"^credentials: unknown strategy 'azure-magic'"):
        resolve_credentials(azure_strategies(), pinned="azure-magic")
    assert no_secret_in(caplog.text)


def test_secret_prints_as_stars():
    secret = Secret("hunter2-SECRET")
    assert (str(secret), repr(secret), f"{secret}", f"{secret!r}") == ("***",) * 4
    assert repr({"password": secret}) == "{'password': ***}" and secret.reveal() == "hunter2-SECRET"
    assert set(STRATEGY_NAMES) == {"azure-workload-identity", "azure-client-secret", "azure-cli", "local-password"}


def test_the_yaml_model_accepts_exactly_the_strategies_of_the_chain():
    from typing import get_args

    from lakegate.infra.model.promotion import Credentials

    pinnable = {arg for arg in get_args(Credentials.model_fields["strategy"].annotation) if arg is not type(None)}
    (literal,) = pinnable
    assert get_args(literal) == STRATEGY_NAMES


def test_the_databricks_factory_without_a_workspace_host_raises_the_credentials_error(env, monkeypatch):
    """Exit 11 (CREDENTIALS) in the CLI: tests/test_cli_promotion.py runs it end to end."""
    from lakegate.infra.loader import load_environments
    from lakegate.promotion.errors import CredentialsError
    from lakegate.promotion.databricks.factory import databricks_adapter_factory

    for name in ("LAKEGATE_PROD_DATABRICKS_HOST", "DATABRICKS_HOST", "DATABRICKS_HOST_PROD", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    envs = load_environments(Path(__file__).resolve().parent / "fixtures" / "environments")
    with pytest.raises(CredentialsError) as missing:
        databricks_adapter_factory(envs)("prod")
    assert str(missing.value) == (
        "databricks: prod: no workspace URL: set DATABRICKS_HOST (a job for one environment), DATABRICKS_HOST_PROD, "
        f"or a [prod] profile with `host` in {os.environ['DATABRICKS_CONFIG_FILE']} (the workspace_url output of "
        "prod-azure)")
