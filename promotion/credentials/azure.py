"""What the three Azure strategies share: the variable names they read and the credentials they produce.

The names are the ones the ecosystem already uses, so one CI job's variables serve Terraform (cdktf)
and lakegate: Terraform's `ARM_*`, azure-identity's `AZURE_*`, what GitHub Actions
(`ACTIONS_ID_TOKEN_REQUEST_*`) and Azure DevOps (`SYSTEM_OIDCREQUESTURI`, `SYSTEM_ACCESSTOKEN`, AzureCLI@2's
`AZURESUBSCRIPTION_*` and, with addSpnToEnvironment, `servicePrincipalId` / `tenantId` / `idToken`) set, and
databricks-sdk's `DATABRICKS_CLIENT_ID`. Where several name the same thing they must agree.
`AzureCredentials.databricks_config` makes the databricks-sdk Config (databricks_auth.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .base import Strategy, first_set

if TYPE_CHECKING:
    from databricks.sdk.core import Config

# The Entra application of Azure Databricks (the same id in every tenant); tokens for it are accepted
# by every Azure Databricks workspace the principal has been added to.
AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"

# The names CI systems and Terraform already set, in order of preference. One job's variables serve
# cdktf (the azurerm / azuread / databricks providers read ARM_*) and lakegate alike.
CLIENT_ID = ("ARM_CLIENT_ID", "AZURE_CLIENT_ID", "AZURESUBSCRIPTION_CLIENT_ID", "servicePrincipalId",
             "DATABRICKS_CLIENT_ID")
TENANT_ID = ("ARM_TENANT_ID", "AZURE_TENANT_ID", "AZURESUBSCRIPTION_TENANT_ID", "tenantId")
_FALSE = {"false", "0", "no", "off"}


def switched_off(name: str) -> bool:
    """Terraform's ARM_USE_OIDC / ARM_USE_CLI: an explicit false turns that way of signing in off."""
    return os.environ.get(name, "").strip().lower() in _FALSE


@dataclass(frozen=True, repr=False)
class AzureCredentials:
    """An azure-identity credential chosen by a strategy; `databricks_config` makes an SDK Config."""

    strategy: str
    description: str          # what was used, e.g. "GitHub Actions OIDC, client 1234..."; never secret
    credential: Any           # an azure.core.credentials.TokenCredential
    client_id: str | None = None   # the application (client) id, when the strategy names one
    tenant_id: str | None = None   # the Entra tenant the tokens come from, when known

    def __repr__(self) -> str:
        return f"AzureCredentials(strategy={self.strategy!r}, description={self.description!r})"

    def databricks_config(self, host: str, **config_kwargs: Any) -> Config:
        """A databricks-sdk Config for the workspace at `host`, authenticated by this credential.

        No token is fetched yet (that happens on the first request), but databricks-sdk 0.156 probes
        `{host}/.well-known/databricks-config` while building the Config: an unreachable host costs up
        to `retry_timeout_seconds` (300 s unless passed in `config_kwargs`).
        """
        from databricks.sdk.core import Config

        from .databricks_auth import EntraTokenStrategy

        # auth_type pins the SDK to our strategy, so stray DATABRICKS_* variables in the environment
        # cannot make the SDK refuse ("more than one authorization method") or pick another identity.
        return Config(host=host, auth_type=self.strategy,
                      credentials_strategy=EntraTokenStrategy(self.strategy, self.credential, AZURE_DATABRICKS_SCOPE),
                      **config_kwargs)


class AzureStrategy(Strategy):
    """A strategy producing AzureCredentials; `tenant_id` is the environment's azure.tenant_id, used
    when no variable names the tenant."""

    def __init__(self, tenant_id: str | None = None):
        self.default_tenant = tenant_id

    def _require(self, *names: str) -> list[str]:
        """The values of the first-named set variable of each alternative group `A|B`, or an error."""
        values = []
        for alternatives in names:
            options = alternatives.split("|")
            found = first_set(options)
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
