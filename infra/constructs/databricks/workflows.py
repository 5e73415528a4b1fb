"""MLflow experiments and Databricks jobs: the ML workflow of one environment.

Every job runs as the environment's service principal (guardrail LG-JOB-001 refuses anything else), on job
clusters created from the environment's policies, with code from the Git repository when one is declared.
Jobs receive their context as job parameters (`environment`, `catalog`, `model_name`, `output_table`);
a job with a smoke test also receives `smoke_test=false` and the smoke-test settings, so CI runs the same
job with `smoke_test=true` (5 % sample, one epoch, nothing registered). Retraining on drift is a condition
task on the drift value the monitoring task publishes, followed by a run-job task of the training job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...model.compute import ClusterPolicy
from ...model.workflows import CodeSource, Experiment, Job
from .directory import Directory, slug
from .permissions import object_permissions

DRIFT_CONDITION_TASK = "drift_above_threshold"
RETRAIN_TASK = "retrain"


@dataclass(frozen=True)
class WorkflowsProps:
    environment: str
    catalog: str                                      # the catalog's name (a reference in the stack: jobs wait for it)
    model_schema: str
    service_principal: str                            # YAML name of the environment's service principal
    policies: Mapping[str, tuple[str, ClusterPolicy]]  # policy name -> (policy id token, policy)
    jobs: Sequence[Job] = ()
    experiments: Sequence[Experiment] = ()
    code: CodeSource | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)  # model -> full name (references to the registered models)

    def model_full_name(self, model: str) -> str:
        return self.models.get(model) or f"{self.catalog}.{self.model_schema}.{model}"


def job_parameters(job: Job, props: WorkflowsProps) -> dict[str, str]:
    """Job parameters in a stable order: context first, then the YAML's, then the smoke-test switch."""
    parameters = {"environment": props.environment, "catalog": props.catalog}
    if job.model is not None:
        parameters["model_name"] = props.model_full_name(job.model)
    if job.output_table is not None:
        parameters["output_table"] = f"{props.catalog}.{job.output_table}"
    parameters.update(job.parameters)
    if job.smoke_test is not None:
        parameters.update({
            "smoke_test": "false",
            "smoke_sample_fraction": f"{job.smoke_test.sample_fraction:g}",
            "smoke_epochs": str(job.smoke_test.epochs),
            "smoke_register_model": str(job.smoke_test.register_model).lower(),
        })
    return parameters


def _in_dependency_order(jobs: Sequence[Job]) -> list[Job]:
    """A job that runs another (retrain_on_drift) comes after it, so it can reference its id."""
    ordered, pending = [], list(jobs)
    while pending:
        ready = [j for j in pending if j.retrain_on_drift is None or j.retrain_on_drift.job in {o.name for o in ordered}]
        if not ready:
            raise ValueError(f"jobs run each other in a cycle: {', '.join(j.name for j in pending)}")
        ordered += ready
        pending = [j for j in pending if j not in ready]
    return ordered


class Workflows(Construct):
    """Attributes: `experiments` and `jobs` (resources by name)."""

    def __init__(self, scope: Construct, id: str, props: WorkflowsProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.mlflow_experiment import MlflowExperiment

        self.props, self.directory = props, directory
        self.experiments, self.jobs = {}, {}
        for experiment in props.experiments:
            key = slug(experiment.name)
            self.experiments[experiment.name] = MlflowExperiment(
                self, f"experiment_{key}", name=experiment.workspace_path, description=experiment.description or None)
            # The service principal logs the runs of the jobs that train: it manages the experiment.
            levels = {**experiment.permissions, props.service_principal: "CAN_MANAGE"}
            object_permissions(self, f"experiment_{key}_permissions", directory, levels,
                               experiment_id=self.experiments[experiment.name].id)
        for job in _in_dependency_order(props.jobs):
            self.jobs[job.name] = self._job(job)
            object_permissions(self, f"job_{slug(job.name)}_permissions", directory, job.permissions,
                               job_id=self.jobs[job.name].id)

    def _run_as(self, job: Job):
        from cdktn_provider_databricks.job import JobRunAs

        principal = job.run_as or self.props.service_principal
        control = self.directory.access_control(principal)
        return JobRunAs(**control)

    def _cluster(self, cluster):
        from cdktn_provider_databricks.job import JobJobCluster, JobJobClusterNewCluster, JobJobClusterNewClusterAutoscale

        policy_id, policy = self.props.policies[cluster.policy]
        common = dict(policy_id=policy_id, apply_policy_default_values=True, spark_version=policy.spark_version,
                      node_type_id=cluster.node_type, data_security_mode="SINGLE_USER",
                      custom_tags=dict(self.props.tags) or None)
        if cluster.max_workers == 0:
            # Single node: the driver does the work (the documented singleNode profile and tag).
            new_cluster = JobJobClusterNewCluster(
                **{**common, "custom_tags": {**(common["custom_tags"] or {}), "ResourceClass": "SingleNode"}},
                num_workers=0,
                spark_conf={"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*]"},
            )
        else:
            autoscale = JobJobClusterNewClusterAutoscale(min_workers=cluster.min_workers, max_workers=cluster.max_workers)
            new_cluster = JobJobClusterNewCluster(**common, autoscale=autoscale)
        return JobJobCluster(job_cluster_key=cluster.key, new_cluster=new_cluster)

    def _tasks(self, job: Job) -> list:
        from cdktn_provider_databricks.job import (
            JobTask, JobTaskConditionTask, JobTaskDependsOn, JobTaskNotebookTask, JobTaskRunJobTask, JobTaskSparkPythonTask,
        )
        from cdktn import Token

        source = "GIT" if self.props.code is not None else "WORKSPACE"
        tasks = []
        for task in job.tasks:
            if task.notebook is not None:
                program = dict(notebook_task=JobTaskNotebookTask(
                    notebook_path=task.notebook, source=source, base_parameters=dict(task.parameters) or None))
            else:
                program = dict(spark_python_task=JobTaskSparkPythonTask(
                    python_file=task.python_file, source=source,
                    parameters=[f"--{k}={v}" for k, v in task.parameters.items()] or None))
            tasks.append(JobTask(
                task_key=task.key,
                description=task.description or None,
                job_cluster_key=job.cluster_of(task),
                depends_on=[JobTaskDependsOn(task_key=d) for d in task.depends_on] or None,
                max_retries=job.max_retries or None,
                **program,
            ))
        drift = job.retrain_on_drift
        if drift is not None:
            tasks.append(JobTask(
                task_key=DRIFT_CONDITION_TASK,
                description=f"Is {drift.value} above {drift.threshold:g}?",
                condition_task=JobTaskConditionTask(left=f"{{{{tasks.{drift.task}.values.{drift.value}}}}}",
                                                    op="GREATER_THAN", right=f"{drift.threshold:g}"),
                depends_on=[JobTaskDependsOn(task_key=drift.task)],
            ))
            tasks.append(JobTask(
                task_key=RETRAIN_TASK,
                description=f"Drift above {drift.threshold:g}: run {drift.job}",
                run_job_task=JobTaskRunJobTask(job_id=Token.as_number(self.jobs[drift.job].id)),
                depends_on=[JobTaskDependsOn(task_key=DRIFT_CONDITION_TASK, outcome="true")],
            ))
        return tasks

    def _job(self, job: Job):
        from cdktn_provider_databricks.job import (
            Job as DbJob, JobEmailNotifications, JobGitSource, JobParameter, JobSchedule, JobTrigger, JobTriggerModel,
        )

        props = self.props
        code = props.code
        notifications = job.notifications
        return DbJob(
            self, f"job_{slug(job.name)}",
            name=f"{props.environment}-{job.name}",
            description=job.description or None,
            run_as=self._run_as(job),
            job_cluster=[self._cluster(c) for c in job.clusters] or None,
            task=self._tasks(job),
            parameter=[JobParameter(name=k, default=v) for k, v in job_parameters(job, props).items()],
            git_source=JobGitSource(url=code.url, provider=code.provider, branch=code.branch, tag=code.tag) if code else None,
            schedule=JobSchedule(quartz_cron_expression=job.schedule.cron, timezone_id=job.schedule.timezone,
                                 pause_status="PAUSED" if job.schedule.paused else "UNPAUSED") if job.schedule else None,
            trigger=JobTrigger(model=JobTriggerModel(
                condition=job.trigger.condition, securable_name=props.model_full_name(job.trigger.model),
                aliases=list(job.trigger.aliases) or None)) if job.trigger else None,
            email_notifications=JobEmailNotifications(
                on_failure=notifications.on_failure or None, on_success=notifications.on_success or None,
                on_start=notifications.on_start or None,
            ) if (notifications.on_failure or notifications.on_success or notifications.on_start) else None,
            max_concurrent_runs=job.max_concurrent_runs,
            timeout_seconds=job.timeout_minutes * 60 or None,
            tags={**props.tags, "purpose": job.purpose},
        )
