"""Unity Catalog objects of one environment: storage credential on the access connector, external locations,
the isolated catalog and its workspace bindings, schemas, volumes, and registered models owned by the
environment's service principal (in Unity Catalog only a model's owner may move its aliases).

The catalog checks, before anything is created in it, that the workspace is on the metastore the YAML
names: a workspace that automatic Unity Catalog enablement put elsewhere must fail the plan, not create a
catalog in the wrong metastore. A binding to a peer's workspace whose id is not declared yet is left out
(guardrail LG-UC-002 says which) and appears once the peer's `workspace.id` is in its YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...access import CatalogBinding
from ...model.unity_catalog import MANAGED_LOCATION, BindingMode, ExternalLocation, RegisteredModel, Schema, Volume
from .directory import Directory

BINDING_TYPES: dict[BindingMode, str] = {"read_only": "BINDING_TYPE_READ_ONLY", "read_write": "BINDING_TYPE_READ_WRITE"}


@dataclass(frozen=True)
class UnityCatalogProps:
    environment: str
    catalog: str
    access_connector_id: str                    # Azure resource id of the access connector (token)
    storage_dfs_host: str                       # <account>.dfs.core.windows.net
    managed_container: str                      # container holding the catalog's managed storage
    model_schema: str
    model_owner: str                            # application id of the owner of every registered model
    metastore_id: str = ""                      # the metastore the workspace must be on (checked at plan time)
    schemas: Sequence[Schema] = ()
    volumes: Sequence[Volume] = ()
    models: Sequence[RegisteredModel] = ()
    external_locations: Sequence[ExternalLocation] = ()
    bindings: Sequence[CatalogBinding] = ()    # from infra/access.py: own workspace, declared, promotion targets
    properties: Mapping[str, str] = field(default_factory=dict)


class UnityCatalog(Construct):
    """Attributes: `catalog`, `schemas`, `volumes`, `models`, `locations` (by name) and `securables`,
    a map `(type, full name) -> resource` so grants can depend on what they grant on."""

    def __init__(self, scope: Construct, id: str, props: UnityCatalogProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.catalog import Catalog
        from cdktn_provider_databricks.external_location import ExternalLocation as Location
        from cdktn_provider_databricks.registered_model import RegisteredModel as Model
        from cdktn_provider_databricks.schema import Schema as UcSchema
        from cdktn_provider_databricks.storage_credential import StorageCredential, StorageCredentialAzureManagedIdentity
        from cdktn_provider_databricks.volume import Volume as UcVolume
        from cdktn_provider_databricks.workspace_binding import WorkspaceBinding

        from cdktn import Op, Precondition, TerraformResourceLifecycle
        from cdktn_provider_databricks.data_databricks_current_metastore import DataDatabricksCurrentMetastore

        catalog_name = props.catalog
        # What holds data is never destroyed by an apply: a definition change that would replace or delete it
        # fails the plan instead (remove the guard in a reviewed change to really delete it).
        keep = TerraformResourceLifecycle(prevent_destroy=True)
        lifecycle = keep
        if props.metastore_id:
            current = DataDatabricksCurrentMetastore(self, "current_metastore")
            lifecycle = TerraformResourceLifecycle(prevent_destroy=True, precondition=[Precondition(
                condition=Op.eq(current.metastore_info.metastore_id, props.metastore_id),
                error_message=f"The workspace of {props.environment} is not assigned to metastore "
                              f"{props.metastore_id} (unity_catalog.metastore_id): assign it (account stack, once "
                              "workspace.id is declared) or correct the YAML.",
            )])
        self.credential = StorageCredential(
            self, "storage_credential",
            name=f"{catalog_name}_access_connector",
            azure_managed_identity=StorageCredentialAzureManagedIdentity(access_connector_id=props.access_connector_id),
            comment=f"Managed identity of {props.environment}'s access connector (managed by lakegate)",
        )
        managed = ExternalLocation(name=MANAGED_LOCATION, container=props.managed_container,
                                   comment=f"Managed storage of catalog {catalog_name}")
        # Each attribute read is a round trip to the jsii runtime: read each reference once.
        credential_name = self.credential.name
        self.locations = {}
        for location in [managed, *props.external_locations]:
            url = f"abfss://{location.container}@{props.storage_dfs_host}/{location.path.strip('/')}"
            self.locations[location.name] = Location(
                self, f"location_{location.name}",
                name=f"{catalog_name}_{location.name}",
                url=url,
                credential_name=credential_name,
                read_only=location.read_only or None,
                comment=location.comment or None,
            )
        self.catalog = Catalog(
            self, "catalog",
            name=catalog_name,
            storage_root=self.locations[MANAGED_LOCATION].url,
            isolation_mode="ISOLATED",
            comment=f"Catalog of the {props.environment} environment (managed by lakegate)",
            properties=dict(props.properties) or None,
            lifecycle=lifecycle,
        )
        catalog_ref = self.catalog.name
        self.bindings = [
            WorkspaceBinding(
                self, f"binding_{binding.workspace_env}",
                securable_type="catalog",
                securable_name=catalog_ref,
                workspace_id=directory.workspace_id(binding.workspace_env),
                binding_type=BINDING_TYPES[binding.mode],
            )
            for binding in props.bindings if directory.workspace_id(binding.workspace_env) is not None
        ]
        self.schemas = {
            schema.name: UcSchema(self, f"schema_{schema.name}", catalog_name=catalog_ref, name=schema.name,
                                  comment=schema.comment or None, properties=dict(props.properties) or None,
                                  lifecycle=keep)
            for schema in props.schemas
        }
        schema_refs = {name: schema.name for name, schema in self.schemas.items()}
        self.volumes = {
            f"{v.schema_name}.{v.name}": UcVolume(
                self, f"volume_{v.schema_name}_{v.name}", catalog_name=catalog_ref,
                schema_name=schema_refs[v.schema_name], name=v.name, volume_type="MANAGED", comment=v.comment or None,
                lifecycle=keep)
            for v in props.volumes
        }
        self.models = {
            model.name: Model(
                self, f"model_{model.name}", catalog_name=catalog_ref,
                schema_name=schema_refs[props.model_schema], name=model.name,
                owner=props.model_owner, comment=model.comment or None, lifecycle=keep)
            for model in props.models
        }
        self.securables = {("catalog", catalog_name): self.catalog}
        self.securables.update({("schema", f"{catalog_name}.{n}"): r for n, r in self.schemas.items()})
        self.securables.update({("volume", f"{catalog_name}.{n}"): r for n, r in self.volumes.items()})
        self.securables.update({("model", f"{catalog_name}.{props.model_schema}.{n}"): r for n, r in self.models.items()})
        self.securables.update({("external_location", f"{catalog_name}_{n}"): r for n, r in self.locations.items()})
        self.securables[("storage_credential", f"{catalog_name}_access_connector")] = self.credential
