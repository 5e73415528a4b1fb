"""Credential strategies and the chain (promotion/credentials/).

Environment is set with monkeypatch only. The OIDC token exchanges run for real through azure-identity
against `EntraStub` below: an HTTPS server on 127.0.0.1 with a throwaway self-signed certificate
(azure-identity refuses a plain-http authority), reached through AZURE_AUTHORITY_HOST and trusted
through REQUESTS_CA_BUNDLE. It plays Entra's token endpoint and the GitHub Actions / Azure DevOps OIDC
token services. Every secret a test uses contains "SECRET", so a leak is one substring check away.
The Azure CLI strategy runs a stand-in `az` executable placed on PATH.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.parse
from pathlib import Path

import pytest

from lakegate.promotion.credentials import (
    AZURE_DATABRICKS_SCOPE, STRATEGY_NAMES, AzureCredentials, CredentialsError, Secret, azure_strategies,
    databricks_config, local_login, resolve_credentials,
)
from lakegate.promotion.databricks import UnityCatalogAdapter

from .arm_stub import self_signed_certificate
from .databricks_stub import DatabricksStub, StubError, StubServer

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "5f0b1c2d-0000-4000-8000-00000000a11c"



class EntraStub(StubServer):
    """POST /<tenant>/oauth2/v2.0/token (client-assertion grant), GET /github/token (GitHub Actions'
    ACTIONS_ID_TOKEN_REQUEST_URL), POST /ado/oidctoken (Azure DevOps' SYSTEM_OIDCREQUESTURI)."""

    def __init__(self, tls: tuple[Path, Path]):
        super().__init__(tls)
        self.github_request_token = "gh-request-token-SECRET"
        self.github_oidc_token = "eyJhbGciOiJSUzI1NiJ9.github-oidc-SECRET.sig"
        self.ado_access_token = "ado-system-access-token-SECRET"
        self.ado_oidc_token = "eyJhbGciOiJSUzI1NiJ9.ado-oidc-SECRET.sig"
        self.aks_token = "eyJhbGciOiJSUzI1NiJ9.aks-sa-SECRET.sig"
        self.accepted_assertions: set[str] = {self.github_oidc_token, self.ado_oidc_token, self.aks_token}
        self.apps: dict[str, str] = {}        # Entra application (client) id -> service principal name
        self.issued: dict[str, str] = {}      # access token handed out -> client id
        self.routes = [
            ("POST", re.compile(r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token"), self._token),
            ("GET", re.compile("/github/token"), self._github),
            ("POST", re.compile("/ado/oidctoken"), self._ado),
        ]

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> StubError:
        return StubError(status, error, description, {"error": error, "error_description": description,
                                                      "error_codes": [int(description[6:12])]})

    def principal_of_token(self, token: str) -> str | None:
        """For DatabricksStub.token_issuers: the workspace accepts Entra tokens of known applications."""
        return self.apps.get(self.issued.get(token, ""))

    def _bearer(self, handler) -> str:
        header = handler.headers.get("Authorization", "")
        return header.split(" ", 1)[1] if " " in header else ""

    def _github(self, query, handler, **_):
        if self._bearer(handler) != self.github_request_token:
            raise StubError(401, "Unauthorized", "bad request token")
        return None, {"count": 1, "value": self.github_oidc_token}

    def _ado(self, query, handler, **_):
        if self._bearer(handler) != self.ado_access_token:
            raise StubError(401, "Unauthorized", "bad system access token")
        return None, {"oidcToken": self.ado_oidc_token}

    def _token(self, tenant, raw, **_):
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        assertion = form.pop("client_assertion", None)
        form.pop("client_secret", None)
        recorded = {**form, "tenant": tenant, "assertion_accepted": assertion in self.accepted_assertions}
        if not recorded["assertion_accepted"]:
            raise self._oauth_error(401, "invalid_client", "AADSTS700211: No matching federated identity record found.")
        if form.get("client_id") not in self.apps:
            raise self._oauth_error(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
        with self.lock:
            token = f"entra-access-token-{len(self.issued) + 1}-SECRET"
            self.issued[token] = form["client_id"]
        return recorded, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}


# ------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def entra(tmp_path_factory):
    cert = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    with EntraStub(cert) as stub:
        stub.cert = cert[0]
        stub.apps[CLIENT] = "sp-mlops-staging"
        yield stub


@pytest.fixture(scope="module")
def workspace():
    """Config() probes the host's /.well-known/databricks-config, so hosts must answer: the stub does."""
    with DatabricksStub() as stub:
        yield stub


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean slate: no credential variable of any strategy, no Azure CLI login, no Databricks profile."""
    names = {f for s in azure_strategies() for f in s.fields if f != "PATH"}
    for name in list(os.environ):
        if name in names or name.startswith(("DATABRICKS_", "AZURESUBSCRIPTION_")):
            monkeypatch.delenv(name)
    (tmp_path / "azure").mkdir()
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure"))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    return monkeypatch


def trust(env, entra):
    env.setenv("AZURE_AUTHORITY_HOST", entra.url)
    env.setenv("REQUESTS_CA_BUNDLE", str(entra.cert))


def github_actions(env, entra):
    trust(env, entra)
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{entra.url}/github/token?api-version=2.0")
    env.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", entra.github_request_token)
    env.setenv("AZURE_CLIENT_ID", CLIENT)
    env.setenv("AZURE_TENANT_ID", TENANT)


def client_secret(env):
    env.setenv("AZURE_CLIENT_ID", CLIENT)
    env.setenv("AZURE_TENANT_ID", TENANT)
    env.setenv("AZURE_CLIENT_SECRET", "client-secret-value-SECRET")


def no_secret_in(*texts: str) -> bool:
    return not any("SECRET" in t for t in texts)


def entra_exchanges(entra):
    return [r for r in entra.calls("POST") if r.path.endswith("/oauth2/v2.0/token")]


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


AZ = """#!/bin/sh
case "$*" in
  *"--resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"*)
    echo '{"accessToken": "cli-token-SECRET", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800,
           "subscription": "sub", "tenant": "%s", "tokenType": "Bearer"}' ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
""" % TENANT


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


# ------------------------------------------------------------------------------------------------
# the ecosystem's names: Terraform's ARM_*, what GitHub Actions and Azure DevOps set, databricks-sdk's


def signed_in_az(env, tmp_path):
    """What azure/login and AzureCLI@2 leave behind: `az` on PATH with a signed-in account."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "az").write_text(AZ)
    (bin_dir / "az").chmod(0o755)
    env.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    profile = Path(os.environ["AZURE_CONFIG_DIR"]) / "azureProfile.json"
    profile.write_text(json.dumps({"subscriptions": [{"id": "sub", "tenantId": TENANT}]}), encoding="utf-8-sig")


def token_principal(entra, config) -> str | None:
    return entra.principal_of_token(config.authenticate()["Authorization"].removeprefix("Bearer "))


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
