"""Account-level identities: one account service principal per environment, the account groups people belong
to, and their members. Unity Catalog only grants to account-level principals, and a workspace can only be
given an account group, so these are created once for every environment, on the account-level provider.

A group marked `existing` (e.g. synced from Entra ID by SCIM) is neither created nor changed here: its
workspaces are assigned to it by name in `<env>-databricks`, and its members are whoever its owner says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from .directory import slug


@dataclass(frozen=True)
class AccountIdentitiesProps:
    service_principals: Mapping[str, str]               # display name -> application (client) id (token/literal)
    groups: Mapping[str, Sequence[str]] = field(default_factory=dict)   # managed group -> member e-mails


class AccountIdentities(Construct):
    """Attributes: `service_principals` and `groups` (resources by name), `users` by e-mail."""

    def __init__(self, scope: Construct, id: str, props: AccountIdentitiesProps):
        super().__init__(scope, id)
        from cdktn_provider_databricks.group import Group
        from cdktn_provider_databricks.group_member import GroupMember
        from cdktn_provider_databricks.service_principal import ServicePrincipal
        from cdktn_provider_databricks.user import User

        self.service_principals = {
            name: ServicePrincipal(self, f"sp_{slug(name)}", application_id=application_id, display_name=name)
            for name, application_id in sorted(props.service_principals.items())
        }
        self.groups, self.users = {}, {}
        for name in sorted(props.groups):
            self.groups[name] = Group(self, f"group_{slug(name)}", display_name=name)
            group_id = self.groups[name].id
            for member in sorted(set(props.groups[name])):
                if member not in self.users:
                    self.users[member] = User(self, f"user_{slug(member)}", user_name=member)
                GroupMember(self, f"member_{slug(name)}_{slug(member)}", group_id=group_id,
                            member_id=self.users[member].id)
