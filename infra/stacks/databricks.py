"""`<env>-databricks`: Unity Catalog, workspace identities, grants, compute, workflows, serving and tooling of
one environment's workspace. Only wiring: the resources live in infra/constructs/databricks/, the values come
from the environment's YAML, the grants and bindings from infra/access.py.

The provider is configured from the `<env>-azure` stack's attributes (cross-stack references within the
environment). What it needs of other environments comes from their YAML (a peer's `workspace.id` for a
catalog binding) or from the account stack's outputs (application ids, read through the account state,
which holds no secret): never from another environment's state.
"""

from __future__ import annotations

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from .. import access
from ..constructs.azure.backend import StateBackendProps, attach_state_backend
from ..constructs.databricks.compute import Compute, ComputeProps
from ..constructs.databricks.directory import Directory, DirectoryProps
from ..constructs.databricks.grants import GrantsProps, UnityCatalogGrants
from ..constructs.databricks.identities import Identities, IdentitiesProps
from ..constructs.databricks.online_features import OnlineFeatures, OnlineFeaturesProps
from ..constructs.databricks.provider import WorkspaceProvider, WorkspaceProviderProps
from ..constructs.databricks.repos import Repos, ReposProps
from ..constructs.databricks.secrets import Secrets, SecretsProps
from ..constructs.databricks.serving import Serving, ServingProps
from ..constructs.databricks.sql_warehouses import SqlWarehouses, SqlWarehousesProps
from ..constructs.databricks.unity_catalog import UnityCatalog, UnityCatalogProps
from ..constructs.databricks.workflows import Workflows, WorkflowsProps
from ..model import Environment, Environments
from ..model.unity_catalog import RegisteredModel
from .account_outputs import AccountOutputs
from .foundation import AzureFoundation


def _directory(stack: TerraformStack, env: Environment, envs: Environments, foundation: AzureFoundation) -> Directory:
    account_outputs: list[AccountOutputs] = []

    def from_account(environment: str) -> str:
        if not account_outputs:  # the remote state only exists when some application id is read from it
            account_outputs.append(AccountOutputs(stack, "account", envs.account))
        return account_outputs[0].application_id(environment)

    peers = {other.name: other.workspace.id for other in envs if other.name != env.name and other.workspace.id}
    return Directory(stack, "directory", DirectoryProps(
        environment=env.name,
        service_principals={e.service_principal: e.name for e in envs},
        declared_application_ids={e.name: e.principals.service_principal.application_id for e in envs},
        workspace_ids={**peers, env.name: foundation.workspace_id},
        account_application_id=from_account,
    ))


class DatabricksStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, env: Environment, envs: Environments, foundation: AzureFoundation,
                 account: TerraformStack | None = None):
        super().__init__(scope, id)
        self.env = env
        uc, tags = env.unity_catalog, env.tags
        if account is not None:
            self.add_dependency(account)  # account groups, service principals and their application ids

        attach_state_backend(self, StateBackendProps.for_stack(id, env.state))
        WorkspaceProvider(self, "provider", WorkspaceProviderProps(
            host=foundation.workspace_url,
            azure_workspace_resource_id=foundation.workspace_resource_id,
            azure_tenant_id=env.azure.tenant_id,
        ))
        directory = _directory(self, env, envs, foundation)

        Identities(self, "identities", IdentitiesProps(groups=env.principals.groups))
        catalog = UnityCatalog(self, "unity-catalog", UnityCatalogProps(
            environment=env.name,
            catalog=uc.catalog,
            access_connector_id=foundation.access_connector_id,
            storage_dfs_host=foundation.storage_dfs_host,
            managed_container=env.storage.containers[0],
            model_schema=uc.model_schema,
            model_owner=directory.grant_principal(access.model_owner(env)),
            metastore_id=uc.metastore_id,
            schemas=uc.schemas,
            volumes=uc.volumes,
            models=[RegisteredModel(name=name, comment=model.description) for name, model in env.models.items()],
            external_locations=uc.external_locations,
            bindings=access.catalog_bindings(env, envs),
            properties={"environment": env.name, "managed_by": "lakegate"},
        ), directory)
        grants = UnityCatalogGrants(self, "grants", GrantsProps(
            grants=access.grants_owned_by(env, envs),
            securables=catalog.securables,
        ), directory)
        compute = Compute(self, "compute", ComputeProps(
            service_principal=env.service_principal,
            policies=env.compute.policies,
            clusters=env.compute.clusters if env.compute.allow_all_purpose else (),
            tags=tags,
        ), directory)
        catalog_ref = catalog.catalog.name
        model_schema_ref = catalog.schemas[uc.model_schema].name
        workflows = Workflows(self, "workflows", WorkflowsProps(
            environment=env.name,
            catalog=catalog_ref,
            model_schema=model_schema_ref,
            service_principal=env.service_principal,
            policies={p.name: (compute.policy_ids[p.name], p) for p in env.compute.policies},
            jobs=env.jobs,
            experiments=env.experiments,
            code=env.workflows.code,
            tags=tags,
            models={name: f"{catalog_ref}.{model_schema_ref}.{model.name}" for name, model in catalog.models.items()},
            quality_monitors=env.monitors,
            serving=env.endpoints,
            monitoring_schema=uc.monitoring_schema,
        ), directory)
        serving = Serving(self, "serving", ServingProps(
            catalog=catalog_ref,
            monitoring_schema=catalog.schemas[uc.monitoring_schema].name,
            service_principal=env.service_principal,
            endpoints=env.endpoints,
            tags=tags,
        ), directory)
        online = OnlineFeatures(self, "online-features", OnlineFeaturesProps(
            environment=env.name,
            service_principal=env.service_principal,
            lookups=[e.feature_lookup for e in env.endpoints if e.feature_lookup is not None],
        ), directory)
        SqlWarehouses(self, "warehouses", SqlWarehousesProps(warehouses=env.sql_warehouses, tags=tags), directory)
        Secrets(self, "scopes", SecretsProps(scopes=env.secret_scopes), directory)
        Repos(self, "repos", ReposProps(folders=env.git_folders), directory)

        self.catalog, self.grants, self.workflows, self.serving = catalog, grants, workflows, serving
        self.online_features = online
        if online.store is not None:
            TerraformOutput(self, "online_store", value=online.store.name,
                            description="Online store the feature-refresh jobs publish to (serving by key).")
        TerraformOutput(self, "catalog", value=catalog_ref, description="The environment's catalog.")
        for name, endpoint in serving.endpoints.items():
            TerraformOutput(self, f"endpoint_{name.replace('-', '_')}_url", value=endpoint.endpoint_url,
                            description=f"Invocation URL of serving endpoint {name}.")
