"""What the `<env>-databricks` stack needs from the `<env>-azure` stack.

Passed as attributes (cdktn tokens), never looked up by string: cdktn turns each into a cross-stack
output/remote-state reference when the two stacks are synthesized together.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AzureFoundation:
    workspace_url: str                 # https://adb-<id>.<n>.azuredatabricks.net (token)
    workspace_resource_id: str         # Azure resource id of the workspace (token)
    workspace_id: str                  # numeric Databricks workspace id (token)
    access_connector_id: str           # Azure resource id of the Databricks access connector (token)
    storage_account_name: str          # ADLS Gen2 account name (plain string from the model)
    storage_dfs_host: str              # <account>.dfs.core.windows.net (plain string)
    service_principal_application_id: str | None  # Entra application (client) id of the env's CI principal (token), None if not managed here
