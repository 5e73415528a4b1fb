"""The chain: the registry of strategies, and the rules that pick one of them.

* an environment may pin one strategy (`credentials: {strategy: ...}` in its YAML) - then only that
  one is tried;
* unpinned, exactly one strategy may apply - two applying at once is an error naming both, because a
  CI job that silently picks "the first that works" is how the wrong identity ends up deploying.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

from lakegate.promotion.errors import CredentialsError

from .azure import AzureCredentials
from .azure_cli import AzureCli
from .base import Strategy, log
from .client_secret import AzureClientSecret
from .local_password import LocalLogin, LocalPassword
from .workload_identity import AzureWorkloadIdentity

if TYPE_CHECKING:
    from databricks.sdk.core import Config

# Every strategy, by name: the single source of the names an environment may pin
# (infra/model/promotion.py's Credentials.strategy; tests/test_credentials.py checks that they agree).
AZURE_CHAIN = (AzureWorkloadIdentity, AzureClientSecret, AzureCli)   # in order of preference
STRATEGIES: tuple[type[Strategy], ...] = (*AZURE_CHAIN, LocalPassword)
STRATEGY_NAMES = tuple(strategy.name for strategy in STRATEGIES)


def azure_strategies(tenant_id: str | None = None) -> list[Strategy]:
    """The Databricks chain, in order of preference: federation, then secret, then a person's CLI.
    `tenant_id` (the environment's azure.tenant_id) is used when no variable names the tenant."""
    return [strategy(tenant_id) for strategy in AZURE_CHAIN]


def resolve_credentials(strategies: Sequence[Strategy], pinned: str | None = None) -> Any:
    """Run the chain: the pinned strategy, or the single one that applies."""
    by_name = {s.name: s for s in strategies}
    if pinned is not None:
        if pinned not in STRATEGY_NAMES:
            raise CredentialsError("credentials", f"unknown strategy {pinned!r} (known: {', '.join(STRATEGY_NAMES)})")
        if pinned not in by_name:
            raise CredentialsError(pinned, f"cannot be used here (this target accepts: {', '.join(by_name)})")
        chosen = by_name[pinned]
        if not chosen.applies():
            how = chosen.how_to_configure().split(": ", 1)[1]
            raise CredentialsError(pinned, f"pinned but not configured: {how}")
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
    log.info("credentials: using %s (%s)%s", chosen.name, chosen.describe(result), " [pinned]" if pinned else "")
    return result


def azure_credentials(*, pinned: str | None = None, tenant_id: str | None = None) -> AzureCredentials:
    """An Azure credential from the chain. With `tenant_id` (the environment's azure.tenant_id), it is the
    tenant when no variable names one, and credentials for another tenant are refused."""
    credentials = resolve_credentials(azure_strategies(tenant_id), pinned)
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
    return resolve_credentials([LocalPassword(credentials_file, principal)], pinned)
