"""One environment, as written in environments/<name>.yaml, and the set of all of them."""

from __future__ import annotations

from pydantic import Field, PrivateAttr

from .azure import AzureSettings, Monitoring, StateBackend, Storage, Workspace
from .base import EnvName, Strict
from .compute import Compute
from .grants import Grant, Principals
from .promotion import Credentials, Promotion, Waiver
from .unity_catalog import UnityCatalog


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
    promotion: Promotion = Field(default_factory=Promotion, description="Where models come from, and gates.")
    credentials: Credentials = Field(default_factory=Credentials, description="How automation authenticates.")
    waivers: list[Waiver] = Field(default_factory=list, description="Accepted guardrail findings.")

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


class Environments:
    """All environments, ordered along the promotion path (sources before targets)."""

    def __init__(self, environments: list[Environment]):
        self._by_name = {env.name: env for env in environments}

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
