"""VNet injection: a VNet with the two subnets Databricks delegates to its clusters, and their NSG."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct

DATABRICKS_DELEGATION = "Microsoft.Databricks/workspaces"
# The actions Azure Databricks needs on a delegated subnet (it manages the NSG rules through them).
DELEGATION_ACTIONS = (
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/virtualNetworks/subnets/prepareNetworkPolicies/action",
    "Microsoft.Network/virtualNetworks/subnets/unprepareNetworkPolicies/action",
)


@dataclass(frozen=True)
class WorkspaceNetworkProps:
    base_name: str            # names: vnet-<base>, snet-<base>-public, snet-<base>-private, nsg-<base>
    resource_group_name: str
    location: str
    address_space: str        # e.g. 10.30.0.0/16
    public_subnet_cidr: str   # host subnet
    private_subnet_cidr: str  # container subnet
    # Service endpoint on both subnets so the storage firewall can let the clusters through.
    storage_service_endpoint: bool = True
    # Cluster nodes without public IPs still need egress to the Databricks control plane; until a NAT
    # gateway is modelled, Azure's default outbound access provides it.
    default_outbound_access: bool = True
    tags: dict[str, str] = field(default_factory=dict)


class WorkspaceNetwork(Construct):
    """Out: `vnet_id`, `public_subnet_name`/`private_subnet_name`, `public_subnet_id`/`private_subnet_id`,
    `public_association_id`/`private_association_id` (subnet-NSG associations the workspace requires)."""

    def __init__(self, scope: Construct, id: str, props: WorkspaceNetworkProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.network_security_group import NetworkSecurityGroup
        from cdktn_provider_azurerm.subnet import (
            Subnet,
            SubnetDelegation,
            SubnetDelegationServiceDelegation,
            SubnetServiceEndpoint,
        )
        from cdktn_provider_azurerm.subnet_network_security_group_association import (
            SubnetNetworkSecurityGroupAssociation,
        )
        from cdktn_provider_azurerm.virtual_network import VirtualNetwork

        self.vnet = VirtualNetwork(
            self, "vnet",
            name=f"vnet-{props.base_name}",
            resource_group_name=props.resource_group_name,
            location=props.location,
            address_space=[props.address_space],
            tags=props.tags,
        )
        # No rules of our own: the workspace adds (and keeps) the rules it needs through the delegation.
        self.nsg = NetworkSecurityGroup(
            self, "nsg",
            name=f"nsg-{props.base_name}",
            resource_group_name=props.resource_group_name,
            location=props.location,
            tags=props.tags,
        )
        endpoints = [SubnetServiceEndpoint(service="Microsoft.Storage")] if props.storage_service_endpoint else None

        def subnet(role: str, cidr: str):
            created = Subnet(
                self, f"{role}-subnet",
                name=f"snet-{props.base_name}-{role}",
                resource_group_name=props.resource_group_name,
                virtual_network_name=self.vnet.name,
                address_prefixes=[cidr],
                default_outbound_access_enabled=props.default_outbound_access,
                service_endpoint=endpoints,
                delegation=[SubnetDelegation(
                    name="databricks",
                    service_delegation=SubnetDelegationServiceDelegation(
                        name=DATABRICKS_DELEGATION, actions=list(DELEGATION_ACTIONS)
                    ),
                )],
            )
            association = SubnetNetworkSecurityGroupAssociation(
                self, f"{role}-subnet-nsg", subnet_id=created.id, network_security_group_id=self.nsg.id
            )
            return created, association

        public, public_association = subnet("public", props.public_subnet_cidr)
        private, private_association = subnet("private", props.private_subnet_cidr)
        self.vnet_id: str = self.vnet.id
        self.public_subnet_name: str = public.name
        self.private_subnet_name: str = private.name
        self.public_subnet_id: str = public.id
        self.private_subnet_id: str = private.id
        self.public_association_id: str = public_association.id
        self.private_association_id: str = private_association.id
