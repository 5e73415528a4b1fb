"""What one `<env>-databricks` stack knows about principals and workspaces, its own and other environments'.

Unity Catalog names a service principal by its application id, a group by its display name and every
account user as `account users`. An application id is the YAML's (`principals.service_principal.
application_id`, an existing Entra application) or the account stack's output, read through its state
(which holds no secret). A workspace id is this environment's own (a token of `<env>-azure`) or a peer's
`workspace.id` from the peer's YAML; never another environment's state. A peer whose id is not declared
yet has no workspace id here (`workspace_id` returns None and the caller leaves the binding out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from constructs import Construct


@dataclass(frozen=True)
class DirectoryProps:
    environment: str                                  # this stack's environment
    service_principals: Mapping[str, str]             # service principal name -> its environment
    declared_application_ids: Mapping[str, str | None]  # environment -> application id from YAML, if any
    workspace_ids: Mapping[str, object]               # environment -> numeric workspace id (token or int); absent: unknown
    account_application_id: Callable[[str], str]      # environment -> application id read from the account stack


class Directory(Construct):
    def __init__(self, scope: Construct, id: str, props: DirectoryProps):
        super().__init__(scope, id)
        self.props = props

    def application_id(self, environment: str) -> str:
        declared = self.props.declared_application_ids.get(environment)
        return declared if declared is not None else self.props.account_application_id(environment)

    def workspace_id(self, environment: str):
        """A number token or int: the numeric id of `environment`'s workspace; None when not known yet."""
        from cdktn import Token

        known = self.props.workspace_ids.get(environment)
        if known is None:
            return None
        return known if isinstance(known, int) else Token.as_number(known)

    @property
    def own_application_id(self) -> str:
        return self.application_id(self.props.environment)

    def is_service_principal(self, name: str) -> bool:
        return name in self.props.service_principals

    def grant_principal(self, name: str) -> str:
        """The principal as databricks_grants wants it."""
        if name in self.props.service_principals:
            return self.application_id(self.props.service_principals[name])
        return name  # a group's display name, or `account users`

    def access_control(self, name: str) -> dict[str, str]:
        """The principal as a databricks_permissions access_control block wants it."""
        if name in self.props.service_principals:
            return {"service_principal_name": self.grant_principal(name)}
        if "@" in name:
            return {"user_name": name}
        return {"group_name": name}

    def secret_acl_principal(self, name: str) -> str:
        """Secret ACLs name service principals by application id, groups and users by name."""
        return self.grant_principal(name)


def slug(name: str) -> str:
    """A Terraform-safe key for a name: `ml-engineers` -> `ml_engineers`, `a.b@c.com` -> `a_b_c_com`."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())
