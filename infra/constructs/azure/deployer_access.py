"""The Azure roles of an environment's deployer (its service principal), exactly as `infra/access.py`
derives them: nothing here decides who gets what, it only writes the role assignments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct

from ...access import AzureRoleAssignment


@dataclass(frozen=True)
class DeployerAccessProps:
    principal_object_id: str                  # object id of the deployer's service principal (token)
    roles: Sequence[AzureRoleAssignment]      # access.deployer_roles(env, envs)
    providers: dict                           # subscription id -> azurerm provider of that subscription
    depends_on: Sequence[object] = ()         # e.g. the resource group the roles are scoped to


class DeployerAccess(Construct):
    def __init__(self, scope: Construct, id: str, props: DeployerAccessProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.role_assignment import RoleAssignment

        self.assignments = []
        for index, role in enumerate(props.roles):
            subscription = role.scope.split("/")[2]
            self.assignments.append(RoleAssignment(
                self, f"role_{index}",
                scope=role.scope,
                role_definition_name=role.role,
                principal_id=props.principal_object_id,
                principal_type="ServicePrincipal",
                description=f"lakegate: {role.purpose}",
                condition=role.condition,
                condition_version="2.0" if role.condition else None,
                provider=props.providers[subscription],
                depends_on=list(props.depends_on) or None,
            ))
