"""Identities of one workspace: the environment's service principal, and the account groups people belong to.

Groups are account-level (Unity Catalog only grants to account groups) and shared by every environment,
so this stack never creates one: it assigns the group to its workspace by name, sets the group's
entitlements there and adds the members listed in the YAML. A group listed with no entitlements is known
to grants but not given this workspace (the data scientists in staging and prod). Group membership is
additive: a member listed in two environments is added once per workspace and removed by neither alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from constructs import Construct

from ...model.grants import Group
from .directory import slug

ENTITLEMENTS = ("workspace_access", "databricks_sql_access", "allow_cluster_create", "allow_instance_pool_create")


@dataclass(frozen=True)
class IdentitiesProps:
    service_principal_name: str
    application_id: str                 # Entra application (client) id of the service principal (token or literal)
    groups: Mapping[str, Group]
    # The service principal runs jobs on job clusters and queries warehouses; it never creates clusters itself.
    service_principal_entitlements: Sequence[str] = ("workspace_access", "databricks_sql_access")


class Identities(Construct):
    """Attributes: `service_principal`, `assignments` and `groups` (data sources) by group name, `users` by e-mail."""

    def __init__(self, scope: Construct, id: str, props: IdentitiesProps):
        super().__init__(scope, id)
        from cdktn_provider_databricks.data_databricks_group import DataDatabricksGroup
        from cdktn_provider_databricks.entitlements import Entitlements
        from cdktn_provider_databricks.group_member import GroupMember
        from cdktn_provider_databricks.permission_assignment import PermissionAssignment
        from cdktn_provider_databricks.service_principal import ServicePrincipal
        from cdktn_provider_databricks.user import User

        wanted = set(props.service_principal_entitlements)
        self.service_principal = ServicePrincipal(
            self, "service_principal",
            application_id=props.application_id,
            display_name=props.service_principal_name,
            **{name: name in wanted for name in ENTITLEMENTS},
        )
        self.assignments, self.groups, self.users = {}, {}, {}
        user_ids = {}
        for name in sorted(props.groups):
            group = props.groups[name]
            if not group.entitlements:
                continue
            key = slug(name)
            self.assignments[name] = PermissionAssignment(self, f"assign_{key}", group_name=name, permissions=["USER"])
            # The account group, as this workspace sees it once assigned.
            self.groups[name] = DataDatabricksGroup(self, f"group_{key}", display_name=name,
                                                    depends_on=[self.assignments[name]])
            group_id = self.groups[name].id
            Entitlements(self, f"entitlements_{key}", group_id=group_id,
                         **{entitlement: entitlement in group.entitlements for entitlement in ENTITLEMENTS})
            for member in sorted(group.members):
                if member not in self.users:
                    self.users[member] = User(self, f"user_{slug(member)}", user_name=member)
                    user_ids[member] = self.users[member].id
                GroupMember(self, f"member_{key}_{slug(member)}", group_id=group_id, member_id=user_ids[member])
