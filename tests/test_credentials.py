"""Credential strategies and the chain (promotion/credentials.py).

Environment is set with monkeypatch only. The OIDC token exchanges run for real through azure-identity
against `EntraStub` below: an HTTPS server on 127.0.0.1 with a throwaway self-signed certificate
(azure-identity refuses a plain-http authority), reached through AZURE_AUTHORITY_HOST and trusted
through REQUESTS_CA_BUNDLE. It plays Entra's token endpoint and the GitHub Actions / Azure DevOps OIDC
token services. Every secret a test uses contains "SECRET", so a leak is one substring check away.
The Azure CLI strategy runs a stand-in `az` executable placed on PATH.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import os
import re
import sys
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from databricks_stub import DatabricksStub, StubError, StubServer  # noqa: E402

from promotion.credentials import (  # noqa: E402
    AZURE_DATABRICKS_SCOPE, STRATEGY_NAMES, AzureCredentials, CredentialsError, Secret, azure_strategies,
    databricks_config, local_login, resolve_credentials,
)
from promotion.databricks import UnityCatalogAdapter  # noqa: E402

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "5f0b1c2d-0000-4000-8000-00000000a11c"



def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (it is its own CA; point REQUESTS_CA_BUNDLE at it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "stub-cert.pem", directory / "stub-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


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
    with pytest.raises(CredentialsError, match=r"^azure-workload-identity: AZURE_TENANT_ID is not set$"):
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
    with pytest.raises(CredentialsError, match=r"^azure-client-secret: AZURE_TENANT_ID is not set$"):
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
