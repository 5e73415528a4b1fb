"""The databricks providers: workspace-level (configured from the `<env>-azure` stack's outputs) and
account-level (the account stack).

Authentication is never written here: at plan time the provider uses Azure's unified auth from the
environment (ARM_CLIENT_ID / ARM_TENANT_ID with ARM_USE_OIDC in CI, `az login` on a laptop).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct


@dataclass(frozen=True)
class WorkspaceProviderProps:
    host: str                          # https://adb-<id>.<n>.azuredatabricks.net (token of the azure stack)
    azure_workspace_resource_id: str   # Azure resource id of the workspace (token): lets Entra tokens resolve it
    azure_tenant_id: str               # the environment's tenant (not a secret)


class WorkspaceProvider(Construct):
    def __init__(self, scope: Construct, id: str, props: WorkspaceProviderProps):
        super().__init__(scope, id)
        from cdktn_provider_databricks.provider import DatabricksProvider

        self.provider = DatabricksProvider(
            self, "databricks",
            host=props.host,
            azure_workspace_resource_id=props.azure_workspace_resource_id,
            azure_tenant_id=props.azure_tenant_id,
        )


@dataclass(frozen=True)
class AccountProviderProps:
    account_id: str                    # Databricks account id (environments/_account.yaml)
    host: str                          # https://accounts.azuredatabricks.net
    azure_tenant_id: str


class AccountProvider(Construct):
    """The account-level databricks provider of the account stack; authenticates like the workspace one."""

    def __init__(self, scope: Construct, id: str, props: AccountProviderProps):
        super().__init__(scope, id)
        from cdktn_provider_databricks.provider import DatabricksProvider

        self.provider = DatabricksProvider(self, "databricks", host=props.host, account_id=props.account_id,
                                           azure_tenant_id=props.azure_tenant_id)
