"""Who am I? Credentials resolved through an ordered chain of named strategies.

Modelled on databricks-sdk's unified auth: each strategy is a small class that declares the inputs it
reads (environment variables, or a file for the local registry), says whether it applies, and builds
credentials or fails with an error that starts with its name. Rules of the chain:

* an environment may pin one strategy (`credentials: {strategy: ...}` in its YAML) - then only that
  one is tried;
* unpinned, exactly one strategy may apply - two applying at once is an error naming both, because a
  CI job that silently picks "the first that works" is how the wrong identity ends up deploying;
* secrets are held in `Secret`, which prints as `***`; the strategy used is logged (logger
  `lakegate.credentials`), a secret never is.

Databricks strategies turn an azure-identity credential into a databricks-sdk `Config` whose requests
carry an Entra token for the Azure Databricks resource. `local-password` signs in to the local
embedded MLflow registry instead.

The inputs are the names the ecosystem already uses, so one CI job's variables serve Terraform (cdktf)
and lakegate: Terraform's `ARM_CLIENT_ID` / `ARM_TENANT_ID` / `ARM_USE_OIDC` / `ARM_OIDC_REQUEST_URL` /
`ARM_OIDC_REQUEST_TOKEN` / `ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID` / `ARM_CLIENT_SECRET` / `ARM_USE_CLI`,
azure-identity's `AZURE_*`, what GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_*`) and Azure DevOps
(`SYSTEM_OIDCREQUESTURI`, `SYSTEM_ACCESSTOKEN`, AzureCLI@2's `AZURESUBSCRIPTION_*` and, with
addSpnToEnvironment, `servicePrincipalId` / `tenantId` / `idToken`) set, and databricks-sdk's
`DATABRICKS_CLIENT_ID`. Where several name the same thing they must agree. Which workspace is
promotion/databricks/factory.py's business (DATABRICKS_HOST, profiles).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import urllib.parse
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Sequence

import requests
import yaml
from databricks.sdk.core import Config

log = logging.getLogger("lakegate.credentials")

from .credential_types import (  # noqa: E402 - re-exported: the chain's public types
    AZURE_DATABRICKS_SCOPE, ENTRA_FEDERATION_AUDIENCE, STRATEGY_NAMES, CredentialsError, Secret, AzureCredentials, LocalLogin, EntraTokenStrategy,
)


# The names CI systems and Terraform already set, in order of preference. One job's variables serve
# cdktf (the azurerm / azuread / databricks providers read ARM_*) and lakegate alike.
CLIENT_ID = ("ARM_CLIENT_ID", "AZURE_CLIENT_ID", "AZURESUBSCRIPTION_CLIENT_ID", "servicePrincipalId",
             "DATABRICKS_CLIENT_ID")
TENANT_ID = ("ARM_TENANT_ID", "AZURE_TENANT_ID", "AZURESUBSCRIPTION_TENANT_ID", "tenantId")
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
CLIENT_SECRET = ("ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET")
_FALSE = {"false", "0", "no", "off"}


def _first(names: Sequence[str]) -> tuple[str, str] | None:
    """(name, value) of the first variable of `names` that is set and not empty."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _switched_off(name: str) -> bool:
    """Terraform's ARM_USE_OIDC / ARM_USE_CLI: an explicit false turns that way of signing in off."""
    return os.environ.get(name, "").strip().lower() in _FALSE


class Strategy(ABC):
    """One way of obtaining credentials. `resolve()` returns None when the strategy does not apply."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]   # the inputs it reads (environment variables unless noted)

    def __init__(self, tenant_id: str | None = None):
        self.default_tenant = tenant_id   # the environment's azure.tenant_id, when no variable names one

    @abstractmethod
    def applies(self) -> bool:
        """True when the inputs that select this strategy are present (it may still be incomplete)."""

    @abstractmethod
    def build(self) -> AzureCredentials | LocalLogin:
        """Build the credentials; raise CredentialsError (prefixed with the name) when incomplete."""

    @abstractmethod
    def how_to_configure(self) -> str:
        """One line telling a person what makes this strategy apply."""

    def resolve(self) -> AzureCredentials | LocalLogin | None:
        return self.build() if self.applies() else None

    def _fail(self, message: str) -> CredentialsError:
        return CredentialsError(self.name, message)

    def _require(self, *names: str) -> list[str]:
        """The values of the first-named set variable of each alternative group `A|B`, or an error."""
        values = []
        for alternatives in names:
            options = alternatives.split("|")
            found = _first(options)
            if found is None:
                raise self._fail(f"{' or '.join(options)} is not set")
            values.append(found[1])
        return values

    def _one(self, names: Sequence[str], what: str, default: str | None = None) -> str:
        """The value the variables of `names` agree on (one job, one identity), or `default`, or an error."""
        given = {name: os.environ[name].strip() for name in names if os.environ.get(name, "").strip()}
        values = {value.lower() for value in given.values()}
        if len(values) > 1:
            shown = ", ".join(f"{name}={value}" for name, value in given.items())
            raise self._fail(f"the variables naming the {what} disagree ({shown}): one job acts as one principal")
        if given:
            return next(iter(given.values()))
        if default:
            return default
        raise self._fail(f"{names[0]} (or {names[1]}) is not set")

    def client_id(self) -> str:
        return self._one(CLIENT_ID, "client id")

    def tenant_id(self) -> str:
        return self._one(TENANT_ID, "tenant id", self.default_tenant)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AzureWorkloadIdentity(Strategy):
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
        if _switched_off("ARM_USE_OIDC"):
            return None
        if _first(SERVICE_CONNECTION) and _first(REQUEST_URL_ADO):
            return "azure-devops"
        if _first(REQUEST_URL_GITHUB):
            return "github-actions"
        if _first(("ARM_OIDC_TOKEN", "idToken")):
            return "token"
        if _first(TOKEN_FILE):
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
            connection = _first(SERVICE_CONNECTION)[1]
            url = _first(REQUEST_URL_ADO)[1]
            self._require("|".join(REQUEST_TOKEN_ADO))
            assertion, described = self._azure_devops_oidc_token, f"Azure DevOps OIDC, service connection {connection}"
            self._ado = (url, connection)
        elif source == "github-actions":
            self._require("|".join(REQUEST_TOKEN_GITHUB))
            assertion, described = self._github_oidc_token, "GitHub Actions OIDC"
        elif source == "token":
            name, token = _first(("ARM_OIDC_TOKEN", "idToken"))
            secret = Secret(token)
            assertion, described = secret.reveal, f"OIDC token from {name}"
        else:
            name, token_file = _first(TOKEN_FILE)
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
        url = _first(REQUEST_URL_GITHUB)[1]
        bearer = (_first(REQUEST_TOKEN_GITHUB) or ("", ""))[1]
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
        bearer = (_first(REQUEST_TOKEN_ADO) or ("", ""))[1]
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


class AzureClientSecret(Strategy):
    """A service principal's client secret from environment variables (long-lived: OIDC is preferred)."""

    name = "azure-client-secret"
    fields = (*CLIENT_ID, *TENANT_ID, *CLIENT_SECRET, "AZURE_AUTHORITY_HOST")

    def applies(self) -> bool:
        return _first(CLIENT_SECRET) is not None

    def how_to_configure(self) -> str:
        return f"{self.name}: set ARM_CLIENT_ID, ARM_TENANT_ID and ARM_CLIENT_SECRET (or the AZURE_* names)"

    def build(self) -> AzureCredentials:
        from azure.identity import ClientSecretCredential

        client_id, tenant_id = self.client_id(), self.tenant_id()
        secret = Secret(self._one(CLIENT_SECRET, "client secret"))
        log.warning("%s: a long-lived client secret is in use; prefer azure-workload-identity (OIDC "
                    "federation from CI), which needs no stored secret", self.name)
        credential = ClientSecretCredential(tenant_id=tenant_id, client_id=client_id, client_secret=secret.reveal())
        return AzureCredentials(self.name, f"client secret, client {client_id}, tenant {tenant_id}", credential,
                                client_id=client_id, tenant_id=tenant_id)


class AzureCli(Strategy):
    """A person signed in with `az login`: applies when `az` is on PATH and has a signed-in account.

    `ARM_USE_CLI=false` (Terraform's switch) turns it off: a CI job that signed in the CLI (azure/login,
    AzureCLI@2) but authenticates with OIDC says so, and exactly one strategy applies."""

    name = "azure-cli"
    fields = ("PATH", "AZURE_CONFIG_DIR", "ARM_USE_CLI", *TENANT_ID)

    def _profile(self) -> Path:
        config_dir = os.environ.get("AZURE_CONFIG_DIR") or str(Path.home() / ".azure")
        return Path(config_dir) / "azureProfile.json"

    def _signed_in(self) -> bool:
        try:
            # az writes the profile with a byte-order mark
            profile = json.loads(self._profile().read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            return False
        return bool(profile.get("subscriptions"))

    def applies(self) -> bool:
        return not _switched_off("ARM_USE_CLI") and shutil.which("az") is not None and self._signed_in()

    def how_to_configure(self) -> str:
        return f"{self.name}: install the Azure CLI and run `az login`"

    def build(self) -> AzureCredentials:
        from azure.identity import AzureCliCredential

        found = _first(TENANT_ID)
        tenant_id = found[1] if found else self.default_tenant
        credential = AzureCliCredential(tenant_id=tenant_id) if tenant_id else AzureCliCredential()
        return AzureCredentials(self.name, f"Azure CLI account ({self._profile()})", credential, tenant_id=tenant_id)


class LocalPassword(Strategy):
    """The password of `principal` from the local embedded registry's credentials file (mode 0600).

    The file is the JSON promotion/local/secret_file.py writes (`{"users": {principal: password}}`);
    also accepted: YAML, a flat principal -> password mapping, or principal -> {password: ...}.
    """

    name = "local-password"
    fields = ("credentials_file", "principal")   # given by the caller, not environment variables

    def __init__(self, credentials_file: str | os.PathLike | None, principal: str):
        super().__init__()
        self.credentials_file = Path(credentials_file) if credentials_file else None
        self.principal = principal

    def applies(self) -> bool:
        return self.credentials_file is not None and self.credentials_file.exists()

    def how_to_configure(self) -> str:
        return f"{self.name}: start the local registry (`python main.py local up`) to create its credentials file"

    def build(self) -> LocalLogin:
        path = self.credentials_file
        if path is None or not path.is_file():
            raise self._fail(f"credentials file {path} does not exist (run `python main.py local up`)")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise self._fail(f"{path} is readable by other users (mode {mode:04o}); expected 0600")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise self._fail(f"{path} is not valid YAML/JSON{where}") from None
        users = data.get("users", data) if isinstance(data, dict) else {}
        entry = users.get(self.principal) if isinstance(users, dict) else None
        password = entry.get("password") if isinstance(entry, dict) else entry
        if not isinstance(password, str) or not password:
            raise self._fail(f"{path} has no password for principal {self.principal}")
        return LocalLogin(self.name, self.principal, Secret(password))

    def __repr__(self) -> str:
        return f"LocalPassword(credentials_file={str(self.credentials_file)!r}, principal={self.principal!r})"


def azure_strategies(tenant_id: str | None = None) -> list[Strategy]:
    """The Databricks chain, in order of preference: federation, then secret, then a person's CLI.
    `tenant_id` (the environment's azure.tenant_id) is used when no variable names the tenant."""
    return [AzureWorkloadIdentity(tenant_id), AzureClientSecret(tenant_id), AzureCli(tenant_id)]


# --------------------------------------------------------------------------------------------------
# Resolution


def resolve_credentials(strategies: Sequence[Strategy], pinned: str | None = None) -> AzureCredentials | LocalLogin:
    """Run the chain: the pinned strategy, or the single one that applies."""
    by_name = {s.name: s for s in strategies}
    if pinned is not None:
        if pinned not in STRATEGY_NAMES:
            raise CredentialsError("credentials", f"unknown strategy {pinned!r} (known: {', '.join(STRATEGY_NAMES)})")
        if pinned not in by_name:
            raise CredentialsError(pinned, f"cannot be used here (this target accepts: {', '.join(by_name)})")
        strategy = by_name[pinned]
        if not strategy.applies():
            how = strategy.how_to_configure().split(": ", 1)[1]
            raise CredentialsError(pinned, f"pinned but not configured: {how}")
        chosen = strategy
    else:
        applying = [s for s in strategies if s.applies()]
        if not applying:
            raise CredentialsError("credentials", "no strategy is configured; "
                                   + "; ".join(s.how_to_configure() for s in strategies))
        if len(applying) > 1:
            names = ", ".join(s.name for s in applying)
            raise CredentialsError("credentials", f"more than one strategy is configured ({names}); pin one "
                                   "with `credentials: {strategy: NAME}` in the environment's YAML")
        chosen = applying[0]
    result = chosen.build()
    if isinstance(result, AzureCredentials):
        log.info("credentials: using %s (%s)%s", result.strategy, result.description, " [pinned]" if pinned else "")
    else:
        log.info("credentials: using %s (principal %s)%s", result.strategy, result.username,
                 " [pinned]" if pinned else "")
    return result


def azure_credentials(*, pinned: str | None = None, tenant_id: str | None = None) -> AzureCredentials:
    """An Azure credential from the chain. With `tenant_id` (the environment's azure.tenant_id), it is the
    tenant when no variable names one, and credentials for another tenant are refused."""
    credentials = resolve_credentials(azure_strategies(tenant_id), pinned)
    if not isinstance(credentials, AzureCredentials):   # only reachable with a non-Azure strategy pinned
        raise CredentialsError(credentials.strategy, "is not an Azure credential")
    if tenant_id and credentials.tenant_id and credentials.tenant_id.lower() != tenant_id.lower():
        raise CredentialsError(credentials.strategy, f"the credentials are for tenant {credentials.tenant_id}, not "
                               f"{tenant_id} (the environment's azure.tenant_id)")
    return credentials


def databricks_config(host: str, *, pinned: str | None = None, tenant_id: str | None = None,
                      **config_kwargs: Any) -> Config:
    """The databricks-sdk Config for the workspace at `host`, credentials from the Azure chain (for the
    environment's tenant, when given)."""
    return azure_credentials(pinned=pinned, tenant_id=tenant_id).databricks_config(host, **config_kwargs)


def local_login(credentials_file: str | os.PathLike, principal: str, *, pinned: str | None = None) -> LocalLogin:
    """The basic-auth login of `principal` to the local embedded registry."""
    login = resolve_credentials([LocalPassword(credentials_file, principal)], pinned)
    assert isinstance(login, LocalLogin)
    return login


__all__ = [
    "AZURE_DATABRICKS_SCOPE", "STRATEGY_NAMES", "AzureCli", "AzureClientSecret", "AzureCredentials",
    "AzureWorkloadIdentity", "CredentialsError", "EntraTokenStrategy", "LocalLogin", "LocalPassword",
    "Secret", "Strategy", "azure_credentials", "azure_strategies", "databricks_config", "local_login",
    "resolve_credentials",
]
