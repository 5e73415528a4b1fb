"""The Databricks access connector: the managed identity Unity Catalog uses to reach the storage."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct

from ...access import BLOB_DATA_CONTRIBUTOR  # read, write, delete blobs: what a UC storage credential needs


@dataclass(frozen=True)
class AccessConnectorProps:
    name: str
    resource_group_name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


class AccessConnector(Construct):
    """Out: `id` (Azure resource id, token), `principal_id` (its system-assigned identity, token)."""

    def __init__(self, scope: Construct, id: str, props: AccessConnectorProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.databricks_access_connector import (
            DatabricksAccessConnector,
            DatabricksAccessConnectorIdentity,
        )

        self.connector = DatabricksAccessConnector(
            self, "connector",
            name=props.name,
            resource_group_name=props.resource_group_name,
            location=props.location,
            identity=DatabricksAccessConnectorIdentity(type="SystemAssigned"),
            tags=props.tags,
        )
        self.id: str = self.connector.id
        self.principal_id: str = self.connector.identity.principal_id

    def grant_storage_access(self, storage_account_id: str, role: str = BLOB_DATA_CONTRIBUTOR):
        """Role assignment of `role` on the storage account to the connector's identity.

        A method rather than a prop: the storage firewall lets the connector in by its id, so the
        connector exists before the account, and the grant after both.
        """
        from cdktn_provider_azurerm.role_assignment import RoleAssignment

        return RoleAssignment(
            self, "storage-access",
            scope=storage_account_id,
            role_definition_name=role,
            principal_id=self.principal_id,
            # A fresh managed identity may not have replicated yet: typing it skips the Graph lookup.
            principal_type="ServicePrincipal",
            description="Unity Catalog storage credential: the access connector reads and writes the lake.",
        )
