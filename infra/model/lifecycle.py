"""What a model's declaration becomes in its environment: its jobs (`<model>-<step>`), serving endpoint, quality
monitors and experiment, built from the model's settings over `workflows.defaults`.

Pure data in, pydantic objects out (the same classes as hand-written jobs and endpoints), so the stacks, the
local runner, the guardrails and the reports treat derived and declared objects alike. Each derived object
remembers the YAML path it comes from (`models.<name>` or `models.<name>.jobs.<step>`), so a finding about it
points at the model's own lines. Problems are returned as (path, message), never raised one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .metrics import TASK_METRICS
from .models import STEPS, ModelSpec
from .quality import QualityMonitor
from .serving import FeatureLookup, ServingEndpoint, online_store_name
from .workflows import Experiment, Job, JobCluster, ModelTrigger, RetrainOnDrift, Schedule, SmokeTest, Task, Workflows

# The framework's task modules (pipelines/): generic over any model, told which model by their parameters.
TASK_FILES = {
    "feature-refresh": "pipelines/features/refresh_features.py",
    "train": "pipelines/training/train.py",
    "validate": "pipelines/validation/validate.py",
    "deploy": "pipelines/deployment/update_endpoint.py",
    "batch-inference": "pipelines/inference/score.py",
    "unpack": "pipelines/monitoring/unpack_inference_table.py",
    "refresh_monitor": "pipelines/monitoring/refresh_monitor",
}
PURPOSES = {"feature-refresh": "feature_refresh", "train": "training", "validate": "validation",
            "deploy": "deployment", "batch-inference": "batch_inference", "monitoring": "monitoring"}


@dataclass
class Derived:
    jobs: list[Job] = field(default_factory=list)
    serving: list[ServingEndpoint] = field(default_factory=list)
    monitors: list[QualityMonitor] = field(default_factory=list)
    experiments: list[Experiment] = field(default_factory=list)
    paths: dict[tuple[str, str], tuple] = field(default_factory=dict)   # (kind, name) -> YAML path
    problems: list[tuple[tuple, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What of the environment the derivation needs (its validated sections)."""

    environment: str
    production: bool
    promoted_into: bool            # the environment has a promotion.from: champion moves here
    monitoring_schema: str
    workflows: Workflows
    evaluation_table: str          # promotion.evaluation.table (may hold `{model}`)


def endpoint_name(name: str, model: ModelSpec, ctx: Context) -> str:
    if model.serving is not None and model.serving.endpoint:
        return model.serving.endpoint
    return name.replace("_", "-") if ctx.production else f"{name.replace('_', '-')}-{ctx.environment}"


def baseline_table(name: str, model: ModelSpec, ctx: Context) -> str:
    monitoring = model.monitoring
    return (monitoring.baseline_table if monitoring and monitoring.baseline_table
            else f"{ctx.monitoring_schema}.{name}_baseline")


def validation_table(name: str, model: ModelSpec, ctx: Context) -> str:
    return model.evaluation.table or ctx.evaluation_table.replace("{model}", name)


def enabled_steps(model: ModelSpec, ctx: Context) -> list[str]:
    default = {"feature-refresh": True, "train": True, "validate": True,
               "deploy": model.serving is not None and ctx.promoted_into,
               "batch-inference": model.batch is not None, "monitoring": model.monitoring is not None}
    return [step for step in STEPS if (model.jobs[step].enabled if step in model.jobs else default[step])]


def derive(models: dict[str, ModelSpec], ctx: Context) -> Derived:
    out = Derived()
    declared_experiments = {e.name for e in ctx.workflows.experiments}
    for name, model in models.items():
        steps = enabled_steps(model, ctx)
        for step in steps:
            requirement = _requirement(step, model)
            if requirement:
                out.problems.append((("models", name, "jobs", step), requirement))
                continue
            if step == "monitoring" and "train" not in steps:
                out.problems.append((("models", name, "monitoring"), "monitoring retrains on drift: the train job "
                                     "must be enabled"))
                continue
            job = _job(name, model, step, ctx)
            if job is not None:
                out.jobs.append(job)
                out.paths[("job", job.name)] = ("models", name, "jobs", step) if step in model.jobs else ("models", name)
        if model.serving is not None:
            endpoint = _endpoint(name, model, ctx)
            out.serving.append(endpoint)
            out.paths[("endpoint", endpoint.name)] = ("models", name, "serving")
        out.monitors += _monitors(name, model, ctx)
        if name not in declared_experiments:
            out.experiments.append(Experiment(name=name, path=model.training.experiment,
                                              description=model.description or f"Training runs of {name}"))
    return out


def _requirement(step: str, model: ModelSpec) -> str:
    if step == "deploy" and model.serving is None:
        return "a deploy job needs serving (models.<name>.serving)"
    if step == "batch-inference" and model.batch is None:
        return "a batch-inference job needs batch.output_table"
    if step == "monitoring" and model.monitoring is None:
        return "a monitoring job needs monitoring"
    return ""


def _job(name: str, model: ModelSpec, step: str, ctx: Context) -> Job | None:
    settings, defaults = model.job(step), ctx.workflows.defaults
    if defaults.cluster is None and all(v is None for v in settings.cluster.model_dump().values()):
        return None  # reported once by the environment (workflows.defaults.cluster is required with models)
    base = defaults.cluster.model_dump() if defaults.cluster else {}
    cluster = {**base, **{k: v for k, v in settings.cluster.model_dump().items() if v is not None}}
    schedule = settings.schedule or defaults.schedules.get(step)
    if schedule is not None and defaults.paused and settings.schedule is None:
        schedule = Schedule(**{**schedule.model_dump(), "paused": True})
    common = dict(
        name=f"{name.replace('_', '-')}-{step}", moved_from=settings.moved_from, purpose=PURPOSES[step],
        description=f"{step} of model {name}" + (f": {model.description}" if model.description else ""),
        model=name, clusters=[JobCluster(key="main", **cluster)],
        schedule=schedule if step not in ("validate", "deploy") else None,
        max_retries=settings.max_retries if settings.max_retries is not None else defaults.max_retries,
        timeout_minutes=settings.timeout_minutes if settings.timeout_minutes is not None else defaults.timeout_minutes,
        notifications=settings.notifications or defaults.notifications,
        permissions=settings.permissions if settings.permissions is not None else defaults.permissions,
    )
    features, label = model.features, model.label
    shared = {"model_code": model.code, "task_type": model.task, "label": label, "feature_key": features.key}
    if step == "feature-refresh":
        lookup = feature_lookup(model)  # served by key: the refresh publishes the table to the online store
        online = {"online_store": online_store_name(ctx.environment), "online_table": lookup.online_table} \
            if lookup is not None else {}
        tasks = [Task(key="refresh_features", python_file=TASK_FILES[step], parameters={
            **shared, "validation_table": validation_table(name, model, ctx), **online})]
        return Job(**common, tasks=tasks, output_table=features.table, parameters=dict(settings.parameters))
    if step == "train":
        tasks = [Task(key="train", python_file=TASK_FILES[step], parameters={
            **shared, "features_table": features.table, "baseline_table": baseline_table(name, model, ctx),
            "experiment": model.training.experiment or f"/Shared/lakegate/{name}"})]
        smoke = model.training.smoke_test
        return Job(**common, tasks=tasks, parameters={**model.training.parameters, **settings.parameters},
                   smoke_test=SmokeTest(sample_fraction=smoke.sample_fraction, epochs=smoke.epochs) if smoke else None)
    if step == "validate":
        metrics = ",".join(model.evaluation.metrics or TASK_METRICS[model.task])
        tasks = [Task(key="validate", python_file=TASK_FILES[step], parameters={
            **shared, "validation_table": validation_table(name, model, ctx), "metrics": metrics})]
        return Job(**common, tasks=tasks, trigger=ModelTrigger(model=name, condition="MODEL_VERSION_READY"),
                   parameters=dict(settings.parameters))
    if step == "deploy":
        tasks = [Task(key="update_endpoint", python_file=TASK_FILES[step],
                      parameters={"endpoint": endpoint_name(name, model, ctx)})]
        return Job(**common, tasks=tasks, trigger=ModelTrigger(model=name, condition="MODEL_ALIAS_SET",
                                                               aliases=["champion"]),
                   parameters=dict(settings.parameters))
    if step == "batch-inference":
        tasks = [Task(key="score", python_file=TASK_FILES[step], parameters={
            **shared, "model_alias": model.batch.alias, "features_table": features.table})]
        return Job(**common, tasks=tasks, output_table=model.batch.output_table, parameters=dict(settings.parameters))
    # monitoring: serving payloads -> inference table, then the monitor notebook publishes `drift`
    endpoint = _endpoint(name, model, ctx)
    inference = f"{ctx.monitoring_schema}.{name}_inference"
    tasks = [
        Task(key="unpack_inference_table", python_file=TASK_FILES["unpack"], parameters={
            "payload_table": f"{ctx.monitoring_schema}.{endpoint.payload_table}", "inference_table": inference,
            "label": label}),
        Task(key="refresh_monitor", notebook=TASK_FILES["refresh_monitor"], depends_on=["unpack_inference_table"],
             parameters={"inference_table": inference, "baseline_table": baseline_table(name, model, ctx),
                         "features_table": features.table, "label": label}),
    ]
    drift = RetrainOnDrift(task="refresh_monitor", value="drift", threshold=model.monitoring.drift_threshold,
                           job=f"{name.replace('_', '-')}-train", cooldown_hours=model.monitoring.cooldown_hours)
    return Job(**common, tasks=tasks, retrain_on_drift=drift, parameters=dict(settings.parameters))


def _endpoint(name: str, model: ModelSpec, ctx: Context) -> ServingEndpoint:
    serving = model.serving
    return ServingEndpoint(
        name=endpoint_name(name, model, ctx), model=name, workload_size=serving.workload_size,
        workload_type=serving.workload_type, scale_to_zero=serving.scale_to_zero,
        inference_table=serving.inference_table, rate_limits=serving.rate_limits, consumers=serving.consumers,
        signature_checking=serving.signature_checking, feature_lookup=feature_lookup(model))


def feature_lookup(model: ModelSpec) -> FeatureLookup | None:
    """The model's serving by key (its feature table and key), when its serving says `lookup: by_key`."""
    serving = model.serving
    if serving is None or serving.lookup != "by_key":
        return None
    return FeatureLookup(table=model.features.table, key=model.features.key, online_store=serving.online_store)


def _monitors(name: str, model: ModelSpec, ctx: Context) -> list[QualityMonitor]:
    monitoring = model.monitoring
    if monitoring is None:
        return []
    common = dict(problem_type=model.task, label_column=model.label, granularities=monitoring.granularities,
                  notify_on_failure=monitoring.notify_on_failure)
    monitors = [QualityMonitor(table=f"{ctx.monitoring_schema}.{name}_inference",
                               baseline_table=baseline_table(name, model, ctx), **common)]
    if monitoring.monitor_predictions and model.batch is not None:
        monitors.append(QualityMonitor(table=model.batch.output_table, **common))
    return monitors
