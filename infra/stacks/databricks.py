"""`<env>-databricks`: Unity Catalog, identities, grants, compute, workflows, serving, monitoring and tooling
of one environment's workspace. Only wiring: the resources live in infra/constructs/databricks/, the values
come from the environment's YAML, the grants and bindings from infra/access.py.

The provider is configured from the `<env>-azure` stack's attributes (cross-stack references). Values of
other environments (their workspace ids for catalog bindings, their service principals' application ids
for promotion grants) come from `peers`, the other environments' foundations; without one, the value is
a Terraform variable of this stack (see constructs/databricks/directory.py).
"""

from __future__ import annotations

from typing import Mapping

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from .. import access
from ..constructs.azure.backend import StateBackendProps, attach_state_backend
from ..constructs.databricks.compute import Compute, ComputeProps
from ..constructs.databricks.directory import Directory, DirectoryProps
from ..constructs.databricks.grants import GrantsProps, UnityCatalogGrants
from ..constructs.databricks.identities import Identities, IdentitiesProps
from ..constructs.databricks.monitoring import Monitoring, MonitoringProps
from ..constructs.databricks.provider import WorkspaceProvider, WorkspaceProviderProps
from ..constructs.databricks.repos import Repos, ReposProps
from ..constructs.databricks.secrets import Secrets, SecretsProps
from ..constructs.databricks.serving import Serving, ServingProps
from ..constructs.databricks.unity_catalog import UnityCatalog, UnityCatalogProps
from ..constructs.databricks.workflows import Workflows, WorkflowsProps
from ..model import Environment, Environments
from .foundation import AzureFoundation


def _directory_props(env: Environment, envs: Environments, foundation: AzureFoundation,
                     peers: Mapping[str, AzureFoundation]) -> DirectoryProps:
    foundations = {**peers, env.name: foundation}

    def application_id(other: Environment) -> str | None:
        declared = other.principals.service_principal.application_id
        if declared is not None:
            return declared
        known = foundations.get(other.name)
        return known.service_principal_application_id if known is not None else None

    return DirectoryProps(
        environment=env.name,
        service_principals={e.service_principal: e.name for e in envs},
        application_ids={e.name: application_id(e) for e in envs},
        workspace_ids={name: f.workspace_id for name, f in foundations.items()},
    )


class DatabricksStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, env: Environment, envs: Environments, foundation: AzureFoundation,
                 peers: Mapping[str, AzureFoundation] | None = None):
        super().__init__(scope, id)
        self.env = env
        uc, tags = env.unity_catalog, env.tags

        attach_state_backend(self, StateBackendProps.for_stack(id, env.state))
        WorkspaceProvider(self, "provider", WorkspaceProviderProps(
            host=foundation.workspace_url,
            azure_workspace_resource_id=foundation.workspace_resource_id,
            azure_tenant_id=env.azure.tenant_id,
        ))
        directory = Directory(self, "directory", _directory_props(env, envs, foundation, dict(peers or {})))

        identities = Identities(self, "identities", IdentitiesProps(
            service_principal_name=env.service_principal,
            application_id=directory.own_application_id,
            groups=env.principals.groups,
        ))
        catalog = UnityCatalog(self, "unity-catalog", UnityCatalogProps(
            environment=env.name,
            catalog=uc.catalog,
            access_connector_id=foundation.access_connector_id,
            storage_dfs_host=foundation.storage_dfs_host,
            managed_container=env.storage.containers[0],
            model_schema=uc.model_schema,
            model_owner=directory.grant_principal(access.model_owner(env)),
            schemas=uc.schemas,
            volumes=uc.volumes,
            models=uc.models,
            external_locations=uc.external_locations,
            bindings=access.catalog_bindings(env, envs),
            properties={"environment": env.name, "managed_by": "lakegate"},
            owner_depends_on=(identities.service_principal,),
        ), directory)
        grants = UnityCatalogGrants(self, "grants", GrantsProps(
            grants=access.grants_owned_by(env, envs),
            securables=catalog.securables,
            principal_depends_on={env.service_principal: identities.service_principal},
        ), directory)
        compute = Compute(self, "compute", ComputeProps(
            service_principal=env.service_principal,
            policies=env.compute.policies,
            clusters=env.compute.clusters if env.compute.allow_all_purpose else (),
            tags=tags,
        ), directory)
        workflows = Workflows(self, "workflows", WorkflowsProps(
            environment=env.name,
            catalog=uc.catalog,
            model_schema=uc.model_schema,
            service_principal=env.service_principal,
            policies={p.name: (compute.policy_ids[p.name], p) for p in env.compute.policies},
            jobs=env.workflows.jobs,
            experiments=env.workflows.experiments,
            code=env.workflows.code,
            tags=tags,
        ), directory)
        serving = Serving(self, "serving", ServingProps(
            catalog=uc.catalog,
            model_schema=uc.model_schema,
            monitoring_schema=uc.monitoring_schema,
            service_principal=env.service_principal,
            endpoints=env.serving,
            tags=tags,
        ), directory)
        Monitoring(self, "monitoring", MonitoringProps(
            catalog=uc.catalog,
            monitoring_schema=uc.monitoring_schema,
            warehouses=env.sql_warehouses,
            monitors=env.quality_monitors,
            tags=tags,
        ), directory)
        Secrets(self, "scopes", SecretsProps(scopes=env.secret_scopes), directory)
        Repos(self, "repos", ReposProps(folders=env.git_folders), directory)

        self.catalog, self.grants, self.workflows, self.serving = catalog, grants, workflows, serving
        TerraformOutput(self, "catalog", value=catalog.catalog.name, description="The environment's catalog.")
        for name, endpoint in serving.endpoints.items():
            TerraformOutput(self, f"endpoint_{name.replace('-', '_')}_url", value=endpoint.endpoint_url,
                            description=f"Invocation URL of serving endpoint {name}.")
