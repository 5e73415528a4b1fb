"""Wiring for `--registry databricks`: one Unity Catalog adapter per environment, as its service principal.

A promotion into ENV runs in ENV's workspace (the source catalog is bound read-only to it, see
infra/access.py), so each environment needs its workspace URL: the `workspace_url` output of the
`<env>-azure` stack, handed over as LAKEGATE_<ENV>_DATABRICKS_HOST (e.g. LAKEGATE_PROD_DATABRICKS_HOST).
Credentials come from the environment's pinned strategy, or the single one configured (promotion/credentials.py).
"""

from __future__ import annotations

import os

from infra.model import Environment, Environments
from promotion.credentials import CredentialsError, databricks_config
from promotion.registry import RegistryAdapter

from .adapter import UnityCatalogAdapter
from .serving import update_serving_endpoint

# A workspace that does not answer must fail the CLI in seconds, not after the SDK's 5-minute retry budget.
RETRY_TIMEOUT_SECONDS = 60


def host_variable(env: Environment) -> str:
    return f"LAKEGATE_{env.name.upper().replace('-', '_')}_DATABRICKS_HOST"


def workspace_host(env: Environment) -> str:
    host = os.environ.get(host_variable(env), "").strip()
    if not host:
        raise CredentialsError(f"{env.name}: set {host_variable(env)} to the workspace URL "
                               f"(terraform output workspace_url of {env.name}-azure)")
    return host


def databricks_adapter_factory(envs: Environments):
    adapters: dict[str, RegistryAdapter] = {}

    def adapter_for(env_name: str) -> RegistryAdapter:
        if env_name not in adapters:
            env = envs[env_name]
            config = databricks_config(workspace_host(env), pinned=env.credentials.strategy,
                                       retry_timeout_seconds=RETRY_TIMEOUT_SECONDS)
            adapters[env_name] = UnityCatalogAdapter(config, env.service_principal)
        return adapters[env_name]

    return adapter_for


def databricks_serving_hook(adapter_factory):
    """Point every serving endpoint of the environment that serves the model at the new champion."""

    def hook(env: Environment, full_name: str, version: str) -> None:
        client = adapter_factory(env.name).client
        for endpoint in env.serving:
            if env.unity_catalog.model_full_name(endpoint.model) == full_name:
                update_serving_endpoint(client, endpoint.name, full_name, version, principal=env.service_principal)

    return hook
