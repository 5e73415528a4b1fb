"""The environment's ADLS Gen2 account and its private containers (Unity Catalog storage and data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct


@dataclass(frozen=True)
class DataLakeProps:
    account_name: str                 # globally unique, 3-24 lowercase letters/digits
    resource_group_name: str
    location: str
    containers: tuple[str, ...] = ("unity-catalog",)
    replication: str = "ZRS"          # LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS
    min_tls_version: str = "TLS1_2"
    # False: the firewall denies every network except `allowed_subnet_ids`, `allowed_resource_ids`
    # and trusted Azure services. True: reachable from any network (still Entra ID auth only).
    public_network_access: bool = False
    allow_public_blob_access: bool = False  # anonymous blob reads; must stay off
    soft_delete_days: int = 7                # blob and container soft-delete retention
    allowed_subnet_ids: tuple[str, ...] = () # subnets (with a Microsoft.Storage endpoint) let through
    allowed_resource_ids: tuple[str, ...] = ()  # resource instances let through, e.g. the access connector
    tenant_id: str | None = None             # tenant of `allowed_resource_ids`
    sas_expiration_period: str = "01.00:00:00"  # DD.HH:MM:SS: longest SAS the account accepts
    tags: dict[str, str] = field(default_factory=dict)


class DataLake(Construct):
    """Out: `id`, `name` (token), `dfs_endpoint` (token, https://<account>.dfs.core.windows.net/),
    `dfs_host` (plain string), `containers` (container name -> storage_container resource)."""

    def __init__(self, scope: Construct, id: str, props: DataLakeProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.storage_account import (
            StorageAccount,
            StorageAccountBlobProperties,
            StorageAccountBlobPropertiesContainerDeleteRetentionPolicy,
            StorageAccountBlobPropertiesDeleteRetentionPolicy,
            StorageAccountNetworkRules,
            StorageAccountNetworkRulesPrivateLinkAccess,
            StorageAccountSasPolicy,
        )
        from cdktn_provider_azurerm.storage_container import StorageContainer

        if props.public_network_access:
            network_rules = StorageAccountNetworkRules(default_action="Allow", bypass=["AzureServices"])
        else:
            network_rules = StorageAccountNetworkRules(
                default_action="Deny",
                bypass=["AzureServices"],
                virtual_network_subnet_ids=list(props.allowed_subnet_ids),
                private_link_access=[
                    StorageAccountNetworkRulesPrivateLinkAccess(
                        endpoint_resource_id=resource_id, endpoint_tenant_id=props.tenant_id
                    )
                    for resource_id in props.allowed_resource_ids
                ],
            )
        from cdktn import TerraformResourceLifecycle

        keep = TerraformResourceLifecycle(prevent_destroy=True)  # the lake: an apply never deletes or replaces it
        self.account = StorageAccount(
            self, "account",
            name=props.account_name,
            resource_group_name=props.resource_group_name,
            location=props.location,
            account_kind="StorageV2",
            account_tier="Standard",
            account_replication_type=props.replication,
            access_tier="Hot",
            is_hns_enabled=True,  # ADLS Gen2: what Unity Catalog expects
            https_traffic_only_enabled=True,
            min_tls_version=props.min_tls_version,
            allow_nested_items_to_be_public=props.allow_public_blob_access,
            shared_access_key_enabled=False,   # Entra ID only: no account key to leak
            default_to_oauth_authentication=True,
            local_user_enabled=False,          # no SFTP/local users
            cross_tenant_replication_enabled=False,
            infrastructure_encryption_enabled=True,  # a second encryption layer at rest
            # Azure has three modes: Disabled (private endpoints only), Enabled with a Deny firewall
            # ("selected networks"), Enabled from all networks. We create no private endpoint, and Azure
            # honours resource-instance rules (how the Databricks access connector gets in) and subnet
            # rules only in the middle mode, so "no public access" is expressed by the firewall below.
            public_network_access="Enabled",
            network_rules=network_rules,
            sas_policy=StorageAccountSasPolicy(expiration_period=props.sas_expiration_period, expiration_action="Log"),
            blob_properties=StorageAccountBlobProperties(
                delete_retention_policy=StorageAccountBlobPropertiesDeleteRetentionPolicy(days=props.soft_delete_days),
                container_delete_retention_policy=StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                    days=props.soft_delete_days
                ),
            ),
            tags=props.tags,
            lifecycle=keep,
        )
        self.containers = {
            name: StorageContainer(
                self, f"container-{name}",
                name=name,
                storage_account_id=self.account.id,  # management-plane API: no data-plane network path needed
                container_access_type="private",
                lifecycle=keep,
            )
            for name in props.containers
        }
        self.id: str = self.account.id
        self.name: str = self.account.name
        self.dfs_endpoint: str = self.account.primary_dfs_endpoint
        self.dfs_host: str = f"{props.account_name}.dfs.core.windows.net"
