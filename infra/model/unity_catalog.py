"""Unity Catalog: the environment's catalog, schemas, volumes, registered models and bindings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import EnvName, Identifier, Strict


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


class UnityCatalog(Strict):
    """The environment's isolated catalog and what it holds."""

    metastore_id: str = Field(description="The Unity Catalog metastore shared by all environments.")
    catalog: Identifier = Field(description="The environment's catalog (one per environment).")
    schemas: list[Schema] = Field(description="Schemas in the catalog, e.g. ml, features, monitoring.")
    model_schema: Identifier = Field("ml", description="Schema that holds registered models.")
    monitoring_schema: Identifier = Field("monitoring", description="Schema for inference tables and drift metrics.")
    volumes: list[Volume] = Field(default_factory=list, description="Unity Catalog volumes.")
    models: list[RegisteredModel] = Field(
        default_factory=list, description="Registered models, owned by the environment's service principal."
    )
    bindings: dict[EnvName, Literal["read_only", "read_write"]] = Field(
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

    @field_validator("models", mode="before")
    @classmethod
    def _model_shorthand(cls, value):
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

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
        return self

    def model_full_name(self, model: str) -> str:
        return f"{self.catalog}.{self.model_schema}.{model}"
