"""One environment, as written in environments/<name>.yaml, and the set of all of them."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from .account import Account
from .azure import AzureSettings, Monitoring, StateBackend, Storage, Workspace
from .base import EnvName, Strict
from .compute import Compute
from .grants import Grant, Principals
from .promotion import Credentials, Promotion, Waiver
from .quality import QualityMonitor
from .references import (
    check_compute, check_git_folders, check_monitors, check_secret_scopes, check_serving, check_storage_locations,
    check_warehouses, check_workflows,
)
from .serving import ServingEndpoint
from .tooling import GitFolder, SecretScope, SqlWarehouse
from .unity_catalog import UnityCatalog
from .workflows import Workflows


# Section -> the check that its references (policies, groups, models, tables, ...) resolve.
_REFERENCE_CHECKS = {
    "compute": check_compute, "workflows": check_workflows, "serving": check_serving,
    "sql_warehouses": check_warehouses, "quality_monitors": check_monitors, "secret_scopes": check_secret_scopes,
    "git_folders": check_git_folders,
}


class Environment(Strict):
    """One deployment environment: its own Azure footprint, workspace and catalog."""

    name: EnvName = Field(description="Environment name; stacks are `<name>-azure` and `<name>-databricks`.")
    description: str = Field("", description="What the environment is for.")
    owner: str = Field(description="Team accountable for the environment; becomes the `owner` tag.")
    production: bool = Field(False, description="Production rules apply (guardrails LG-PROD-*).")
    azure: AzureSettings = Field(description="Subscription, region, resource group, tags.")
    state: StateBackend = Field(default_factory=StateBackend, description="Terraform state backend.")
    storage: Storage = Field(description="ADLS Gen2 storage account.")
    workspace: Workspace = Field(description="Azure Databricks workspace.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Azure Monitor.")
    unity_catalog: UnityCatalog = Field(description="Catalog, schemas, volumes, models, bindings.")
    principals: Principals = Field(description="Service principal and groups.")
    grants: list[Grant] = Field(default_factory=list, description="Unity Catalog grants written by people.")
    compute: Compute = Field(default_factory=Compute, description="Cluster policies and clusters.")
    workflows: Workflows = Field(default_factory=Workflows, description="MLflow experiments and jobs.")
    serving: list[ServingEndpoint] = Field(default_factory=list, description="Model serving endpoints.")
    sql_warehouses: list[SqlWarehouse] = Field(default_factory=list, description="SQL warehouses (dashboards, alerts).")
    quality_monitors: list[QualityMonitor] = Field(
        default_factory=list, description="Quality monitors on inference and prediction tables."
    )
    secret_scopes: list[SecretScope] = Field(default_factory=list, description="Secret scopes and who may read them.")
    git_folders: list[GitFolder] = Field(default_factory=list, description="Git folders (repos) in the workspace.")
    promotion: Promotion = Field(default_factory=Promotion, description="Where models come from, and gates.")
    credentials: Credentials = Field(default_factory=Credentials, description="How automation authenticates.")
    waivers: list[Waiver] = Field(default_factory=list, description="Accepted guardrail findings.")

    # References between sections (a job's policy, an endpoint's model, ...). Field validators see the fields
    # declared before them (info.data), so a broken reference is reported at the section that makes it.
    @field_validator("unity_catalog")
    @classmethod
    def _locations_on_own_storage(cls, value, info: ValidationInfo):
        return _checked(value, check_storage_locations, value, info.data.get("storage"))

    @field_validator(*_REFERENCE_CHECKS)
    @classmethod
    def _references_resolve(cls, value, info: ValidationInfo):
        return _checked(value, _REFERENCE_CHECKS[info.field_name], value, info.data)

    # Where each field was written (file and line), for located errors in later checks.
    _source: object = PrivateAttr(default=None)

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every Azure resource: the mandatory ones win over free-form ones."""
        return {**self.azure.tags, "environment": self.name, "owner": self.owner, "managed_by": "lakegate"}

    @property
    def service_principal(self) -> str:
        return self.principals.service_principal.name

    def locate(self, *path: str | int) -> str:
        """`environments/prod.yaml:14` for a field path, as precisely as the source allows."""
        return self._source.locate(path) if self._source is not None else f"<{self.name}>"


def _checked(value, check, *args):
    problems = check(*args)
    if problems:
        raise ValueError("; ".join(problems))
    return value


class Environments:
    """All environments, ordered along the promotion path (sources before targets), and the account they
    belong to (environments/_account.yaml)."""

    def __init__(self, environments: list[Environment], account: Account | None = None):
        self._by_name = {env.name: env for env in environments}
        self.account = account

    def __iter__(self):
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def __getitem__(self, name: str) -> Environment:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def by_catalog(self, catalog: str) -> Environment | None:
        return next((e for e in self if e.unity_catalog.catalog == catalog), None)

    def promotion_targets(self, source: str) -> list[Environment]:
        return [e for e in self if e.promotion.from_env == source]
