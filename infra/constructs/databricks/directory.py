"""What one `<env>-databricks` stack knows about principals and workspaces, its own and other environments'.

Unity Catalog names a service principal by its application id, a group by its display name and every
account user as `account users`. Application ids and workspace ids are cross-stack values (tokens of the
`<env>-azure` stacks) or plain strings from the YAML. When the stack is synthesized without another
environment's azure stack (e.g. `main.py synth --only prod`), that environment's value becomes a Terraform
variable (`application_id_<env>`, `workspace_id_<env>`) to pass at plan time, never a silent guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from constructs import Construct

ACCOUNT_USERS = "account users"


@dataclass(frozen=True)
class DirectoryProps:
    environment: str                                  # this stack's environment
    service_principals: Mapping[str, str]             # service principal name -> its environment
    application_ids: Mapping[str, str | None]         # environment -> application id (token/literal); None: unknown here
    workspace_ids: Mapping[str, str | None]           # environment -> numeric workspace id (token); None: unknown here


class Directory(Construct):
    def __init__(self, scope: Construct, id: str, props: DirectoryProps):
        super().__init__(scope, id)
        self.props = props
        self._references: dict[str, object] = {}

    def _variable(self, name: str, kind: str, description: str):
        """The variable's reference (a token), created once; variables are direct children of the stack so
        their names stay plain in the JSON."""
        from cdktn import TerraformVariable

        if name not in self._references:
            variable = TerraformVariable(self.node.scope, name, type=kind, description=description, nullable=False)
            self._references[name] = variable.number_value if kind == "number" else variable.string_value
        return self._references[name]

    def application_id(self, environment: str) -> str:
        known = self.props.application_ids.get(environment)
        if known is not None:
            return known
        return self._variable(f"application_id_{environment}", "string",
                              f"Application (client) id of {environment}'s service principal "
                              f"(output of the {environment}-azure stack).")

    def workspace_id(self, environment: str):
        """A number token: the numeric id of `environment`'s workspace."""
        from cdktn import Token

        known = self.props.workspace_ids.get(environment)
        if known is not None:
            return Token.as_number(known)
        return self._variable(f"workspace_id_{environment}", "number",
                              f"Numeric workspace id of {environment} (output of the {environment}-azure stack).")

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
