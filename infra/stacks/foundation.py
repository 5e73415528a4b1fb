"""What the `<env>-databricks` stack needs from the `<env>-azure` stack.

Passed as attributes (cdktn tokens), never looked up by string: cdktn turns each into a cross-stack
output/remote-state reference between the two stacks of one environment (the only cross-stack references
there are: nothing crosses environments).
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
