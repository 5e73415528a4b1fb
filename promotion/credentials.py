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


class Strategy(ABC):
    """One way of obtaining credentials. `resolve()` returns None when the strategy does not apply."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]   # the inputs it reads (environment variables unless noted)

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
            value = next((os.environ[o] for o in options if os.environ.get(o)), None)
            if value is None:
                raise self._fail(f"{' or '.join(options)} is not set")
            values.append(value)
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AzureWorkloadIdentity(Strategy):
    """OIDC federation: a short-lived token from the CI system (or AKS) is exchanged for an Entra token.

    Sources, first match wins: GitHub Actions (job has `permissions: id-token: write`), Azure DevOps
    (a workload-identity service connection, e.g. inside AzureCLI@2), AKS workload identity.
    """

    name = "azure-workload-identity"
    fields = (
        "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
        "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SYSTEM_OIDCREQUESTURI", "SYSTEM_ACCESSTOKEN", "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
        "AZURESUBSCRIPTION_CLIENT_ID", "AZURESUBSCRIPTION_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
    )

    def _source(self) -> str | None:
        env = os.environ
        if env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
            return "github-actions"
        if env.get("SYSTEM_OIDCREQUESTURI") and env.get("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"):
            return "azure-devops"
        if env.get("AZURE_FEDERATED_TOKEN_FILE"):
            return "aks"
        return None

    def applies(self) -> bool:
        return self._source() is not None

    def how_to_configure(self) -> str:
        return (f"{self.name}: set AZURE_CLIENT_ID and AZURE_TENANT_ID and run in GitHub Actions with "
                "`id-token: write`, in an Azure DevOps workload-identity service connection, or on AKS")

    def build(self) -> AzureCredentials:
        from azure.identity import AzurePipelinesCredential, ClientAssertionCredential
        from azure.identity import WorkloadIdentityCredential

        source = self._source()
        if source == "github-actions":
            client_id, tenant_id, _ = self._require(
                "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            credential = ClientAssertionCredential(
                tenant_id=tenant_id, client_id=client_id, func=self._github_oidc_token)
            described = "GitHub Actions OIDC"
        elif source == "azure-devops":
            client_id, tenant_id, connection, access_token = self._require(
                "AZURE_CLIENT_ID|AZURESUBSCRIPTION_CLIENT_ID", "AZURE_TENANT_ID|AZURESUBSCRIPTION_TENANT_ID",
                "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "SYSTEM_ACCESSTOKEN")
            credential = AzurePipelinesCredential(
                tenant_id=tenant_id, client_id=client_id, service_connection_id=connection,
                system_access_token=access_token)
            described = f"Azure DevOps OIDC, service connection {connection}"
        elif source == "aks":
            client_id, tenant_id, token_file = self._require(
                "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE")
            if not Path(token_file).is_file():
                raise self._fail(f"AZURE_FEDERATED_TOKEN_FILE {token_file} does not exist")
            credential = WorkloadIdentityCredential(
                tenant_id=tenant_id, client_id=client_id, token_file_path=token_file)
            described = "AKS federated token file"
        else:
            raise self._fail("no OIDC source found (" + self.how_to_configure() + ")")
        return AzureCredentials(self.name, f"{described}, client {client_id}, tenant {tenant_id}", credential)

    def _github_oidc_token(self) -> str:
        """Ask the GitHub Actions runtime for a fresh OIDC token with Entra's federation audience."""
        url = os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query) + [("audience", ENTRA_FEDERATION_AUDIENCE)]
        url = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
        try:
            response = requests.get(url, headers={"Authorization": f"bearer {bearer}"}, timeout=30)
        except requests.RequestException as e:
            raise self._fail(f"GitHub OIDC token request failed: {type(e).__name__}") from None
        if response.status_code != 200:
            raise self._fail(f"GitHub OIDC token request answered HTTP {response.status_code}")
        try:
            return response.json()["value"]
        except (ValueError, KeyError):
            raise self._fail("GitHub OIDC token response has no `value`") from None


class AzureClientSecret(Strategy):
    """A service principal's client secret from environment variables (long-lived: OIDC is preferred)."""

    name = "azure-client-secret"
    fields = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST")

    def applies(self) -> bool:
        return bool(os.environ.get("AZURE_CLIENT_SECRET"))

    def how_to_configure(self) -> str:
        return f"{self.name}: set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"

    def build(self) -> AzureCredentials:
        from azure.identity import ClientSecretCredential

        client_id, tenant_id, secret = self._require("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")
        log.warning("%s: a long-lived client secret is in use; prefer azure-workload-identity (OIDC "
                    "federation from CI), which needs no stored secret", self.name)
        credential = ClientSecretCredential(tenant_id=tenant_id, client_id=client_id, client_secret=secret)
        return AzureCredentials(self.name, f"client secret, client {client_id}, tenant {tenant_id}", credential)


class AzureCli(Strategy):
    """A person signed in with `az login`: applies when `az` is on PATH and has a signed-in account."""

    name = "azure-cli"
    fields = ("PATH", "AZURE_CONFIG_DIR", "AZURE_TENANT_ID")

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
        return shutil.which("az") is not None and self._signed_in()

    def how_to_configure(self) -> str:
        return f"{self.name}: install the Azure CLI and run `az login`"

    def build(self) -> AzureCredentials:
        from azure.identity import AzureCliCredential

        tenant_id = os.environ.get("AZURE_TENANT_ID") or None
        credential = AzureCliCredential(tenant_id=tenant_id) if tenant_id else AzureCliCredential()
        return AzureCredentials(self.name, f"Azure CLI account ({self._profile()})", credential)


class LocalPassword(Strategy):
    """The password of `principal` from the local embedded registry's credentials file (mode 0600).

    The file is the JSON promotion/local/secret_file.py writes (`{"users": {principal: password}}`);
    also accepted: YAML, a flat principal -> password mapping, or principal -> {password: ...}.
    """

    name = "local-password"
    fields = ("credentials_file", "principal")   # given by the caller, not environment variables

    def __init__(self, credentials_file: str | os.PathLike | None, principal: str):
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


def azure_strategies() -> list[Strategy]:
    """The Databricks chain, in order of preference: federation, then secret, then a person's CLI."""
    return [AzureWorkloadIdentity(), AzureClientSecret(), AzureCli()]


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


def databricks_config(host: str, *, pinned: str | None = None, **config_kwargs: Any) -> Config:
    """The databricks-sdk Config for the workspace at `host`, credentials from the Azure chain."""
    credentials = resolve_credentials(azure_strategies(), pinned)
    assert isinstance(credentials, AzureCredentials)
    return credentials.databricks_config(host, **config_kwargs)


def local_login(credentials_file: str | os.PathLike, principal: str, *, pinned: str | None = None) -> LocalLogin:
    """The basic-auth login of `principal` to the local embedded registry."""
    login = resolve_credentials([LocalPassword(credentials_file, principal)], pinned)
    assert isinstance(login, LocalLogin)
    return login


__all__ = [
    "AZURE_DATABRICKS_SCOPE", "STRATEGY_NAMES", "AzureCli", "AzureClientSecret", "AzureCredentials",
    "AzureWorkloadIdentity", "CredentialsError", "EntraTokenStrategy", "LocalLogin", "LocalPassword",
    "Secret", "Strategy", "azure_strategies", "databricks_config", "local_login", "resolve_credentials",
]
