"""MLflow experiments and Databricks jobs: the ML workflow of one environment.

Every job runs as the environment's service principal (guardrail LG-JOB-001 refuses anything else), on job
clusters created from the environment's policies, with code from the Git repository when one is declared
(guardrail LG-JOB-002: every task names a file of this repository, the `pipelines/` package). What each job
becomes, its parameters and tasks, is planned in job_plan.py; this module only turns the plan into provider
objects, so the local runner (`python main.py run JOB --env ENV`) runs exactly what is deployed. CI runs a
job with `smoke_test=true` (5 % sample, one epoch, nothing registered). Retraining on drift is a condition
task on the drift value the monitoring task publishes, a second one on its cooldown, then a run-job task.
"""

from __future__ import annotations

from constructs import Construct

from .directory import Directory, slug
from .job_plan import (  # the plan is the one place jobs are defined; this construct only emits it
    WorkflowsProps, in_dependency_order,
    job_parameters, planned_tasks,
)
from .permissions import object_permissions
from ...model.workflows import Job


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
        for job in in_dependency_order(props.jobs):
            self.jobs[job.name] = self._job(job)
            object_permissions(self, f"job_{slug(job.address_name)}_permissions", directory, job.permissions,
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
        """The job's planned tasks (job_plan.py) as provider objects: what the local runner walks is deployed."""
        from cdktn_provider_databricks.job import (
            JobTask, JobTaskConditionTask, JobTaskDependsOn, JobTaskLibrary, JobTaskLibraryPypi, JobTaskNotebookTask,
            JobTaskRunJobTask, JobTaskSparkPythonTask,
        )
        from cdktn import Token

        source = "GIT" if self.props.code is not None else "WORKSPACE"
        tasks = []
        for planned in planned_tasks(job, self.props):
            if planned.kind == "python_file":
                program = dict(spark_python_task=JobTaskSparkPythonTask(
                    python_file=planned.python_file, source=source, parameters=list(planned.arguments) or None))
            elif planned.kind == "notebook":
                program = dict(notebook_task=JobTaskNotebookTask(
                    notebook_path=planned.notebook, source=source, base_parameters=dict(planned.base_parameters) or None))
            elif planned.kind == "condition":
                left, op, right = planned.condition
                program = dict(condition_task=JobTaskConditionTask(left=left, op=op, right=right))
            else:
                program = dict(run_job_task=JobTaskRunJobTask(job_id=Token.as_number(self.jobs[planned.run_job].id)))
            tasks.append(JobTask(
                task_key=planned.key,
                description=planned.description or None,
                job_cluster_key=planned.cluster if planned.kind in ("python_file", "notebook") else None,
                depends_on=[JobTaskDependsOn(task_key=d.task, outcome=d.outcome) for d in planned.depends_on] or None,
                max_retries=(planned.max_retries or None) if planned.kind in ("python_file", "notebook") else None,
                # The pinned lakegate on the job cluster: the framework the task runs is the one tested.
                library=[JobTaskLibrary(pypi=JobTaskLibraryPypi(package=p)) for p in planned.libraries] or None,
                **program,
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
            self, f"job_{slug(job.address_name)}",
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
