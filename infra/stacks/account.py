"""`account`: what belongs to every environment and to none alone. Only wiring: the resources live in
infra/constructs/, the values come from environments/_account.yaml and the environments' YAML, the roles
and privileges from infra/access.py.

Deployed first, by the platform's bootstrap identity (`deployer` in _account.yaml), because everything an
environment's deployer needs must exist before that deployer can run: its CI identity in Entra ID (with
OIDC federated credentials, no secret), its resource group and Azure roles, its account service principal,
and the account groups its workspace is given. Its state holds no secret; every environment's deployer may
read it (the application ids of the service principals, see `application_id_<env>` outputs).
"""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from .. import access
from ..constructs.azure.backend import StateBackendProps, attach_state_backend
from ..constructs.azure.ci_identity import CiIdentity, CiIdentityProps
from ..constructs.azure.deployer_access import DeployerAccess, DeployerAccessProps
from ..constructs.azure.providers import AzureProviders, AzureProvidersProps
from ..constructs.azure.resource_group import EnvironmentResourceGroup, ResourceGroupProps
from ..constructs.databricks.account_identities import AccountIdentities, AccountIdentitiesProps
from ..constructs.databricks.metastore import WorkspaceOnMetastore, WorkspaceOnMetastoreProps
from ..constructs.databricks.provider import AccountProvider, AccountProviderProps
from ..model import Environments
from ..model.account import ACCOUNT_STACK
from .account_outputs import application_id_output


class AccountStack(TerraformStack):
    def __init__(self, scope: Construct, id: str = ACCOUNT_STACK, *, envs: Environments):
        super().__init__(scope, id)
        account = envs.account
        attach_state_backend(self, StateBackendProps.for_stack(id, account.state))

        # One azurerm provider per subscription the roles touch (environments' and state accounts').
        subscriptions = sorted({role.scope.split("/")[2] for env in envs for role in access.deployer_roles(env, envs)}
                               | {env.azure.subscription_id for env in envs})
        providers, azuread = {}, None
        for index, subscription in enumerate(subscriptions):
            configured = AzureProviders(self, f"providers_{index}", AzureProvidersProps(
                subscription_id=subscription, tenant_id=account.tenant_id, with_azuread=index == 0,
                alias=f"sub_{subscription[:8]}",
            ))
            providers[subscription] = configured.azurerm
            azuread = azuread or configured.azuread
        AccountProvider(self, "databricks", AccountProviderProps(
            account_id=account.databricks_account_id, host=account.host, azure_tenant_id=account.tenant_id))

        application_ids, object_ids = {}, {}
        for env in envs:
            sp = env.principals.service_principal
            if sp.application_id is None:
                github, devops = sp.ci_oidc.github, sp.ci_oidc.azure_devops
                ci = CiIdentity(self, f"ci-identity-{env.name}", CiIdentityProps(
                    display_name=sp.name, env_name=env.name,
                    github_subject=github.subject if github else None,
                    azure_devops_issuer=devops.issuer if devops else None,
                    azure_devops_subject=devops.subject if devops else None,
                    tags=env.tags,
                ))
                application_ids[env.name], object_ids[env.name] = ci.client_id, ci.service_principal_object_id
            else:
                from cdktn_provider_azuread.data_azuread_service_principal import DataAzureadServicePrincipal

                existing = DataAzureadServicePrincipal(self, f"ci-identity-{env.name}", client_id=sp.application_id)
                application_ids[env.name], object_ids[env.name] = sp.application_id, existing.object_id

            group = EnvironmentResourceGroup(self, f"resource-group-{env.name}", ResourceGroupProps(
                name=env.azure.resource_group, location=env.azure.location, tags=env.tags,
                provider=providers[env.azure.subscription_id],
            ))
            DeployerAccess(self, f"deployer-{env.name}", DeployerAccessProps(
                principal_object_id=object_ids[env.name], roles=access.deployer_roles(env, envs),
                providers=providers, depends_on=(group.resource,),
            ))

        identities = AccountIdentities(self, "identities", AccountIdentitiesProps(
            service_principals={env.service_principal: application_ids[env.name] for env in envs},
            groups=access.account_groups(envs),
        ))
        for env in envs:
            if env.workspace.id is not None:
                WorkspaceOnMetastore(self, f"metastore-{env.name}", WorkspaceOnMetastoreProps(
                    metastore_id=env.unity_catalog.metastore_id, workspace_id=env.workspace.id,
                    deployer_application_id=application_ids[env.name],
                    privileges=access.metastore_privileges(env).privileges,
                    depends_on=(identities.service_principals[env.service_principal],),
                ))
            TerraformOutput(self, application_id_output(env.name), value=application_ids[env.name],
                            description=f"Application (client) id of {env.name}'s service principal.")
