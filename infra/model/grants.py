"""Principals and Unity Catalog grants, with the privileges each securable type accepts."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from .base import PrincipalName, Strict, Uuid
from .ci_values import AzureDevOpsName, AzureDevOpsOrganization, GithubEnvironmentName, GithubRepository, GitRef
from ..suggest import did_you_mean

# Unity Catalog privileges by securable type (Databricks "Unity Catalog privileges and securable objects").
PRIVILEGES_BY_SECURABLE: dict[str, frozenset[str]] = {
    "catalog": frozenset({
        "ALL_PRIVILEGES", "APPLY_TAG", "BROWSE", "CREATE_FUNCTION", "CREATE_MATERIALIZED_VIEW", "CREATE_MODEL",
        "CREATE_SCHEMA", "CREATE_TABLE", "CREATE_VOLUME", "EXECUTE", "MANAGE", "MODIFY", "READ_VOLUME", "REFRESH",
        "SELECT", "USE_CATALOG", "USE_SCHEMA", "WRITE_VOLUME", "EXTERNAL_USE_SCHEMA",
    }),
    "schema": frozenset({
        "ALL_PRIVILEGES", "APPLY_TAG", "CREATE_FUNCTION", "CREATE_MATERIALIZED_VIEW", "CREATE_MODEL", "CREATE_TABLE",
        "CREATE_VOLUME", "EXECUTE", "MANAGE", "MODIFY", "READ_VOLUME", "REFRESH", "SELECT", "USE_SCHEMA",
        "WRITE_VOLUME", "EXTERNAL_USE_SCHEMA",
    }),
    "table": frozenset({"ALL_PRIVILEGES", "APPLY_TAG", "MANAGE", "MODIFY", "SELECT"}),
    "volume": frozenset({"ALL_PRIVILEGES", "APPLY_TAG", "MANAGE", "READ_VOLUME", "WRITE_VOLUME"}),
    "model": frozenset({"ALL_PRIVILEGES", "APPLY_TAG", "EXECUTE", "MANAGE"}),
    "external_location": frozenset({
        "ALL_PRIVILEGES", "BROWSE", "CREATE_EXTERNAL_TABLE", "CREATE_EXTERNAL_VOLUME", "CREATE_MANAGED_STORAGE",
        "EXTERNAL_USE_LOCATION", "MANAGE", "READ_FILES", "WRITE_FILES",
    }),
    "storage_credential": frozenset({
        "ALL_PRIVILEGES", "CREATE_EXTERNAL_LOCATION", "CREATE_EXTERNAL_TABLE", "MANAGE", "READ_FILES", "WRITE_FILES",
    }),
}
ALL_PRIVILEGES = frozenset().union(*PRIVILEGES_BY_SECURABLE.values())
# Privileges that change data or metadata: a human group holding one in prod is a finding.
WRITE_PRIVILEGES = frozenset(
    p for p in ALL_PRIVILEGES
    if p in {"ALL_PRIVILEGES", "MODIFY", "MANAGE", "REFRESH", "APPLY_TAG"} or p.startswith(("CREATE_", "WRITE_"))
)
SecurableType = Literal["catalog", "schema", "table", "volume", "model", "external_location", "storage_credential"]
# How many dot-separated parts each securable's name has.
_NAME_PARTS = {"catalog": 1, "schema": 2, "table": 3, "volume": 3, "model": 3,
               "external_location": 1, "storage_credential": 1}
ACCOUNT_USERS = "account users"
# The workspace entitlements a group may hold; the identities construct sets every one of them.
Entitlement = Literal["workspace_access", "databricks_sql_access", "allow_cluster_create", "allow_instance_pool_create"]
ENTITLEMENTS: tuple[str, ...] = get_args(Entitlement)


class Securable(Strict):
    type: SecurableType
    name: str

    def __str__(self) -> str:
        return f"{self.type} {self.name}"

    @property
    def catalog(self) -> str | None:
        return self.name.split(".")[0] if _NAME_PARTS[self.type] > 1 or self.type == "catalog" else None


def parse_securable(text: str) -> Securable:
    kind, _, name = text.strip().partition(" ")
    name = name.strip()
    if kind not in _NAME_PARTS:
        raise ValueError(f"unknown securable type '{kind}' (expected one of {', '.join(_NAME_PARTS)})")
    if not name or len(name.split(".")) != _NAME_PARTS[kind]:
        raise ValueError(f"'{text}': a {kind} is named with {_NAME_PARTS[kind]} dot-separated part(s)")
    return Securable(type=kind, name=name)


class Grant(Strict):
    """`{principal: data-scientists, on: schema dev.ml, privileges: [USE_SCHEMA, SELECT]}`"""

    principal: PrincipalName = Field(description="A group, a service principal or `account users`.")
    on: Securable = Field(description="`<type> <name>`: catalog dev, schema dev.ml, model dev.ml.churn, volume ...")
    privileges: list[str] = Field(min_length=1, description="Unity Catalog privileges (USE_CATALOG, SELECT, ...).")

    @field_validator("on", mode="before")
    @classmethod
    def _parse_on(cls, value):
        return parse_securable(value) if isinstance(value, str) else value

    @field_validator("privileges", mode="before")
    @classmethod
    def _normalise(cls, value):
        # Accept the SQL spelling (`USE CATALOG`) as well as the Terraform one (`USE_CATALOG`).
        if isinstance(value, list):
            return [p.strip().upper().replace(" ", "_") if isinstance(p, str) else p for p in value]
        return value

    @field_validator("privileges")
    @classmethod
    def _known(cls, privileges: list[str]) -> list[str]:
        for privilege in privileges:
            if privilege not in ALL_PRIVILEGES:
                raise ValueError(f"unknown privilege '{privilege}'{did_you_mean(privilege, ALL_PRIVILEGES)}")
        return privileges

    @model_validator(mode="after")
    def _fits_securable(self) -> "Grant":
        allowed = PRIVILEGES_BY_SECURABLE[self.on.type]
        wrong = [p for p in self.privileges if p not in allowed]
        if wrong:
            raise ValueError(f"privilege {', '.join(wrong)} cannot be granted on a {self.on.type}")
        return self


class GithubOidc(Strict):
    repository: GithubRepository = Field(description="`org/repo`.")
    environment: GithubEnvironmentName | None = Field(
        None, description="GitHub environment; subject `repo:org/repo:environment:X`.")
    branch: GitRef | None = Field(None, description="Branch instead of environment; subject `repo:org/repo:ref:refs/heads/X`.")

    @model_validator(mode="after")
    def _one_subject(self) -> "GithubOidc":
        if (self.environment is None) == (self.branch is None):
            raise ValueError("give exactly one of environment, branch")
        return self

    @property
    def subject(self) -> str:
        if self.environment:
            return f"repo:{self.repository}:environment:{self.environment}"
        return f"repo:{self.repository}:ref:refs/heads/{self.branch}"


class AzureDevOpsOidc(Strict):
    organization: AzureDevOpsOrganization = Field(description="Azure DevOps organization.")
    project: AzureDevOpsName = Field(description="Azure DevOps project.")
    service_connection: AzureDevOpsName = Field(description="Name of the workload-identity service connection.")
    organization_id: Uuid = Field(description="Organization GUID (the issuer is per organization).")

    @property
    def subject(self) -> str:
        return f"sc://{self.organization}/{self.project}/{self.service_connection}"

    @property
    def issuer(self) -> str:
        return f"https://vstoken.dev.azure.com/{self.organization_id}"


class CiOidc(Strict):
    github: GithubOidc | None = Field(None, description="GitHub Actions federated credential.")
    azure_devops: AzureDevOpsOidc | None = Field(None, description="Azure DevOps federated credential.")


class ServicePrincipal(Strict):
    """The environment's automation identity: CI deploys and promotes as this principal, and nothing else."""

    name: PrincipalName = Field(description="Display name, also used in grants.")
    application_id: str | None = Field(
        None, description="Existing Entra application (client) id; omit to create one in the azure stack."
    )
    ci_oidc: CiOidc = Field(default_factory=CiOidc, description="Federated credentials for CI (no client secret).")


class Group(Strict):
    members: list[str] = Field(default_factory=list, description="User names (e-mail) in the group.")
    entitlements: list[Entitlement] = Field(
        default_factory=lambda: ["workspace_access"], description="Workspace entitlements of the group."
    )
    human: bool = Field(True, description="Whether the group holds people (guardrails treat human groups stricter).")
    existing: bool = Field(
        False, description="An account group managed outside lakegate (e.g. synced from Entra ID by SCIM): the "
                           "account stack neither creates it nor manages its members.")


class Principals(Strict):
    service_principal: ServicePrincipal = Field(description="The environment's CI / automation principal.")
    groups: dict[PrincipalName, Group] = Field(default_factory=dict, description="Workspace groups and members.")

    @field_validator("groups", mode="before")
    @classmethod
    def _members_shorthand(cls, value):
        # `groups: {ml-engineers: [a@x, b@x]}` lists members directly.
        if isinstance(value, dict):
            return {k: ({"members": v} if isinstance(v, list) else v) for k, v in value.items()}
        return value
