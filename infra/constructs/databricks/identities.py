"""Who works in one workspace: the account groups assigned to it, with their entitlements there.

Groups and their members are account-level objects of the account stack (or `existing` ones managed by
their owner), so this stack never creates a group or changes its members: the workspace admin (the
environment's deployer, admin since it created the workspace) assigns the account group to the workspace by
name, then sets its entitlements. A group listed with no entitlements is known to grants but not given this
workspace (the data scientists in staging and prod). The deployer itself needs no assignment: it is the
workspace's admin and the identity its jobs run as.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from constructs import Construct

from ...model.grants import ENTITLEMENTS, Group
from .directory import slug



@dataclass(frozen=True)
class IdentitiesProps:
    groups: Mapping[str, Group]


class Identities(Construct):
    """Attributes: `assignments` and `groups` (the assigned group as this workspace sees it) by group name."""

    def __init__(self, scope: Construct, id: str, props: IdentitiesProps):
        super().__init__(scope, id)
        from cdktn_provider_databricks.data_databricks_group import DataDatabricksGroup
        from cdktn_provider_databricks.entitlements import Entitlements
        from cdktn_provider_databricks.permission_assignment import PermissionAssignment

        self.assignments, self.groups = {}, {}
        for name in sorted(props.groups):
            group = props.groups[name]
            if not group.entitlements:
                continue
            key = slug(name)
            self.assignments[name] = PermissionAssignment(self, f"assign_{key}", group_name=name, permissions=["USER"])
            # The account group, as this workspace sees it once assigned.
            self.groups[name] = DataDatabricksGroup(self, f"group_{key}", display_name=name,
                                                    depends_on=[self.assignments[name]])
            Entitlements(self, f"entitlements_{key}", group_id=self.groups[name].id,
                         **{entitlement: entitlement in group.entitlements for entitlement in ENTITLEMENTS})
