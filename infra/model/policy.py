"""A model's effective policy in one environment, and where each value came from.

Everything downstream of the YAML (gates, evaluation, approval, the baseline, drift, serving, batch scoring,
the reports) reads this, never the environment's defaults directly: a model's `gates` list replaces
`promotion.gates`, its `approval` keys override `promotion.approval` key by key, its evaluation table
overrides `promotion.evaluation.table`. `origins` names, for each value, the YAML line that decided it, or
"lakegate default".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .lifecycle import baseline_table, endpoint_name, enabled_steps, validation_table, Context
from .metrics import HIGHER_IS_BETTER, TASK_METRICS
from .promotion import Approval

DEFAULT = "lakegate default"


@dataclass(frozen=True)
class ModelPolicy:
    env: str
    model: str
    full_name: str
    task: str
    code: str
    label: str
    features_table: str
    feature_key: str
    evaluation_table: str
    metrics: tuple[str, ...]
    gates: tuple                     # gate configs (infra/model/promotion.py), in order
    approval: Approval
    baseline_table: str
    drift_threshold: float | None
    cooldown_hours: float | None
    endpoint: str | None
    batch_table: str | None
    jobs: tuple[str, ...]
    origins: dict[str, str] = field(default_factory=dict)

    def higher_is_better(self, metric: str) -> bool:
        return HIGHER_IS_BETTER[metric]

    def as_dict(self) -> dict[str, Any]:
        values = {
            "task": self.task, "code": self.code, "label": self.label, "features_table": self.features_table,
            "feature_key": self.feature_key, "evaluation_table": self.evaluation_table, "metrics": list(self.metrics),
            "gates": [g.gate_id for g in self.gates],
            "approval": {"required": self.approval.required, "approvers": list(self.approval.approvers),
                         "signers": [s.identity for s in self.approval.signers]},
            "baseline_table": self.baseline_table, "drift_threshold": self.drift_threshold,
            "cooldown_hours": self.cooldown_hours, "endpoint": self.endpoint, "batch_table": self.batch_table,
            "jobs": list(self.jobs),
        }
        return {"env": self.env, "model": self.model, "full_name": self.full_name,
                "values": {k: {"value": v, "origin": self.origins.get(k, DEFAULT)} for k, v in values.items()}}


def model_policy(env, name: str) -> ModelPolicy:
    """The effective policy of model `name` in `env` (a KeyError for an undeclared model: callers check first)."""
    model = env.models[name]
    own = ("models", name)
    at = lambda *path: f"{env.locate(*path)} ({'.'.join(map(str, path))})"  # noqa: E731
    default_of = lambda *path: f"{env.locate(*path)} ({'.'.join(map(str, path))}, environment default)"  # noqa: E731
    ctx = Context(environment=env.name, production=env.production, promoted_into=env.promotion.from_env is not None,
                  monitoring_schema=env.unity_catalog.monitoring_schema, workflows=env.workflows,
                  evaluation_table=env.promotion.evaluation.table)
    origins = {key: at(*own, key) for key in ("task", "code", "label")}
    origins["features_table"] = origins["feature_key"] = at(*own, "features")
    origins["evaluation_table"] = (at(*own, "evaluation", "table") if model.evaluation.table
                                   else default_of("promotion", "evaluation") if "evaluation" in _set(env.promotion)
                                   else DEFAULT)
    origins["metrics"] = at(*own, "evaluation", "metrics") if model.evaluation.metrics else DEFAULT
    if model.gates is not None:
        gates, origins["gates"] = list(model.gates), at(*own, "gates")
    else:
        gates = list(env.promotion.gates)
        origins["gates"] = default_of("promotion", "gates") if "gates" in _set(env.promotion) else DEFAULT
    approval = env.promotion.approval
    if model.approval:
        approval = Approval.model_validate({**approval.model_dump(by_alias=True), **model.approval})
        origins["approval"] = at(*own, "approval") + " over " + default_of("promotion", "approval")
    else:
        origins["approval"] = default_of("promotion", "approval") if "approval" in _set(env.promotion) else DEFAULT
    monitoring = model.monitoring
    if monitoring is not None:
        origins["drift_threshold"] = origins["cooldown_hours"] = at(*own, "monitoring")
    origins["baseline_table"] = at(*own, "monitoring", "baseline_table") if monitoring and monitoring.baseline_table \
        else DEFAULT
    if model.serving is not None:
        origins["endpoint"] = at(*own, "serving")
    if model.batch is not None:
        origins["batch_table"] = at(*own, "batch")
    origins["jobs"] = at(*own, "jobs") if model.jobs else DEFAULT
    return ModelPolicy(
        env=env.name, model=name, full_name=env.unity_catalog.model_full_name(name), task=model.task, code=model.code,
        label=model.label, features_table=model.features.table, feature_key=model.features.key,
        evaluation_table=validation_table(name, model, ctx),
        metrics=tuple(model.evaluation.metrics or TASK_METRICS[model.task]), gates=tuple(gates), approval=approval,
        baseline_table=baseline_table(name, model, ctx),
        drift_threshold=monitoring.drift_threshold if monitoring else None,
        cooldown_hours=monitoring.cooldown_hours if monitoring else None,
        endpoint=endpoint_name(name, model, ctx) if model.serving is not None else None,
        batch_table=model.batch.output_table if model.batch else None,
        jobs=tuple(f"{name.replace('_', '-')}-{step}" for step in enabled_steps(model, ctx)),
        origins=origins)


def policies(envs) -> list[ModelPolicy]:
    """Every model's effective policy in every environment, in promotion order."""
    return [model_policy(env, name) for env in envs for name in env.models]


def _set(section) -> set[str]:
    return set(section.model_fields_set)
