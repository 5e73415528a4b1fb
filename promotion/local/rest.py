"""The MLflow REST paths and the small conversions every part of the local adapter shares."""

from __future__ import annotations

import time

from promotion.local.errors import HttpFailure
from promotion.registry import ModelVersion, RegistryError

MODELS = "/api/2.0/mlflow/registered-models"
VERSIONS = "/api/2.0/mlflow/model-versions"
RUNS = "/api/2.0/mlflow/runs"
EXPERIMENTS = "/api/2.0/mlflow/experiments"
READ = "read"
WRITE = "write"


def to_version(full_name: str, mv: dict) -> ModelVersion:
    return ModelVersion(
        name=full_name,
        version=str(mv["version"]),
        source=mv.get("source", ""),
        run_id=mv.get("run_id", "") or "",
        tags={t["key"]: t.get("value", "") for t in mv.get("tags") or []},
        aliases=tuple(sorted(mv.get("aliases") or ())),
        created_at_ms=int(mv.get("creation_timestamp") or 0),
        status=mv.get("status", "READY") or "READY",
    )


def is_unknown_alias(exc: RegistryError) -> bool:
    """MLflow answers 400 INVALID_PARAMETER_VALUE "Registered model alias X not found"."""
    cause = exc.__cause__
    return isinstance(cause, HttpFailure) and cause.status == 400 and "alias" in cause.message.lower() \
        and "not found" in cause.message.lower()


def quote(value: str) -> str:
    return value.replace("'", "\\'")


def now_ms() -> int:
    return int(time.time() * 1000)
