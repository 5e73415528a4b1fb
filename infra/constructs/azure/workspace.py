"""The Azure Databricks workspace, optionally injected into the environment's VNet."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct


@dataclass(frozen=True)
class DatabricksWorkspaceProps:
    name: str
    resource_group_name: str
    location: str
    sku: str = "premium"                    # Unity Catalog and access control need premium
    managed_resource_group_name: str | None = None  # default `<resource_group_name>-managed`
    no_public_ip: bool = True               # secure cluster connectivity
    public_network_access: bool = True      # UI/API reachable from public networks
    infrastructure_encryption: bool = True  # double encryption of DBFS root (premium only)
    # VNet injection: all five or none (see WorkspaceNetwork's attributes).
    virtual_network_id: str | None = None
    public_subnet_name: str | None = None
    private_subnet_name: str | None = None
    public_subnet_nsg_association_id: str | None = None
    private_subnet_nsg_association_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def vnet_injected(self) -> bool:
        return self.virtual_network_id is not None


class AzureDatabricksWorkspace(Construct):
    """Out: `id` (Azure resource id), `workspace_id` (numeric Databricks id), `url` (https://adb-...)."""

    def __init__(self, scope: Construct, id: str, props: DatabricksWorkspaceProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.databricks_workspace import (
            DatabricksWorkspace,
            DatabricksWorkspaceCustomParameters,
        )

        vnet_fields = (props.public_subnet_name, props.private_subnet_name,
                       props.public_subnet_nsg_association_id, props.private_subnet_nsg_association_id)
        if props.vnet_injected != all(f is not None for f in vnet_fields):
            raise ValueError(f"workspace {props.name}: VNet injection needs the VNet id, both subnet names "
                             "and both subnet-NSG association ids")
        if not props.public_network_access and not props.vnet_injected:
            raise ValueError(f"workspace {props.name}: disabling public network access needs VNet injection "
                             "(workspace.vnet)")

        if props.vnet_injected:
            custom = DatabricksWorkspaceCustomParameters(
                no_public_ip=props.no_public_ip,
                virtual_network_id=props.virtual_network_id,
                public_subnet_name=props.public_subnet_name,
                private_subnet_name=props.private_subnet_name,
                public_subnet_network_security_group_association_id=props.public_subnet_nsg_association_id,
                private_subnet_network_security_group_association_id=props.private_subnet_nsg_association_id,
            )
            # Which NSG rules Databricks adds: all of them, unless clusters reach the control plane over
            # a back-end private link (public access off), where the Databricks outbound rules go away.
            nsg_rules = "AllRules" if props.public_network_access else "NoAzureDatabricksRules"
        else:
            # The DBFS root account keeps its Databricks-generated unique name: a name derived from ours
            # could collide globally or exceed 24 characters.
            custom = DatabricksWorkspaceCustomParameters(no_public_ip=props.no_public_ip)
            nsg_rules = None  # only valid for VNet-injected workspaces

        premium = props.sku == "premium"
        self.workspace = DatabricksWorkspace(
            self, "workspace",
            name=props.name,
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku=props.sku,
            managed_resource_group_name=props.managed_resource_group_name or f"{props.resource_group_name}-managed",
            public_network_access_enabled=props.public_network_access,
            network_security_group_rules_required=nsg_rules,
            infrastructure_encryption_enabled=(props.infrastructure_encryption and premium) or None,
            custom_parameters=custom,
            tags=props.tags,
        )
        self.id: str = self.workspace.id
        self.workspace_id: str = self.workspace.workspace_id
        self.url: str = f"https://{self.workspace.workspace_url}"
