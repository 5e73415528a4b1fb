"""The ML workflow: MLflow experiments and Databricks jobs (feature refresh, training, validation, deployment,
batch inference, monitoring, retraining), all running as the environment's service principal."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..suggest import did_you_mean
from .base import GitProvider, Identifier, PrincipalName, Strict
from .ci_values import GitRef

_JOB_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
_TASK_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")

JobPermission = Literal["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE"]
ExperimentPermission = Literal["CAN_READ", "CAN_EDIT", "CAN_MANAGE"]
JobPurpose = Literal["feature_refresh", "training", "validation", "deployment", "batch_inference", "monitoring", "other"]


class Schedule(Strict):
    """When something runs by itself: a Quartz cron expression in a time zone."""

    cron: str = Field(description="Quartz cron expression, e.g. `0 0 3 ? * MON` (03:00 every Monday).")
    timezone: str = Field("UTC", description="Time zone id the expression is read in, e.g. Europe/Amsterdam.")
    paused: bool = Field(False, description="Keep the schedule but do not run it (typical in dev).")

    @field_validator("cron")
    @classmethod
    def _quartz_fields(cls, value: str) -> str:
        if len(value.split()) not in (6, 7):
            raise ValueError(f"'{value}' is not a Quartz cron expression (6 or 7 fields: sec min hour day month weekday [year])")
        return value


class CodeSource(Strict):
    """Where job code comes from: a Git repository, so what runs is what was reviewed."""

    url: str = Field(pattern=r"^https://\S+$", description="HTTPS URL of the repository.")
    provider: GitProvider = Field(
        "gitHub", description="Git provider, as Databricks spells it."
    )
    branch: GitRef | None = Field(None, description="Branch to run (a literal name, no pattern); give exactly one "
                                                    "of branch, tag.")
    tag: GitRef | None = Field(None, description="Tag to run (releases); give exactly one of branch, tag.")

    @model_validator(mode="after")
    def _one_ref(self) -> "CodeSource":
        if (self.branch is None) == (self.tag is None):
            raise ValueError("give exactly one of branch, tag")
        return self


class JobCluster(Strict):
    """A cluster created for one run of the job, from a cluster policy."""

    key: Identifier = Field(description="Name tasks use to run on this cluster.")
    policy: str = Field(description="Cluster policy it is created from (compute.policies).")
    node_type: str = Field(description="VM size; must be allowed by the policy.")
    min_workers: int = Field(1, ge=0, description="Autoscaling lower bound (0 with max 0: single node).")
    max_workers: int = Field(2, ge=0, description="Autoscaling upper bound; at most the policy's max_workers.")

    @model_validator(mode="after")
    def _bounds(self) -> "JobCluster":
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers {self.min_workers} exceeds max_workers {self.max_workers}")
        return self


class Task(Strict):
    """One step of a job: a notebook or a Python file from the code source, on one of the job's clusters."""

    key: str = Field(description="Task name, unique in the job; other tasks depend on it by this name.")
    notebook: str | None = Field(
        None, description="Notebook path (relative to the repository when the job has code, without `.py`); a task "
                          "that publishes a task value must be a notebook.")
    python_file: str | None = Field(
        None, description="Python file instead of a notebook (relative to the repository when the job has code); it "
                          "gets the job parameters and its own as `--name=value` arguments.")
    cluster: Identifier | None = Field(None, description="Job cluster key; default the job's only cluster.")
    depends_on: list[str] = Field(default_factory=list, description="Tasks that must succeed first.")
    parameters: dict[str, str] = Field(default_factory=dict, description="Task parameters (notebook widgets / argv), "
                                       "besides the job's.")
    description: str = Field("", description="What the task does.")

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        if not _TASK_KEY.fullmatch(value):
            raise ValueError(f"'{value}' is not a task key (letters, digits, '_' and '-')")
        return value

    @model_validator(mode="after")
    def _one_program(self) -> "Task":
        if (self.notebook is None) == (self.python_file is None):
            raise ValueError(f"task '{self.key}': give exactly one of notebook, python_file")
        return self


class SmokeTest(Strict):
    """The fast variant CI runs on a pull request: a small sample, few epochs, nothing registered."""

    sample_fraction: float = Field(0.05, gt=0, le=1, description="Fraction of the training data used.")
    epochs: int = Field(1, ge=1, description="Training epochs.")
    register_model: bool = Field(False, description="Register the smoke-test model (normally not).")


class RetrainOnDrift(Strict):
    """After `task` publishes a drift value, run `job` when the value exceeds `threshold`."""

    task: str = Field(description="Task of this job that sets the drift task value (dbutils.jobs.taskValues.set).")
    value: Identifier = Field("drift", description="Name of the task value holding the drift score.")
    threshold: float = Field(gt=0, description="Drift above which the retraining job runs.")
    job: str = Field(description="Job to run (usually the training job).")
    cooldown_hours: float = Field(
        24, ge=0, description="After a drift-triggered retraining, hours during which drift does not trigger another "
                              "(a drifting stream must not retrain in a loop); 0 turns the cooldown off.")


class ModelTrigger(Strict):
    """Run the job when a model of the environment's catalog changes (e.g. a new version arrives)."""

    model: Identifier = Field(description="Registered model (models).")
    condition: Literal["MODEL_VERSION_READY", "MODEL_ALIAS_SET", "MODEL_CREATED"] = Field(
        "MODEL_VERSION_READY", description="What change starts a run."
    )
    aliases: list[str] = Field(default_factory=list, description="MODEL_ALIAS_SET: only these aliases (e.g. champion).")

    @model_validator(mode="after")
    def _aliases_need_alias_condition(self) -> "ModelTrigger":
        if self.aliases and self.condition != "MODEL_ALIAS_SET":
            raise ValueError("aliases only apply to condition MODEL_ALIAS_SET")
        return self


class Notifications(Strict):
    on_failure: list[str] = Field(default_factory=list, description="E-mail addresses told when a run fails.")
    on_success: list[str] = Field(default_factory=list, description="E-mail addresses told when a run succeeds.")
    on_start: list[str] = Field(default_factory=list, description="E-mail addresses told when a run starts.")


class Job(Strict):
    """A Databricks job. It always runs as the environment's service principal unless `run_as` says otherwise
    (guardrail LG-JOB-001 refuses anything but a service principal)."""

    name: str = Field(description="Job name (lowercase, digits, '-'); shown as `<env>-<name>`.")
    moved_from: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{0,62}$", description="The job's former name: "
                                   "Terraform keeps its address, so a rename is an update in place, never a recreate.")
    purpose: JobPurpose = Field("other", description="Which step of the ML workflow the job is.")
    description: str = Field("", description="What the job does.")
    model: Identifier | None = Field(None, description="Registered model the job trains, validates, deploys or scores.")
    clusters: list[JobCluster] = Field(default_factory=list, description="Job clusters, created per run from a policy.")
    tasks: list[Task] = Field(min_length=1, description="Tasks, run in dependency order.")
    parameters: dict[str, str] = Field(default_factory=dict, description="Job parameters and their defaults.")
    smoke_test: SmokeTest | None = Field(
        None, description="Smoke-test variant: CI runs the job with `smoke_test=true` (see SmokeTest)."
    )
    output_table: str | None = Field(
        None, description="Table the job writes (`schema.table` in the environment's catalog), e.g. batch predictions."
    )
    schedule: Schedule | None = Field(None, description="Run on a schedule.")
    trigger: ModelTrigger | None = Field(None, description="Run when a model changes.")
    retrain_on_drift: RetrainOnDrift | None = Field(
        None, description="Condition task -> run-job task: retrain when drift exceeds a threshold."
    )
    run_as: PrincipalName | None = Field(None, description="Identity runs use; default the environment's service principal.")
    max_concurrent_runs: int = Field(1, ge=1, le=1000, description="Runs allowed at the same time.")
    timeout_minutes: int = Field(0, ge=0, description="Cancel a run after this long; 0 for no limit.")
    max_retries: int = Field(0, ge=0, le=10, description="Retries of a failed task.")
    notifications: Notifications = Field(default_factory=Notifications, description="E-mail notifications.")
    permissions: dict[PrincipalName, JobPermission] = Field(
        default_factory=dict, description="Who may view, run or manage the job (groups, users)."
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _JOB_NAME.fullmatch(value):
            raise ValueError(f"'{value}' is not a job name (lowercase letters, digits, '-')")
        return value

    @model_validator(mode="after")
    def _tasks_resolve(self) -> "Job":
        keys = [t.key for t in self.tasks]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate task {', '.join(duplicates)}")
        cluster_keys = [c.key for c in self.clusters]
        for task in self.tasks:
            unknown = [d for d in task.depends_on if d not in keys]
            if unknown:
                raise ValueError(f"task '{task.key}' depends on unknown task {', '.join(unknown)}")
            if task.cluster is not None and task.cluster not in cluster_keys:
                raise ValueError(f"task '{task.key}' runs on unknown cluster '{task.cluster}'")
            if task.cluster is None and len(cluster_keys) != 1:
                raise ValueError(f"task '{task.key}' must name its cluster (the job has {len(cluster_keys)})")
        if self.retrain_on_drift is not None and self.retrain_on_drift.task not in keys:
            raise ValueError(f"retrain_on_drift.task '{self.retrain_on_drift.task}' is not a task of the job")
        return self

    def cluster_of(self, task: Task) -> str:
        return task.cluster or self.clusters[0].key

    @property
    def address_name(self) -> str:
        """The name its Terraform address is made of (its former name when renamed)."""
        return self.moved_from or self.name


class Experiment(Strict):
    """An MLflow experiment in the workspace."""

    name: Identifier = Field(description="Experiment name; lives at `<path>`.")
    path: str | None = Field(
        None, pattern=r"^/(Shared|Users|Workspace)/\S+$", description="Workspace path; default `/Shared/lakegate/<name>`."
    )
    description: str = Field("", description="What is tracked there.")
    permissions: dict[PrincipalName, ExperimentPermission] = Field(
        default_factory=dict, description="Who may read, edit or manage runs (groups, users)."
    )

    @property
    def workspace_path(self) -> str:
        return self.path or f"/Shared/lakegate/{self.name}"


class DefaultCluster(Strict):
    policy: str = Field(description="Cluster policy the models' job clusters are created from (compute.policies).")
    node_type: str = Field(description="VM size; must be allowed by the policy.")
    min_workers: int = Field(1, ge=0, description="Autoscaling lower bound.")
    max_workers: int = Field(2, ge=0, description="Autoscaling upper bound; at most the policy's max_workers.")


class WorkflowDefaults(Strict):
    """What every model's jobs in this environment get unless the model's `jobs.<step>` says otherwise."""

    cluster: DefaultCluster | None = Field(None, description="Job cluster of every model job (required when the "
                                           "environment declares models).")
    schedules: dict[str, Schedule] = Field(default_factory=dict, description="Schedule per step (feature-refresh, "
                                           "train, batch-inference, monitoring); validate and deploy run on triggers.")
    paused: bool = Field(False, description="Create every schedule paused (typical in dev: people run jobs by hand).")
    permissions: dict[PrincipalName, JobPermission] = Field(default_factory=dict, description="Who may view or run "
                                                            "the models' jobs.")
    notifications: Notifications = Field(default_factory=Notifications, description="E-mail notifications.")
    max_retries: int = Field(0, ge=0, le=10, description="Retries of a failed task.")
    timeout_minutes: int = Field(0, ge=0, description="Cancel a run after this long; 0 for no limit.")


class Workflows(Strict):
    """Experiments and jobs of the environment, and the repository their code comes from."""

    code: CodeSource | None = Field(None, description="Git repository jobs run from; omit to run workspace notebooks.")
    defaults: WorkflowDefaults = Field(default_factory=WorkflowDefaults, description="Settings of the models' jobs.")
    experiments: list[Experiment] = Field(default_factory=list, description="MLflow experiments.")
    jobs: list[Job] = Field(default_factory=list, description="Jobs besides the models' own (`models.<name>.jobs`).")

    @model_validator(mode="after")
    def _names_resolve(self) -> "Workflows":
        for kind, names in (("job", [j.name for j in self.jobs]), ("experiment", [e.name for e in self.experiments])):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} {', '.join(duplicates)}")
        names = {j.name for j in self.jobs}
        for job in self.jobs:
            if job.retrain_on_drift is not None:
                target = job.retrain_on_drift.job
                if target not in names:
                    raise ValueError(f"job '{job.name}': retrain_on_drift.job '{target}' is not a job"
                                     f"{did_you_mean(target, names)}")
                if target == job.name:
                    raise ValueError(f"job '{job.name}': retrain_on_drift.job cannot be the job itself")
        return self

    def job(self, name: str) -> Job | None:
        return next((j for j in self.jobs if j.name == name), None)
