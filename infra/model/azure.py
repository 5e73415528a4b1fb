"""The Azure foundation of an environment: subscription, state, storage, network, workspace, monitoring."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import AzureName, ContainerName, StorageAccountName, Strict, Uuid


class AzureSettings(Strict):
    """Where the environment lives in Azure."""

    subscription_id: Uuid = Field(description="Azure subscription that holds the environment.")
    tenant_id: Uuid = Field(description="Entra ID tenant of the subscription.")
    location: str = Field(description="Azure region, e.g. westeurope.")
    resource_group: AzureName = Field(description="Resource group created for the environment.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags put on every Azure resource.")


class StateBackend(Strict):
    """Where Terraform keeps the state of this environment's stacks."""

    backend: Literal["local", "azurerm"] = Field("local", description="`azurerm` (remote, locked) or `local`.")
    subscription_id: Uuid | None = Field(
        None, description="azurerm: subscription of the state account; default the environment's. The account "
                          "and container must exist before the first deploy (`doctor` checks).")
    resource_group: AzureName | None = Field(None, description="azurerm: resource group of the state account.")
    storage_account: StorageAccountName | None = Field(None, description="azurerm: storage account holding state.")
    container: ContainerName | None = Field(None, description="azurerm: blob container holding state.")
    use_oidc: bool = Field(True, description="azurerm: authenticate to the state account with OIDC, not keys.")

    @model_validator(mode="after")
    def _remote_needs_location(self) -> "StateBackend":
        if self.backend == "azurerm":
            missing = [f for f in ("resource_group", "storage_account", "container") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"backend azurerm needs {', '.join(missing)}")
        return self


class Storage(Strict):
    """The environment's ADLS Gen2 account (Unity Catalog managed storage and data containers)."""

    account_name: StorageAccountName = Field(description="Globally unique storage account name.")
    replication: Literal["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"] = Field(
        "ZRS", description="Replication type; prod usually wants zone or geo redundancy."
    )
    containers: list[ContainerName] = Field(
        default_factory=lambda: ["unity-catalog"],
        description="Blob containers; the first one is the catalog's managed storage root.",
        min_length=1,
    )
    public_network_access: bool = Field(
        False, description="Allow access from public networks (the account still refuses anonymous blob access)."
    )
    min_tls_version: Literal["TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3"] = Field("TLS1_2", description="Minimum TLS version accepted.")
    allow_public_blob_access: bool = Field(False, description="Anonymous blob access. Must stay false.")
    soft_delete_days: int = Field(7, ge=1, le=365, description="Blob and container soft-delete retention.")

    @field_validator("containers")
    @classmethod
    def _unique_containers(cls, containers: list[str]) -> list[str]:
        duplicates = sorted({c for c in containers if containers.count(c) > 1})
        if duplicates:
            raise ValueError(f"duplicate container {', '.join(duplicates)}")
        return containers


class VirtualNetwork(Strict):
    """VNet injection: the workspace's clusters run in two delegated subnets of this network."""

    cidr: str = Field(description="Address space of the VNet, e.g. 10.20.0.0/16.")
    public_subnet: str = Field(description="CIDR of the host ('public') subnet, inside `cidr`.")
    private_subnet: str = Field(description="CIDR of the container ('private') subnet, inside `cidr`.")

    @field_validator("cidr", "public_subnet", "private_subnet")
    @classmethod
    def _ipv4_cidr(cls, value: str) -> str:
        # Each CIDR on its own field (the error names it); Azure VNet injection for Databricks is IPv4 only,
        # and IPv4 and IPv6 networks cannot be compared (ipaddress raises TypeError), so IPv6 stops here.
        try:
            network = ipaddress.ip_network(value)
        except ValueError as exc:
            raise ValueError(f"invalid CIDR: {exc}") from None
        if network.version != 4:
            raise ValueError(f"{network} is IPv6; VNet injection needs IPv4 CIDRs")
        return value

    @model_validator(mode="after")
    def _subnets_inside(self) -> "VirtualNetwork":
        # Runs only when the three CIDRs are valid IPv4 networks (the field validator above).
        network = ipaddress.ip_network(self.cidr)
        public = ipaddress.ip_network(self.public_subnet)
        private = ipaddress.ip_network(self.private_subnet)
        for label, subnet in (("public_subnet", public), ("private_subnet", private)):
            if not subnet.subnet_of(network):
                raise ValueError(f"{label} {subnet} is not inside {network}")
            if subnet.prefixlen > 26:
                raise ValueError(f"{label} {subnet} is smaller than /26, the minimum Databricks accepts")
        if public.overlaps(private):
            raise ValueError(f"public_subnet {public} overlaps private_subnet {private}")
        return self


class Workspace(Strict):
    """The Azure Databricks workspace of the environment."""

    name: AzureName = Field(description="Workspace resource name.")
    id: int | None = Field(
        None, ge=1, description="Numeric workspace id, once `<env>-azure` has created the workspace (its "
                                "`workspace_id` output). Peers need it to bind their catalogs to this workspace; the "
                                "account stack assigns the metastore when it is known.")
    sku: Literal["premium", "standard", "trial"] = Field(
        "premium", description="Pricing tier; Unity Catalog and access control need premium."
    )
    no_public_ip: bool = Field(True, description="Secure cluster connectivity: cluster nodes get no public IP.")
    public_network_access: bool = Field(True, description="Reach the workspace UI/API from public networks.")
    managed_resource_group: AzureName | None = Field(
        None, description="Databricks-managed resource group; default `<resource_group>-managed`."
    )
    vnet: VirtualNetwork | None = Field(None, description="VNet injection; omit to use the Databricks-managed VNet.")

    @model_validator(mode="after")
    def _private_needs_vnet(self) -> "Workspace":
        # Azure needs the injected subnets (and private endpoints) to serve a workspace closed to public networks.
        if not self.public_network_access and self.vnet is None:
            raise ValueError("public_network_access false needs vnet (VNet injection)")
        return self


class LogAnalytics(Strict):
    retention_days: int = Field(30, ge=30, le=730, description="Days logs are kept.")
    sku: Literal["PerGB2018", "CapacityReservation"] = Field("PerGB2018", description="Log Analytics pricing.")


DEFAULT_DIAGNOSTIC_CATEGORIES = [
    "accounts", "clusters", "jobs", "notebook", "secrets", "unityCatalog", "workspace", "modelRegistry",
    "serverlessRealTimeInference",
]


class Monitoring(Strict):
    """Azure Monitor for the workspace (logs, diagnostic settings)."""

    log_analytics: LogAnalytics | None = Field(None, description="Create a Log Analytics workspace; omit for none.")
    diagnostic_categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DIAGNOSTIC_CATEGORIES),
        description="Databricks diagnostic log categories sent to Log Analytics.",
    )
