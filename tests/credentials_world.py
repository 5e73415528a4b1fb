"""The world the credential tests share (tests/test_credentials.py, tests/test_credentials_names.py).

Environment is set with monkeypatch only. The OIDC token exchanges run for real through azure-identity
against `EntraStub` below: an HTTPS server on 127.0.0.1 with a throwaway self-signed certificate
(azure-identity refuses a plain-http authority), reached through AZURE_AUTHORITY_HOST and trusted
through REQUESTS_CA_BUNDLE. It plays Entra's token endpoint and the GitHub Actions / Azure DevOps OIDC
token services. Every secret a test uses contains "SECRET", so a leak is one substring check away.
The Azure CLI strategy runs a stand-in `az` executable placed on PATH.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path

import pytest

from lakegate.promotion.credentials import azure_strategies

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




AZ = """#!/bin/sh
case "$*" in
  *"--resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"*)
    echo '{"accessToken": "cli-token-SECRET", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800,
           "subscription": "sub", "tenant": "%s", "tokenType": "Bearer"}' ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
""" % TENANT


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
