"""Workspace tooling: SQL warehouses (dashboards, alerts, monitors), secret scopes and Git folders."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import GitProvider, PrincipalName, Strict

WarehouseSize = Literal["2X-Small", "X-Small", "Small", "Medium", "Large", "X-Large", "2X-Large", "3X-Large", "4X-Large"]
RepoPermission = Literal["CAN_READ", "CAN_RUN", "CAN_EDIT", "CAN_MANAGE"]


class SqlWarehouse(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,99}$", description="Warehouse name.")
    size: WarehouseSize = Field("2X-Small", description="Cluster size of the warehouse.")
    serverless: bool = Field(True, description="Serverless compute (starts in seconds, billed per second).")
    auto_stop_minutes: int = Field(10, ge=0, description="Stop after this many idle minutes; 0 means never.")
    min_clusters: int = Field(1, ge=1, description="Clusters kept when running.")
    max_clusters: int = Field(1, ge=1, description="Upper bound when scaling out under load.")
    users: list[PrincipalName] = Field(default_factory=list, description="Groups/users granted CAN_USE.")

    @model_validator(mode="after")
    def _bounds(self) -> "SqlWarehouse":
        if self.min_clusters > self.max_clusters:
            raise ValueError(f"min_clusters {self.min_clusters} exceeds max_clusters {self.max_clusters}")
        return self


class SecretScope(Strict):
    """A Databricks-backed secret scope. The YAML names who may read it; secret values never appear here."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$", description="Scope name.")
    acls: dict[PrincipalName, Literal["READ", "WRITE", "MANAGE"]] = Field(
        default_factory=dict, description="Principal -> permission on the scope (groups, the service principal)."
    )


class GitFolder(Strict):
    """A Git folder (repo) checked out in the workspace, e.g. for people to read the deployed code."""

    url: str = Field(pattern=r"^https://\S+$", description="HTTPS URL of the repository.")
    provider: GitProvider = Field(
        "gitHub", description="Git provider, as Databricks spells it."
    )
    path: str = Field(pattern=r"^/(Repos|Workspace)/\S+$",
                      description="Workspace path of the folder, e.g. /Workspace/Shared/lakegate-ml.")
    branch: str = Field("main", description="Branch checked out.")
    sparse_checkout: list[str] = Field(default_factory=list, description="Only check out these folders (cone patterns).")
    permissions: dict[PrincipalName, RepoPermission] = Field(
        default_factory=dict, description="Who may read, run, edit or manage the folder."
    )
