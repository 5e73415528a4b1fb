"""A model an environment holds, declared once in that environment's `models:` section.

What is specific to the model lives here: its task type, feature table and key, label, the user's code (a module
with `features(ctx)` and `fit(frame, params)`), evaluation, gates, approvers, monitoring, serving and batch
scoring, and its jobs' settings. Environment-level values (`promotion.gates`, `promotion.evaluation`,
`promotion.approval`, `workflows.defaults`) are defaults: a model's `gates` list replaces the environment's, its
maps merge key by key (infra/model/policy.py says which value won and where it was written).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Identifier, PrincipalName, Strict
from .metrics import TASK_METRICS
from .promotion import Approval, Gate
from .serving import InferenceTable, OnlineStore, RateLimit
from ..suggest import did_you_mean
from .workflows import JobPermission, Notifications, Schedule

TaskType = Literal["classification", "regression"]
# The lifecycle steps a model's jobs are made of (job `<model>-<step>`), in the order they first run.
STEPS = ("feature-refresh", "train", "validate", "deploy", "batch-inference", "monitoring")
_TABLE = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
_CODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.py")


class Features(Strict):
    """The model's feature table: written by its feature-refresh job, read by training and batch scoring."""

    table: str = Field(pattern=_TABLE, description="Feature table, `schema.table` in the environment's catalog.")
    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
                     description="Column that identifies a row (a customer, a store-day); the hold-out is split by it.")


class TrainingSmokeTest(Strict):
    """The pull-request run: a small sample, few epochs, nothing registered."""

    sample_fraction: float = Field(0.05, gt=0, le=1, description="Fraction of the feature table used.")
    epochs: int = Field(1, ge=1, description="Training epochs passed to `fit` as `params['epochs']`.")


class Training(Strict):
    parameters: dict[str, str] = Field(default_factory=dict, description="Job parameters of the train job, passed to "
                                       "the user's `fit(frame, params)` (e.g. epochs, sample_fraction).")
    smoke_test: TrainingSmokeTest | None = Field(default_factory=TrainingSmokeTest,
                                                 description="The pull-request variant CI runs; null for none.")
    experiment: str | None = Field(None, pattern=r"^/(Shared|Users|Workspace)/\S+$",
                                   description="MLflow experiment of the runs; default `/Shared/lakegate/<model>`.")


class ModelEvaluation(Strict):
    """Where the environment judges this model: its own labelled hold-out, read as its own principal."""

    table: str | None = Field(None, pattern=_TABLE, description="Labelled hold-out (`schema.table`) the metric gates "
                              "evaluate on; default `promotion.evaluation.table` with `{model}` replaced. Its "
                              "feature-refresh job writes it.")
    metrics: list[str] | None = Field(None, min_length=1, description="Metrics computed and recorded; default every "
                                      "metric of the task type (classification: accuracy, f1, precision, recall, "
                                      "roc_auc; regression: rmse, mae, r2).")


class ModelMonitoring(Strict):
    baseline_table: str | None = Field(None, pattern=_TABLE, description="Training baseline drift is measured "
                                       "against; default `<monitoring schema>.<model>_baseline`.")
    drift_threshold: float = Field(0.3, gt=0, description="Drift (PSI) above which the train job runs.")
    cooldown_hours: float = Field(24, ge=0, description="Hours after a drift-triggered retraining during which drift "
                                  "does not trigger another; 0 turns the cooldown off.")
    granularities: list[str] = Field(default_factory=lambda: ["1 day"], min_length=1,
                                     description="Time windows the quality monitor aggregates over.")
    monitor_predictions: bool = Field(False, description="Also monitor the batch predictions table.")
    notify_on_failure: list[str] = Field(default_factory=list, description="E-mail addresses told when a refresh fails.")


class ModelServing(Strict):
    """The model's serving endpoint in this environment (Terraform creates it serving nothing; promotion sets the
    version with the first champion)."""

    endpoint: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$",
                                 description="Endpoint name (its URL); default `<model>` in production, else "
                                             "`<model>-<env>`.")
    workload_size: Literal["Small", "Medium", "Large"] = Field("Small", description="Concurrency per replica set.")
    workload_type: Literal["CPU", "GPU_SMALL", "GPU_MEDIUM", "GPU_LARGE", "MULTIGPU_MEDIUM"] = Field(
        "CPU", description="Hardware of the replicas.")
    scale_to_zero: bool = Field(False, description="Stop all replicas when idle (not for production).")
    inference_table: InferenceTable = Field(default_factory=InferenceTable, description="Request/response logging.")
    rate_limits: list[RateLimit] = Field(default_factory=list, description="AI Gateway rate limits.")
    consumers: list[PrincipalName] = Field(default_factory=list, description="Groups/users granted CAN_QUERY.")
    signature_checking: Literal["strict", "lenient"] = Field(
        "strict", description="strict: refuse unknown columns and wrong types (4xx naming the field); lenient: "
                              "behave like `mlflow models serve`.")
    lookup: Literal["none", "by_key"] = Field(
        "none", description="by_key: a request may give only the model's key (`features.key`); the endpoint looks the "
                            "features up in `features.table` as its principal (online: the environment's online "
                            "store, docs/serving-by-key.md). none: every request carries the features.")
    online_store: OnlineStore = Field(default_factory=OnlineStore, description="Size of the environment's online "
                                      "store (with `lookup: by_key`; the largest of the models' settings wins).")


class Batch(Strict):
    output_table: str = Field(pattern=_TABLE, description="Predictions table batch scoring appends to.")
    alias: Identifier = Field("champion", description="Alias of the version that scores.")


class JobCluster(Strict):
    """Overrides of `workflows.defaults.cluster` for one job."""

    policy: str | None = Field(None, description="Cluster policy (compute.policies).")
    node_type: str | None = Field(None, description="VM size; must be allowed by the policy.")
    min_workers: int | None = Field(None, ge=0, description="Autoscaling lower bound.")
    max_workers: int | None = Field(None, ge=0, description="Autoscaling upper bound.")


class ModelJob(Strict):
    """Settings of one of the model's jobs; unset values come from `workflows.defaults`."""

    enabled: bool = Field(True, description="false: this environment has no such job for the model.")
    moved_from: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{0,62}$",
                                   description="The job's former name (before per-model jobs): Terraform keeps its "
                                               "address, so the job is renamed in place, never recreated.")
    schedule: Schedule | None = Field(None, description="Run on a schedule; default `workflows.defaults.schedules`.")
    cluster: JobCluster = Field(default_factory=JobCluster, description="Cluster overrides.")
    parameters: dict[str, str] = Field(default_factory=dict, description="Extra job parameters.")
    timeout_minutes: int | None = Field(None, ge=0, description="Cancel a run after this long; 0 for no limit.")
    max_retries: int | None = Field(None, ge=0, le=10, description="Retries of a failed task.")
    notifications: Notifications | None = Field(None, description="E-mail notifications (replace the defaults).")
    permissions: dict[PrincipalName, JobPermission] | None = Field(None, description="Who may view or run the job "
                                                                   "(replaces the defaults).")


class ModelSpec(Strict):
    """One model of the environment: registered as `<catalog>.<model_schema>.<name>`, owned by the environment's
    service principal, with jobs named `<name>-<step>`."""

    description: str = Field("", description="What the model predicts; shown in Catalog Explorer.")
    task: TaskType = Field(description="classification or regression: decides the metrics the target computes.")
    code: str = Field(description="The user's module, relative to the project root (e.g. `models/churn.py`): "
                                  "`fit(frame, params) -> (model, metrics)` and `features(ctx) -> frame`.")
    features: Features = Field(description="Feature table and key.")
    label: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="Column holding the truth.")
    training: Training = Field(default_factory=Training, description="Training parameters and smoke test.")
    evaluation: ModelEvaluation = Field(default_factory=ModelEvaluation, description="Hold-out and metrics.")
    gates: list[Gate] | None = Field(None, description="Gates of this model here; replaces `promotion.gates`.")
    approval: dict | None = Field(None, description="Keys of `promotion.approval` this model overrides (merged key "
                                  "by key), e.g. `{approvers: [risk-officers]}`.")
    monitoring: ModelMonitoring | None = Field(None, description="Drift monitoring and retraining; needs serving.")
    serving: ModelServing | None = Field(None, description="A serving endpoint for the model.")
    batch: Batch | None = Field(None, description="Batch scoring into a predictions table.")
    jobs: dict[str, ModelJob] = Field(default_factory=dict, description=f"Per-step job settings, keyed by step "
                                      f"({', '.join(STEPS)}).")

    @field_validator("code")
    @classmethod
    def _project_file(cls, value: str) -> str:
        parts = value.split("/")
        if not _CODE.fullmatch(value) or value.startswith("/") or ".." in parts or "" in parts or "." in parts:
            raise ValueError(f"{value!r} is not a Python file of the project (a relative path like models/churn.py)")
        return value

    @field_validator("jobs")
    @classmethod
    def _known_steps(cls, value: dict) -> dict:
        for step in value:
            if step not in STEPS:
                raise ValueError(f"unknown step '{step}'{did_you_mean(step, STEPS)} (steps: {', '.join(STEPS)})")
        return value

    @field_validator("approval")
    @classmethod
    def _approval_keys(cls, value: dict | None) -> dict | None:
        if value is not None:
            Approval.model_validate(value)  # the same rules as promotion.approval, on the keys given
        return value

    @model_validator(mode="after")
    def _metrics_fit_task(self) -> "ModelSpec":
        known = TASK_METRICS[self.task]
        for metric in self.evaluation.metrics or ():
            if metric not in known:
                raise ValueError(f"evaluation.metrics: {metric!r} is not a {self.task} metric ({', '.join(known)})")
        for gate in self.gates or ():
            metric = getattr(gate, "metric", None)
            if metric is not None and metric not in known:
                raise ValueError(f"gate {gate.gate_id}: {metric!r} is not a {self.task} metric ({', '.join(known)})")
        if self.monitoring is not None and self.serving is None:
            raise ValueError("monitoring needs serving (drift is measured on the endpoint's inference table)")
        return self

    def job(self, step: str) -> ModelJob:
        return self.jobs.get(step) or ModelJob()
