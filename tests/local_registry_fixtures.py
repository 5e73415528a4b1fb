"""Helpers (plain functions, not pytest fixtures) to run the local registry in tests.

    with running_local_registry(tmp_path / "state", example_plan()) as registry:
        dev = registry.adapter("sp-dev")
        version = register_sklearn_model(registry, "sp-dev", "dev.ml.churn")

`running_local_registry` starts one real MLflow server on 127.0.0.1 (free port) in the given state
folder, provisions it, and always stops it. `register_sklearn_model` trains a tiny model and
registers it as a principal entirely through that principal's own HTTP client (no MLFLOW_*
environment variables, no global MLflow state), like a training job in the source environment.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Iterator

from promotion.local import secret_file
from promotion.local.artifacts import proxy_path, workspace_of
from promotion.local.http import MlflowHttp
from promotion.local.naming import split_full_name
from promotion.local.provision import LocalAccessPlan
from promotion.local.server import LocalRegistry
from promotion.registry import ModelVersion


def example_plan() -> LocalAccessPlan:
    """dev -> staging -> prod; each environment's principal owns its workspace and reads the previous."""
    return LocalAccessPlan(
        workspaces=["dev", "staging", "prod"],
        users=["sp-dev", "sp-staging", "sp-prod"],
        permissions=[
            ("sp-dev", "dev", "MANAGE"),
            ("sp-staging", "dev", "READ"),
            ("sp-staging", "staging", "MANAGE"),
            ("sp-prod", "staging", "READ"),
            ("sp-prod", "prod", "MANAGE"),
        ],
    )


@contextlib.contextmanager
def running_local_registry(state_dir: Path, plan: LocalAccessPlan | None = None) -> Iterator[LocalRegistry]:
    registry = LocalRegistry(Path(state_dir))
    try:
        registry.up(plan if plan is not None else example_plan())
        yield registry
    finally:
        registry.down()


def principal_http(registry: LocalRegistry, principal: str) -> MlflowHttp:
    return MlflowHttp(registry.url, principal, secret_file.user_password(registry.state_dir, principal))


def register_sklearn_model(
    registry: LocalRegistry,
    principal: str,
    full_name: str,
    *,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    seed: int = 0,
    padding_bytes: int = 0,
) -> ModelVersion:
    """Train a small LogisticRegression, save it with signature + input example, upload it into a
    run of the principal's workspace and register it. `padding_bytes` adds a data file to make the
    model as large as a test needs."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    http = principal_http(registry, principal)
    workspace, model_name = split_full_name(full_name)
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.random((60, 3)), columns=["tenure", "spend", "tickets"])
    labels = (features["tenure"] + 0.2 * rng.random(60) > 0.6).astype(int)
    model = LogisticRegression().fit(features, labels)
    run_metrics = {"accuracy": float(model.score(features, labels)), **(metrics or {})}

    experiment_id = _experiment(http, workspace, f"train/{model_name}")
    run = http.call("POST", "/api/2.0/mlflow/runs/create", workspace=workspace,
                    json={"experiment_id": experiment_id, "start_time": _now_ms()})["run"]["info"]
    now = _now_ms()
    http.call("POST", "/api/2.0/mlflow/runs/log-batch", workspace=workspace, json={
        "run_id": run["run_id"],
        "metrics": [{"key": k, "value": v, "timestamp": now, "step": 0} for k, v in run_metrics.items()],
        "params": [{"key": "C", "value": "1.0"}],
    })
    model_uri = f"{run['artifact_uri']}/model"
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "model"
        mlflow.sklearn.save_model(
            model, str(local),
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(3),
            # Inferring pip requirements runs the model in a subprocess (~7 s); name them instead.
            pip_requirements=["scikit-learn", "pandas"],
        )
        if padding_bytes:  # in a sub-folder, so copies must walk nested folders
            (local / "data").mkdir()
            (local / "data" / "padding.bin").write_bytes(rng.bytes(padding_bytes))
        root = proxy_path(model_uri)
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            with open(path, "rb") as handle:
                http.upload_artifact(workspace_of(root) or "", f"{root}/{path.relative_to(local).as_posix()}", handle)
    _ensure_model(http, workspace, model_name)
    created = http.call("POST", "/api/2.0/mlflow/model-versions/create", workspace=workspace, json={
        "name": model_name, "source": model_uri, "run_id": run["run_id"],
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    })["model_version"]
    http.call("POST", "/api/2.0/mlflow/runs/update", workspace=workspace,
              json={"run_id": run["run_id"], "status": "FINISHED", "end_time": _now_ms()})
    return registry.adapter(principal).get_version(full_name, created["version"])


def _experiment(http: MlflowHttp, workspace: str, name: str) -> str:
    from promotion.local.errors import HttpFailure

    try:
        return http.call("GET", "/api/2.0/mlflow/experiments/get-by-name", workspace=workspace,
                         params={"experiment_name": name})["experiment"]["experiment_id"]
    except HttpFailure as failure:
        if not failure.is_missing:
            raise
    return http.call("POST", "/api/2.0/mlflow/experiments/create", workspace=workspace,
                     json={"name": name})["experiment_id"]


def _ensure_model(http: MlflowHttp, workspace: str, name: str) -> None:
    from promotion.local.errors import HttpFailure

    try:
        http.call("POST", "/api/2.0/mlflow/registered-models/create", workspace=workspace, json={"name": name})
    except HttpFailure as failure:
        if not failure.already_exists:
            raise


def _now_ms() -> int:
    return int(time.time() * 1000)
