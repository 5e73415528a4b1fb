"""`<env>-azure`: the Azure foundation of one environment. Only wiring: the resources live in
infra/constructs/azure/, the values come from the environment's YAML.

Deployed by the environment's own service principal, into the resource group the account stack created
for it and where it holds its roles (infra/access.py deployer_roles). It reads no other stack's state."""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from ..constructs.azure.access_connector import AccessConnector, AccessConnectorProps
from ..constructs.azure.backend import StateBackendProps, attach_state_backend
from ..constructs.azure.monitoring import WorkspaceMonitoring, WorkspaceMonitoringProps
from ..constructs.azure.network import WorkspaceNetwork, WorkspaceNetworkProps
from ..constructs.azure.providers import AzureProviders, AzureProvidersProps
from ..constructs.azure.storage import DataLake, DataLakeProps
from ..constructs.azure.workspace import AzureDatabricksWorkspace, DatabricksWorkspaceProps
from ..model import Environment, Environments
from .foundation import AzureFoundation


class AzureStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, env: Environment, envs: Environments,
                 account: TerraformStack | None = None):
        super().__init__(scope, id)
        self.env = env
        azure, ws = env.azure, env.workspace
        tags = env.tags
        if account is not None:
            self.add_dependency(account)  # its resource group and its deployer's roles come from there

        attach_state_backend(self, StateBackendProps.for_stack(id, env.state))
        AzureProviders(self, "providers", AzureProvidersProps(subscription_id=azure.subscription_id,
                                                              tenant_id=azure.tenant_id))
        placed = {"resource_group_name": azure.resource_group, "location": azure.location, "tags": tags}

        network = None
        if ws.vnet is not None:
            network = WorkspaceNetwork(self, "network", WorkspaceNetworkProps(
                base_name=ws.name, address_space=ws.vnet.cidr,
                public_subnet_cidr=ws.vnet.public_subnet, private_subnet_cidr=ws.vnet.private_subnet, **placed,
            ))

        connector = AccessConnector(self, "access-connector", AccessConnectorProps(name=f"ac-{ws.name}", **placed))
        storage = DataLake(self, "storage", DataLakeProps(
            account_name=env.storage.account_name,
            containers=tuple(env.storage.containers),
            replication=env.storage.replication,
            min_tls_version=env.storage.min_tls_version,
            public_network_access=env.storage.public_network_access,
            allow_public_blob_access=env.storage.allow_public_blob_access,
            soft_delete_days=env.storage.soft_delete_days,
            allowed_subnet_ids=(network.public_subnet_id, network.private_subnet_id) if network else (),
            allowed_resource_ids=(connector.id,),
            tenant_id=azure.tenant_id,
            **placed,
        ))
        connector.grant_storage_access(storage.id)

        workspace = AzureDatabricksWorkspace(self, "workspace", DatabricksWorkspaceProps(
            name=ws.name,
            sku=ws.sku,
            managed_resource_group_name=ws.managed_resource_group or f"{azure.resource_group}-managed",
            no_public_ip=ws.no_public_ip,
            public_network_access=ws.public_network_access,
            virtual_network_id=network.vnet_id if network else None,
            public_subnet_name=network.public_subnet_name if network else None,
            private_subnet_name=network.private_subnet_name if network else None,
            public_subnet_nsg_association_id=network.public_association_id if network else None,
            private_subnet_nsg_association_id=network.private_association_id if network else None,
            **placed,
        ))

        if env.monitoring.log_analytics is not None:
            WorkspaceMonitoring(self, "monitoring", WorkspaceMonitoringProps(
                name=f"log-{ws.name}",
                target_resource_id=workspace.id,
                categories=tuple(env.monitoring.diagnostic_categories),
                retention_days=env.monitoring.log_analytics.retention_days,
                sku=env.monitoring.log_analytics.sku,
                storage_account_id=storage.id,
                **placed,
            ))

        TerraformOutput(self, "workspace_url", value=workspace.url, description="Databricks workspace URL.")
        TerraformOutput(self, "workspace_id", value=workspace.workspace_id,
                        description="Numeric Databricks workspace id: put it in the YAML as workspace.id so peers "
                                    "can bind their catalogs to this workspace.")
        TerraformOutput(self, "workspace_resource_id", value=workspace.id,
                        description="Azure resource id of the workspace.")
        TerraformOutput(self, "access_connector_id", value=connector.id,
                        description="Access connector behind the Unity Catalog storage credential.")
        TerraformOutput(self, "storage_dfs_endpoint", value=storage.dfs_endpoint,
                        description="ADLS Gen2 endpoint of the environment's storage account.")

        self.foundation = AzureFoundation(
            workspace_url=workspace.url,
            workspace_resource_id=workspace.id,
            workspace_id=workspace.workspace_id,
            access_connector_id=connector.id,
            storage_account_name=env.storage.account_name,
            storage_dfs_host=storage.dfs_host,
        )
