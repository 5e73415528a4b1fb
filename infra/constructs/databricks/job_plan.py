"""What a job of the YAML becomes on Databricks, as plain data: its parameters and its tasks.

The `<env>-databricks` stack turns this plan into `databricks_job` resources (workflows.py), and the local
runner (`python main.py run JOB --env ENV`, pipelines/runner.py) walks the very same plan, so a job run on a
laptop gets the parameter names, values, task order, task arguments and conditions of the deployed job.
Pure Python (no jsii): importing it costs nothing.

How parameters reach the code (the same `main(argv)` parses them everywhere):
- job parameters: `environment`, `catalog`, `model_name`, `output_table`, the YAML's `parameters`, the
  smoke-test switch; a monitoring job also carries its environment's `quality_monitors` and a deployment job
  its `serving_endpoints` (JSON of the YAML entries), so the cluster needs no YAML parser;
- a `python_file` task gets every job parameter as `--name={{job.parameters.name}}` (Databricks resolves the
  reference at run time, so a run with other job parameters reaches the script), then its own
  `parameters` as `--name=value`;
- a `notebook` task gets the job parameters pushed down as widgets and its own `parameters` (and the baked two)
  as base parameters.
  A task that publishes a task value must be a notebook: `dbutils.jobs.taskValues.set` works only there.
Every program task (python_file or notebook: a framework task module, LG-JOB-002) installs `lakegate==<version>`
on its job cluster (a PyPI task library, the version this checkout or installation is), so the cluster runs the
framework that was tested, not whatever the runtime or the Git branch happens to hold.
Retraining on drift: the task named by `retrain_on_drift.task` also gets `drift_threshold`,
`retrain_cooldown_hours` and `retrain_job`; then a condition task compares its `drift` value with the
threshold, a second one checks the cooldown it published (`in_cooldown`), and a run-job task starts the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ...model.compute import ClusterPolicy
from ...model.quality import QualityMonitor
from ...model.serving import ServingEndpoint
from ...model.workflows import CodeSource, Experiment, Job
from ...versions import lakegate_requirement

DRIFT_CONDITION_TASK = "drift_above_threshold"
COOLDOWN_CONDITION_TASK = "outside_cooldown"
RETRAIN_TASK = "retrain"
COOLDOWN_VALUE = "in_cooldown"     # the task value ("true"/"false") the drift task publishes beside the drift


@dataclass(frozen=True)
class WorkflowsProps:
    environment: str
    catalog: str                                      # the catalog's name (a reference in the stack: jobs wait for it)
    model_schema: str
    service_principal: str                            # YAML name of the environment's service principal
    policies: Mapping[str, tuple[str, ClusterPolicy]] = field(default_factory=dict)  # name -> (policy id, policy)
    jobs: Sequence[Job] = ()
    experiments: Sequence[Experiment] = ()
    code: CodeSource | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)  # model -> full name (references to the registered models)
    quality_monitors: Sequence[QualityMonitor] = ()   # monitoring jobs create and refresh these
    serving: Sequence[ServingEndpoint] = ()           # deployment jobs point these at the champion
    monitoring_schema: str = "monitoring"             # plain schema name: monitors write their metrics there

    def model_full_name(self, model: str) -> str:
        return self.models.get(model) or f"{self.catalog}.{self.model_schema}.{model}"


@dataclass(frozen=True)
class Dependency:
    task: str
    outcome: str | None = None                        # "true"/"false" after a condition task


@dataclass(frozen=True)
class PlannedTask:
    """One task of a deployed job: a program (python_file or notebook), a condition or a run-job task."""

    key: str
    description: str = ""
    cluster: str | None = None
    python_file: str | None = None
    notebook: str | None = None
    arguments: tuple[str, ...] = ()                   # python_file: argv, with {{job.parameters.X}} references
    base_parameters: Mapping[str, str] = field(default_factory=dict)  # notebook: widgets besides the job's
    condition: tuple[str, str, str] | None = None     # (left, op, right)
    run_job: str | None = None                        # name of the job a run-job task starts
    depends_on: tuple[Dependency, ...] = ()
    max_retries: int = 0
    libraries: tuple[str, ...] = ()                   # program tasks: PyPI requirements installed on the cluster

    @property
    def kind(self) -> str:
        if self.python_file is not None:
            return "python_file"
        if self.notebook is not None:
            return "notebook"
        return "condition" if self.condition is not None else "run_job"


def job_parameters(job: Job, props: WorkflowsProps) -> dict[str, str]:
    """Job parameters in a stable order: context first, then the YAML's, then the smoke-test switch.
    Plain strings in, plain strings out (the stack passes references, the local runner names)."""
    parameters = {"environment": props.environment, "catalog": props.catalog}
    if job.model is not None:
        parameters["model_name"] = props.model_full_name(job.model)
    if job.output_table is not None:
        parameters["output_table"] = f"{props.catalog}.{job.output_table}"
    if job.purpose == "monitoring" and props.quality_monitors:
        parameters["quality_monitors"] = monitors_parameter(props.quality_monitors, props.monitoring_schema)
    if job.purpose == "deployment" and props.serving:
        parameters["serving_endpoints"] = endpoints_parameter(props.serving, props)
    parameters.update(job.parameters)
    if job.smoke_test is not None:
        parameters.update({
            "smoke_test": "false",
            "smoke_sample_fraction": f"{job.smoke_test.sample_fraction:g}",
            "smoke_epochs": str(job.smoke_test.epochs),
            "smoke_register_model": str(job.smoke_test.register_model).lower(),
        })
    return parameters


def monitors_parameter(monitors: Sequence[QualityMonitor], output_schema: str) -> str:
    """The YAML's quality monitors as compact JSON (tables are `schema.table` in the job's catalog)."""
    return json.dumps([{**m.model_dump(mode="json", exclude_none=True, exclude_defaults=False),
                        "output_schema": output_schema} for m in monitors], separators=(",", ":"), sort_keys=True)


def endpoints_parameter(endpoints: Sequence[ServingEndpoint], props: WorkflowsProps) -> str:
    """What promotion writes into an endpoint's config with the first champion (the YAML's settings)."""
    return json.dumps([{"name": e.name, "model": props.model_full_name(e.model), "workload_size": e.workload_size,
                        "workload_type": e.workload_type, "scale_to_zero": e.scale_to_zero} for e in endpoints],
                      separators=(",", ":"), sort_keys=True)


def planned_tasks(job: Job, props: WorkflowsProps) -> list[PlannedTask]:
    """The job's tasks as deployed, in the YAML's order, then the retraining tasks."""
    names = list(job_parameters(job, props))
    drift = job.retrain_on_drift
    tasks = []
    # The environment and catalog every task confirms (pipelines/runtime.py `parse`): task parameters, which a
    # run-now job-parameter override cannot change, unlike the `environment` and `catalog` job parameters.
    baked = {"lakegate_environment": props.environment, "lakegate_catalog": props.catalog}
    for task in job.tasks:
        own = dict(task.parameters)
        if drift is not None and task.key == drift.task:
            own.update({"drift_threshold": f"{drift.threshold:g}", "retrain_cooldown_hours": f"{drift.cooldown_hours:g}",
                        "retrain_job": drift.job, "drift_value": drift.value})
        common = dict(key=task.key, description=task.description, cluster=job.cluster_of(task),
                      depends_on=tuple(Dependency(d) for d in task.depends_on), max_retries=job.max_retries,
                      libraries=(lakegate_requirement(),))
        if task.python_file is not None:
            arguments = [f"--{name}={{{{job.parameters.{name}}}}}" for name in names]
            arguments += [f"--{k}={v}" for k, v in {**own, **baked}.items()]
            tasks.append(PlannedTask(python_file=task.python_file, arguments=tuple(arguments), **common))
        else:
            tasks.append(PlannedTask(notebook=task.notebook, base_parameters={**own, **baked}, **common))
    if drift is not None:
        values = f"tasks.{drift.task}.values"
        tasks.append(PlannedTask(
            key=DRIFT_CONDITION_TASK, description=f"Is {drift.value} above {drift.threshold:g}?",
            condition=(f"{{{{{values}.{drift.value}}}}}", "GREATER_THAN", f"{drift.threshold:g}"),
            depends_on=(Dependency(drift.task),)))
        tasks.append(PlannedTask(
            key=COOLDOWN_CONDITION_TASK,
            description=f"No retraining triggered in the last {drift.cooldown_hours:g} h (a drifting stream must not "
                        "retrain in a loop)",
            condition=(f"{{{{{values}.{COOLDOWN_VALUE}}}}}", "EQUAL_TO", "false"),
            depends_on=(Dependency(DRIFT_CONDITION_TASK, "true"),)))
        tasks.append(PlannedTask(
            key=RETRAIN_TASK, description=f"Drift above {drift.threshold:g}: run {drift.job}", run_job=drift.job,
            depends_on=(Dependency(COOLDOWN_CONDITION_TASK, "true"),)))
    return tasks


def in_dependency_order(jobs: Sequence[Job]) -> list[Job]:
    """A job that runs another (retrain_on_drift) comes after it, so it can reference its id."""
    ordered, pending = [], list(jobs)
    while pending:
        ready = [j for j in pending if j.retrain_on_drift is None or j.retrain_on_drift.job in {o.name for o in ordered}]
        if not ready:
            raise ValueError(f"jobs run each other in a cycle: {', '.join(j.name for j in pending)}")
        ordered += ready
        pending = [j for j in pending if j not in ready]
    return ordered


def local_props(env) -> WorkflowsProps:
    """The props the stack would pass, with plain names instead of references (for the local runner)."""
    uc = env.unity_catalog
    return WorkflowsProps(environment=env.name, catalog=uc.catalog, model_schema=uc.model_schema,
                          service_principal=env.service_principal, jobs=env.jobs,
                          experiments=env.experiments, code=env.workflows.code,
                          quality_monitors=env.monitors, serving=env.endpoints,
                          monitoring_schema=uc.monitoring_schema)
