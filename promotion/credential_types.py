"""The values the credential chain produces (promotion/credentials.py resolves them).

`Secret` prints as `***`; `AzureCredentials` turns an azure-identity credential into a databricks-sdk
`Config`; `LocalLogin` is a basic-auth login to the local embedded registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from databricks.sdk.core import Config
from databricks.sdk.credentials_provider import CredentialsStrategy

log = logging.getLogger("lakegate.credentials")

# The Entra application of Azure Databricks (the same id in every tenant); tokens for it are accepted
# by every Azure Databricks workspace the principal has been added to.
AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
# The audience Entra expects in a federated (OIDC) assertion.
ENTRA_FEDERATION_AUDIENCE = "api://AzureADTokenExchange"

STRATEGY_NAMES = ("azure-workload-identity", "azure-client-secret", "azure-cli", "local-password")


class CredentialsError(Exception):
    """Credentials could not be resolved or used. str() starts with the strategy name (or `credentials`)."""

    def __init__(self, strategy: str, message: str):
        self.strategy = strategy
        super().__init__(f"{strategy}: {message}")


class Secret:
    """A secret value that never prints: str() and repr() are `***`; `reveal()` is the only way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return "***"

    __repr__ = __str__


# --------------------------------------------------------------------------------------------------
# Results


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
        # auth_type pins the SDK to our strategy, so stray DATABRICKS_* variables in the environment
        # cannot make the SDK refuse ("more than one authorization method") or pick another identity.
        return Config(
            host=host,
            auth_type=self.strategy,
            credentials_strategy=EntraTokenStrategy(self.strategy, self.credential),
            **config_kwargs,
        )


@dataclass(frozen=True)
class LocalLogin:
    """Basic-auth login to the local embedded registry."""

    strategy: str
    username: str
    password: Secret


class EntraTokenStrategy(CredentialsStrategy):
    """databricks-sdk credentials strategy: every request carries an Entra token for Azure Databricks.

    azure-identity caches the token and refreshes it shortly before expiry, so asking for it per
    request costs nothing after the first call.
    """

    def __init__(self, name: str, credential: Any, scope: str = AZURE_DATABRICKS_SCOPE):
        self._name, self._credential, self._scope = name, credential, scope

    def auth_type(self) -> str:
        return self._name

    def __call__(self, cfg: Any):
        from azure.core.exceptions import ClientAuthenticationError

        def headers() -> dict[str, str]:
            try:
                token = self._credential.get_token(self._scope)
            except ClientAuthenticationError as e:
                raise CredentialsError(self._name, f"could not get an Entra token: {e.message}") from None
            return {"Authorization": f"Bearer {token.token}"}

        return headers

    def __repr__(self) -> str:
        return f"EntraTokenStrategy({self._name!r})"


# --------------------------------------------------------------------------------------------------
# Strategies
