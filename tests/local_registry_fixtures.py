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
import functools
import tempfile
import time
from pathlib import Path
from typing import Iterator

from lakegate.promotion.local import secret_file
from lakegate.promotion.local.transfer.artifacts import proxy_path, workspace_of
from lakegate.promotion.local.rest import MlflowHttp
from lakegate.promotion.local.workspaces import mlflow_address
from lakegate.promotion.local.provision import LocalAccessPlan
from lakegate.promotion.local.server import LocalRegistry
from lakegate.promotion.registry import ModelVersion


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
    """The server, and every workspace's validation table (the metric gates of a target judge on it)."""
    registry = LocalRegistry(Path(state_dir))
    try:
        plan = plan if plan is not None else example_plan()
        registry.up(plan)
        write_validation_tables(registry.state_dir, plan.workspaces)
        yield registry
    finally:
        registry.down()


@functools.lru_cache(maxsize=None)
def validation_table(catalog: str) -> tuple[str, str]:
    """(schema, table) of the examples' promotion.evaluation.table in `catalog` (prod keeps it in its own schema)."""
    from lakegate.infra.loader import load_environments

    envs = load_environments(Path(__file__).resolve().parent / "fixtures" / "environments")
    schema, table = envs[catalog].promotion.evaluation.table_for("churn").split(".")
    return schema, table
TINY_COLUMNS = ["tenure", "spend", "tickets"]
VALIDATION_ROWS = 2000


def validation_frame():
    """The labelled hold-out every test catalog holds: the churn columns (real churn models score ~0.91, a
    poor one ~0.65) and three random columns the tiny test models learn a given accuracy on."""
    import numpy as np

    from models import churn as data

    frame = data.landing("fixtures", VALIDATION_ROWS, "validation")
    rng = np.random.default_rng(2024)
    for column in TINY_COLUMNS:
        frame[column] = rng.random(VALIDATION_ROWS)
    return frame


def write_validation_tables(state_dir: Path, catalogs) -> None:
    """Write the hold-out into each catalog's lakehouse as its feature-refresh job would (test setup)."""
    from deltalake import write_deltalake

    frame = validation_frame()
    for catalog in catalogs:
        path = Path(state_dir) / "lakehouse" / catalog / Path(*validation_table(catalog))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(path), frame, mode="overwrite")


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
    signature: bool = True,
) -> ModelVersion:
    """Train a small model, save it with signature + input example, upload it into a run of the
    principal's workspace and register it. `metrics` are what its run logs (a claim); the model really
    scores `metrics["accuracy"]` (default 0.95) on the validation table every catalog holds, the figure a
    target's metric gates compute (a tree that learned that table's labels with the right share of them
    flipped). `padding_bytes` adds a data file to make the model as large as a test needs."""
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from sklearn.tree import DecisionTreeClassifier

    from models.churn import LABEL

    http = principal_http(registry, principal)
    workspace, model_name = mlflow_address(full_name)
    rng = np.random.default_rng(seed)
    holdout = validation_frame()
    features = holdout[TINY_COLUMNS]
    accuracy = (metrics or {}).get("accuracy", 0.95)
    labels = holdout[LABEL].to_numpy().copy()
    flipped = rng.choice(len(labels), size=round((1 - accuracy) * len(labels)), replace=False)
    labels[flipped] = 1 - labels[flipped]
    model = DecisionTreeClassifier(random_state=seed).fit(features, labels)
    run_metrics = {"accuracy": float(accuracy), **(metrics or {})}

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
            signature=infer_signature(features, model.predict(features)) if signature else None,
            input_example=features.head(3) if signature else None,  # MLflow infers a signature from an example
            # Inferring pip requirements runs the model in a subprocess (~7 s); name them instead.
            pip_requirements=["scikit-learn", "pandas"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],  # a tree's node storage: our own model, trusted
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
    from lakegate.promotion.local.rest import HttpFailure

    try:
        return http.call("GET", "/api/2.0/mlflow/experiments/get-by-name", workspace=workspace,
                         params={"experiment_name": name})["experiment"]["experiment_id"]
    except HttpFailure as failure:
        if not failure.is_missing:
            raise
    return http.call("POST", "/api/2.0/mlflow/experiments/create", workspace=workspace,
                     json={"name": name})["experiment_id"]


def _ensure_model(http: MlflowHttp, workspace: str, name: str) -> None:
    from lakegate.promotion.local.rest import HttpFailure

    try:
        http.call("POST", "/api/2.0/mlflow/registered-models/create", workspace=workspace, json={"name": name})
    except HttpFailure as failure:
        if not failure.already_exists:
            raise


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- approvals: throwaway SSH keys, enrolled in a copy of the definitions -------------------------------


def new_ssh_key(folder: Path, name: str = "approver") -> tuple[Path, str]:
    """(private key path, `ssh-ed25519 AAAA...`) of a fresh passphrase-less key in `folder`."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True,
                   capture_output=True)
    return key, " ".join(Path(f"{key}.pub").read_text().split()[:2])


def set_approval(env_dir: Path, env: str, *, required: bool = True, approvers: list[str] | None = None,
                 signers: list[dict] | None = None, ci: dict | None = None) -> None:
    """Replace the `promotion.approval` block of `<env_dir>/<env>.yaml` (as a person would edit it)."""
    def change(section: dict) -> None:
        section["approval"] = {"required": required, "approvers": approvers or [], "signers": signers or [],
                               **({"ci": ci} if ci else {})}

    _edit_promotion(env_dir / f"{env}.yaml", change)


def set_gates(env_dir: Path, env: str, gates: list[dict]) -> None:
    """Replace the `promotion.gates` of `<env_dir>/<env>.yaml`."""
    _edit_promotion(env_dir / f"{env}.yaml", lambda section: section.__setitem__("gates", gates))


# Gates that judge the version's own files and tags (no model loading, no tables): for tests whose subject
# is not the gates. A version registered with signature=False fails `signature`.
CHEAP_GATES = [{"type": "required_tags", "tags": ["git_commit", "git_repository", "training_run"]},
               {"type": "signature"}]


def _edit_promotion(path: Path, change) -> None:
    import re

    import yaml

    text = path.read_text()
    start = text.index("\npromotion:\n") + 1
    end_match = re.compile(r"\n(?=\S)").search(text, start + len("promotion:\n"))
    end = end_match.start() + 1 if end_match else len(text)
    section = yaml.safe_load(text[start:end])["promotion"]
    change(section)
    rendered = yaml.safe_dump({"promotion": section}, sort_keys=False, allow_unicode=True, width=200)
    path.write_text(text[:start] + rendered + text[end:])
