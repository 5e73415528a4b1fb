"""`azure-workload-identity`: a short-lived OIDC token from the CI system (or AKS) exchanged for an Entra token."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import requests

from .azure import CLIENT_ID, TENANT_ID, AzureCredentials, AzureStrategy, switched_off
from .base import Secret, first_set

# The audience Entra expects in a federated (OIDC) assertion.
ENTRA_FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
# OIDC token sources. GitHub Actions sets ACTIONS_ID_TOKEN_REQUEST_* in a job with `id-token: write`;
# Azure DevOps has System.OidcRequestUri / System.AccessToken, and AzureCLI@2 names its service connection
# AZURESUBSCRIPTION_SERVICE_CONNECTION_ID (Terraform: ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID). As in the
# azurerm provider, ARM_OIDC_REQUEST_URL / ARM_OIDC_REQUEST_TOKEN come first, and a request URL without
# a service connection is GitHub's.
REQUEST_URL_GITHUB = ("ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL")
REQUEST_TOKEN_GITHUB = ("ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
REQUEST_URL_ADO = ("ARM_OIDC_REQUEST_URL", "SYSTEM_OIDCREQUESTURI")
REQUEST_TOKEN_ADO = ("ARM_OIDC_REQUEST_TOKEN", "SYSTEM_ACCESSTOKEN")
SERVICE_CONNECTION = ("ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID", "ARM_OIDC_AZURE_SERVICE_CONNECTION_ID",
                      "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID")
TOKEN_FILE = ("ARM_OIDC_TOKEN_FILE_PATH", "AZURE_FEDERATED_TOKEN_FILE")


class AzureWorkloadIdentity(AzureStrategy):
    """OIDC federation: a short-lived token from the CI system (or AKS) is exchanged for an Entra token.

    Sources, first match wins: Azure DevOps (a workload-identity service connection: its id with
    System.OidcRequestUri and System.AccessToken, e.g. inside AzureCLI@2), GitHub Actions (a job with
    `permissions: id-token: write`), a token given directly (ARM_OIDC_TOKEN, or AzureCLI@2's `idToken`
    with addSpnToEnvironment), a federated token file (AKS, ARM_OIDC_TOKEN_FILE_PATH). Tokens are
    requested again whenever Entra needs a new assertion, so a long deploy never outlives its token.
    `ARM_USE_OIDC=false` turns the strategy off.
    """

    name = "azure-workload-identity"
    fields = (*CLIENT_ID, *TENANT_ID, "ARM_USE_OIDC", "ARM_OIDC_REQUEST_URL", "ARM_OIDC_REQUEST_TOKEN",
              "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SYSTEM_OIDCREQUESTURI",
              "SYSTEM_ACCESSTOKEN", *SERVICE_CONNECTION, "ARM_OIDC_TOKEN", "idToken", *TOKEN_FILE,
              "AZURE_AUTHORITY_HOST")

    def _source(self) -> str | None:
        if switched_off("ARM_USE_OIDC"):
            return None
        if first_set(SERVICE_CONNECTION) and first_set(REQUEST_URL_ADO):
            return "azure-devops"
        if first_set(REQUEST_URL_GITHUB):
            return "github-actions"
        if first_set(("ARM_OIDC_TOKEN", "idToken")):
            return "token"
        if first_set(TOKEN_FILE):
            return "token-file"
        if os.environ.get("ARM_USE_OIDC", "").strip().lower() in ("true", "1", "yes", "on"):
            return "missing"
        return None

    def applies(self) -> bool:
        return self._source() is not None

    def how_to_configure(self) -> str:
        # (tests/test_doctor.py pins this line; ARM_CLIENT_ID / ARM_TENANT_ID are read first, see CLIENT_ID)
        return (f"{self.name}: set AZURE_CLIENT_ID and AZURE_TENANT_ID and run in GitHub Actions with "
                "`id-token: write`, in an Azure DevOps workload-identity service connection, or on AKS")

    def build(self) -> AzureCredentials:
        from azure.identity import ClientAssertionCredential

        source = self._source()
        if source in (None, "missing"):
            raise self._fail("ARM_USE_OIDC is true but there is no OIDC token source (" + self.how_to_configure()
                             .split(": ", 1)[1] + ")")
        client_id, tenant_id = self.client_id(), self.tenant_id()
        if source == "azure-devops":
            connection = first_set(SERVICE_CONNECTION)[1]
            url = first_set(REQUEST_URL_ADO)[1]
            self._require("|".join(REQUEST_TOKEN_ADO))
            assertion, described = self._azure_devops_oidc_token, f"Azure DevOps OIDC, service connection {connection}"
            self._ado = (url, connection)
        elif source == "github-actions":
            self._require("|".join(REQUEST_TOKEN_GITHUB))
            assertion, described = self._github_oidc_token, "GitHub Actions OIDC"
        elif source == "token":
            name, token = first_set(("ARM_OIDC_TOKEN", "idToken"))
            secret = Secret(token)
            assertion, described = secret.reveal, f"OIDC token from {name}"
        else:
            name, token_file = first_set(TOKEN_FILE)
            path = Path(token_file)
            if not path.is_file():
                raise self._fail(f"{name} {token_file} does not exist")
            described = "AKS federated token file" if name == "AZURE_FEDERATED_TOKEN_FILE" else f"federated token file ({name})"
            assertion = lambda: path.read_text().strip()  # noqa: E731 - read again for every new assertion
        credential = ClientAssertionCredential(tenant_id=tenant_id, client_id=client_id, func=assertion)
        return AzureCredentials(self.name, f"{described}, client {client_id}, tenant {tenant_id}", credential,
                                client_id=client_id, tenant_id=tenant_id)

    def _github_oidc_token(self) -> str:
        """Ask the GitHub Actions runtime for a fresh OIDC token with Entra's federation audience."""
        url = first_set(REQUEST_URL_GITHUB)[1]
        bearer = (first_set(REQUEST_TOKEN_GITHUB) or ("", ""))[1]
        parts = urllib.parse.urlsplit(url)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "audience"]
        url = urllib.parse.urlunsplit(parts._replace(
            query=urllib.parse.urlencode(query + [("audience", ENTRA_FEDERATION_AUDIENCE)])))
        response = self._request("GET", url, bearer, "GitHub OIDC token request")
        try:
            return response.json()["value"]
        except (ValueError, KeyError, TypeError):
            raise self._fail("GitHub OIDC token response has no `value`") from None

    def _azure_devops_oidc_token(self) -> str:
        """Ask Azure DevOps for a fresh OIDC token of the service connection (what AzurePipelinesCredential does)."""
        url, connection = self._ado
        bearer = (first_set(REQUEST_TOKEN_ADO) or ("", ""))[1]
        parts = urllib.parse.urlsplit(url)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in ("api-version", "serviceConnectionId")]
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(
            query + [("api-version", "7.1"), ("serviceConnectionId", connection)])))
        response = self._request("POST", url, bearer, "Azure DevOps OIDC token request")
        try:
            return response.json()["oidcToken"]
        except (ValueError, KeyError, TypeError):
            raise self._fail("Azure DevOps OIDC token response has no `oidcToken`") from None

    def _request(self, method: str, url: str, bearer: str, what: str):
        try:
            response = requests.request(method, url, headers={"Authorization": f"Bearer {bearer}",
                                                              "Content-Type": "application/json"},
                                        timeout=30, allow_redirects=False)
        except requests.RequestException as e:
            raise self._fail(f"{what} failed: {type(e).__name__}") from None
        if response.status_code != 200:
            raise self._fail(f"{what} answered HTTP {response.status_code}")
        return response
