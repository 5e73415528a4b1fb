"""One environment, as written in environments/<name>.yaml, and the set of all of them."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from .account import Account
from .azure import AzureSettings, Monitoring, StateBackend, Storage, Workspace
from .base import EnvName, Identifier, Strict
from .compute import Compute
from .grants import Grant, Principals
from .lifecycle import Context, Derived, derive
from .metrics import TASK_METRICS
from .models import ModelSpec
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
    models: dict[Identifier, ModelSpec] = Field(
        default_factory=dict, description="The models this environment holds, each declared once with what is specific "
                                          "to it (task, code, features, label, gates, serving, ...); registered as "
                                          "`<catalog>.<model_schema>.<name>` and owned by the service principal.")
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

    @model_validator(mode="after")
    def _derive_model_objects(self) -> "Environment":
        """Each model's jobs, endpoint, monitors and experiment (infra/model/lifecycle.py), checked like declared ones."""
        derived = derive(self.models, Context(
            environment=self.name, production=self.production, promoted_into=self.promotion.from_env is not None,
            monitoring_schema=self.unity_catalog.monitoring_schema, workflows=self.workflows,
            evaluation_table=self.promotion.evaluation.table))
        self._derived = derived
        problems = [(path, message) for path, message in derived.problems]
        problems += _model_problems(self, derived)
        if problems:
            raise ValueError("\n".join(f"@{_dotted(path)}: {message}" for path, message in problems))
        return self

    # Where each field was written (file and line), for located errors in later checks.
    _source: object = PrivateAttr(default=None)
    _derived: Derived = PrivateAttr(default_factory=Derived)
    _policies: dict = PrivateAttr(default_factory=dict)

    def model_copy(self, *, update=None, deep: bool = False) -> "Environment":
        """A copy with some fields changed (the demo enrols its throwaway key so): what is derived from the fields
        (the models' jobs, their policies) is derived again, never carried over stale."""
        copy = super().model_copy(update=update, deep=deep)
        copy._policies = {}
        copy._derive_model_objects()
        return copy

    # -- what the environment holds, declared and derived from its models -------------------------------------

    @property
    def jobs(self) -> list:
        return [*self.workflows.jobs, *self._derived.jobs]

    def job(self, name: str):
        return next((j for j in self.jobs if j.name == name), None)

    @property
    def endpoints(self) -> list:
        return [*self.serving, *self._derived.serving]

    @property
    def monitors(self) -> list:
        return [*self.quality_monitors, *self._derived.monitors]

    @property
    def experiments(self) -> list:
        return [*self.workflows.experiments, *self._derived.experiments]

    @property
    def model_names(self) -> list[str]:
        return list(self.models)

    def policy(self, model: str):
        """The model's effective policy here, with the origin of each value (infra/model/policy.py)."""
        from .policy import model_policy

        if model not in self._policies:
            self._policies[model] = model_policy(self, model)
        return self._policies[model]

    def path_of(self, kind: str, name: str) -> tuple:
        """The YAML path a job or endpoint was written at (`models.churn.jobs.train` for a model's own)."""
        if (kind, name) in self._derived.paths:
            return self._derived.paths[(kind, name)]
        items = self.workflows.jobs if kind == "job" else self.serving
        index = next((i for i, item in enumerate(items) if item.name == name), None)
        return (("workflows", "jobs") if kind == "job" else ("serving",)) + ((index,) if index is not None else ())

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


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _model_problems(env: "Environment", derived: Derived) -> list[tuple[tuple, str]]:
    """What only the whole environment can check about its models: inherited gates fit the task, names are free,
    the derived jobs' clusters, policies and principals resolve."""
    from .workflows import Workflows

    problems: list[tuple[tuple, str]] = []
    if env.models and env.workflows.defaults.cluster is None:
        problems.append((("workflows", "defaults", "cluster"), "required when the environment declares models "
                         "(the cluster of every model job; a model may override it in jobs.<step>.cluster)"))
    for name, model in env.models.items():
        if model.gates is None:
            for index, gate in enumerate(env.promotion.gates):
                metric = getattr(gate, "metric", None)
                if metric is not None and metric not in TASK_METRICS[model.task]:
                    problems.append((("models", name), f"inherits promotion.gates[{index}] ({gate.gate_id}), but "
                                     f"{metric} is not a {model.task} metric: give the model its own `gates`"))
    declared = {j.name for j in env.workflows.jobs}
    addresses: dict[str, str] = {j.address_name: j.name for j in env.workflows.jobs}
    for job in derived.jobs:
        path = derived.paths[("job", job.name)]
        if job.name in declared:
            problems.append((path, f"its job '{job.name}' is also declared in workflows.jobs: rename one"))
        if job.moved_from is not None and job.moved_from in declared | {j.name for j in derived.jobs}:
            problems.append((path, f"moved_from '{job.moved_from}' is still a job here"))
        if job.address_name in addresses:
            problems.append((path, f"job '{job.name}' would take the Terraform address of job "
                             f"'{addresses[job.address_name]}' (moved_from '{job.address_name}' is claimed twice)"))
        addresses.setdefault(job.address_name, job.name)
    names = [e.name for e in env.serving] + [e.name for e in derived.serving]
    for endpoint in derived.serving:
        if names.count(endpoint.name) > 1:
            problems.append((derived.paths[("endpoint", endpoint.name)], f"serving endpoint '{endpoint.name}' is "
                             "declared twice in this workspace"))
    data = dict(env)
    if derived.jobs:
        try:
            workflows = Workflows(code=env.workflows.code, jobs=[*env.workflows.jobs, *derived.jobs])
        except ValueError as error:
            return problems + [(("models",), str(error).splitlines()[-1])]
        seen = set()
        for message in check_workflows(workflows, data):
            job = message.split("'")[1] if message.startswith("job '") else ""
            path = derived.paths.get(("job", job))
            if path is None:
                continue
            path, message = _inherited(env, job, path, message)
            if (path, message) not in seen:  # a default shared by every model job is reported once, where it is
                seen.add((path, message))
                problems.append((path, message))
    for message in check_serving(derived.serving, data):
        name = message.split("'")[1] if message.startswith("serving endpoint '") else ""
        problems.append((derived.paths.get(("endpoint", name), ("models",)), message))
    for message in check_monitors(derived.monitors, data):
        problems.append((("models",), message))
    return problems


# What a derived job's problem is about -> the `workflows.defaults` field it comes from unless the model overrides it.
_DEFAULTED = (("unknown policy", ("cluster", "policy")), ("node_type", ("cluster", "node_type")),
              ("max_workers", ("cluster", "max_workers")), ("permissions:", ("permissions",)))


def _inherited(env: "Environment", job: str, path: tuple, message: str) -> tuple[tuple, str]:
    """A problem of a model's job that comes from `workflows.defaults` is located there, without the job's name."""
    model, step = path[1], job.removeprefix(path[1].replace("_", "-") + "-")
    settings = env.models[model].job(step)
    for marker, field in _DEFAULTED:
        if marker not in message:
            continue
        overridden = settings.permissions is not None if field == ("permissions",) \
            else getattr(settings.cluster, field[1]) is not None
        if not overridden:
            detail = message.split(": ", 1)[1] if field == ("permissions",) else message.split("': ", 1)[-1]
            return ("workflows", "defaults", *field), detail
    return path, message


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
        self._by_catalog = {}
        for env in environments:
            self._by_catalog.setdefault(env.unity_catalog.catalog, env)
        self.account = account
        self.memo: dict = {}   # what is derived from the whole set once (infra/access.py), never changed after

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
        return self._by_catalog.get(catalog)

    def promotion_targets(self, source: str) -> list[Environment]:
        return [e for e in self if e.promotion.from_env == source]
