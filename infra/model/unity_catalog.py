"""Unity Catalog: the environment's catalog, schemas, volumes, registered models and bindings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import ContainerName, EnvName, Identifier, Strict


# The external location that covers the catalog's managed storage (the first storage container).
MANAGED_LOCATION = "managed"
# How a catalog is bound to a workspace; the unity_catalog construct maps each to its Databricks binding type.
BindingMode = Literal["read_only", "read_write"]


class Schema(Strict):
    name: Identifier = Field(description="Schema name inside the environment's catalog.")
    comment: str = Field("", description="Shown in Catalog Explorer.")


class Volume(Strict):
    schema_name: Identifier = Field(alias="schema", description="Schema that holds the volume.")
    name: Identifier = Field(description="Volume name.")
    comment: str = Field("", description="Shown in Catalog Explorer.")


class RegisteredModel(Strict):
    name: Identifier = Field(description="Model name; registered as `<catalog>.<model_schema>.<name>`.")
    comment: str = Field("", description="Shown in Catalog Explorer.")


class ExternalLocation(Strict):
    """A path on the environment's storage that Unity Catalog may read (and write unless read-only)."""

    name: Identifier = Field(description="Short name; registered as `<catalog>_<name>` (names are metastore-wide).")
    container: ContainerName = Field(description="Container of the environment's storage account.")
    path: str = Field("", pattern=r"^[A-Za-z0-9_./-]*$", description="Folder inside the container; empty for all of it.")
    read_only: bool = Field(False, description="Refuse writes through this location (e.g. a landing zone).")
    comment: str = Field("", description="Shown in Catalog Explorer.")


class UnityCatalog(Strict):
    """The environment's isolated catalog and what it holds."""

    metastore_id: str = Field(description="The Unity Catalog metastore shared by all environments.")
    catalog: Identifier = Field(description="The environment's catalog (one per environment).")
    schemas: list[Schema] = Field(description="Schemas in the catalog, e.g. ml, features, monitoring.")
    model_schema: Identifier = Field("ml", description="Schema that holds registered models.")
    monitoring_schema: Identifier = Field("monitoring", description="Schema for inference tables and drift metrics.")
    volumes: list[Volume] = Field(default_factory=list, description="Unity Catalog volumes.")
    external_locations: list[ExternalLocation] = Field(
        default_factory=list,
        description="Extra external locations; the catalog's managed container always gets one (`<catalog>_managed`).",
    )
    bindings: dict[EnvName, BindingMode] = Field(
        default_factory=dict,
        description="Other environments whose workspaces may use this catalog (it is ISOLATED otherwise).",
    )

    @field_validator("schemas", mode="before")
    @classmethod
    def _schema_shorthand(cls, value):
        # `schemas: [ml, features]` is the common case; objects are for comments.
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="before")
    @classmethod
    def _models_moved(cls, data):
        # Single-model files (lakegate 0.1) listed models here and wired their jobs by hand.
        if isinstance(data, dict) and "models" in data:
            raise ValueError("@unity_catalog.models: models are declared in the top-level `models:` section since "
                             "lakegate 0.2, one entry per model with its task, code, features, label and settings "
                             "(its jobs `<model>-<step>` are derived): see README, \"Migrating a single-model file\"")
        return data

    @model_validator(mode="after")
    def _references_resolve(self) -> "UnityCatalog":
        names = [s.name for s in self.schemas]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate schema {', '.join(duplicates)}")
        for field_name in ("model_schema", "monitoring_schema"):
            if getattr(self, field_name) not in names:
                raise ValueError(f"{field_name} '{getattr(self, field_name)}' is not one of the schemas ({', '.join(names)})")
        for volume in self.volumes:
            if volume.schema_name not in names:
                raise ValueError(f"volume '{volume.name}' is in unknown schema '{volume.schema_name}'")
        locations = [MANAGED_LOCATION] + [location.name for location in self.external_locations]
        duplicates = sorted({n for n in locations if locations.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate external location {', '.join(duplicates)} ('{MANAGED_LOCATION}' is reserved)")
        return self

    @property
    def schema_names(self) -> list[str]:
        return [s.name for s in self.schemas]

    def qualify(self, name: str) -> str:
        """`ml.churn` -> `<catalog>.ml.churn`; a name that already has three parts is kept."""
        return name if name.count(".") == 2 else f"{self.catalog}.{name}"

    def location_name(self, name: str) -> str:
        return f"{self.catalog}_{name}"

    def model_full_name(self, model: str) -> str:
        return f"{self.catalog}.{self.model_schema}.{model}"
