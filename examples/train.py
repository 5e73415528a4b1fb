"""Train the churn example in dev and register it as `dev.ml.churn`, as dev's service principal.

    python examples/train.py                      # good model, registered in the local registry
    python examples/train.py --quality poor       # a deliberately worse model (a gate must refuse it)
    python examples/train.py --json               # machine-readable result

The data is generated, deterministically from --seed: customers with tenure, charges, support calls,
contract type and products; churn follows a known logistic rule plus noise, so a correct pipeline
reaches ~0.89 accuracy. `--quality poor` simulates a feature-pipeline bug (three informative columns
shuffled in the training data), which drops accuracy to ~0.66 while the signature stays the same: the
metric gates, not the signature gate, must catch it.

Logged: the model with its signature and an input example, metrics (accuracy, f1, roc_auc), and the
lineage tags promotion requires on the registered version: git commit, repository, training run.
Credentials: the local registry's URL and dev's generated password come from the state folder
(`.lakegate/`); nothing secret is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_monthly", "num_products"]
# The columns a "feature-pipeline bug" scrambles in --quality poor.
SCRAMBLED_WHEN_POOR = ["tenure_months", "contract_monthly", "support_calls"]
EXPERIMENT = "churn-training"


@dataclass(frozen=True)
class TrainedVersion:
    model: str            # full name, e.g. dev.ml.churn
    version: str
    run_id: str
    metrics: dict[str, float]
    quality: str
    git_commit: str
    git_repository: str


def make_data(seed: int = 7, rows: int = 4000):
    """Customers and whether they churned, generated from a fixed rule: same seed, same data."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "tenure_months": rng.uniform(0, 72, rows).round(1),
        "monthly_charges": np.clip(rng.normal(70, 25, rows), 20, 150).round(2),
        "support_calls": rng.poisson(1.5, rows).astype(float),
        "contract_monthly": rng.binomial(1, 0.55, rows).astype(float),
        "num_products": rng.integers(1, 5, rows).astype(float),
    })
    logit = 3.0 * (0.5 - 0.06 * data.tenure_months + 0.025 * (data.monthly_charges - 70)
                   + 0.6 * data.support_calls + 1.5 * data.contract_monthly - 0.4 * (data.num_products - 1))
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return data[FEATURES], churned


def fit(quality: str = "good", seed: int = 7):
    """(model, metrics on held-out data, training features) for the given quality."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, churned = make_data(seed)
    x_train, x_test, y_train, y_test = train_test_split(features, churned, test_size=0.25, random_state=seed,
                                                        stratify=churned)
    if quality == "poor":
        rng = np.random.default_rng(seed + 1)
        x_train = x_train.copy()
        for column in SCRAMBLED_WHEN_POOR:
            x_train[column] = rng.permutation(x_train[column].to_numpy())
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"accuracy": float(accuracy_score(y_test, predicted)),
               "f1": float(f1_score(y_test, predicted)),
               "roc_auc": float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))}
    return model, metrics, x_train


def git_lineage() -> dict[str, str]:
    """Commit and repository of the code that trains: CI variables first, then git itself."""
    commit = os.environ.get("LAKEGATE_GIT_COMMIT") or os.environ.get("GITHUB_SHA") \
        or os.environ.get("BUILD_SOURCEVERSION") or _git("rev-parse", "HEAD")
    repository = os.environ.get("LAKEGATE_GIT_REPOSITORY") or _github_repository() \
        or os.environ.get("BUILD_REPOSITORY_URI") or _git("config", "--get", "remote.origin.url") \
        or (f"file://{_git('rev-parse', '--show-toplevel')}" if _git("rev-parse", "--show-toplevel") else "")
    return {"git_commit": commit, "git_repository": repository}


def _github_repository() -> str:
    name = os.environ.get("GITHUB_REPOSITORY")
    return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{name}" if name else ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@contextlib.contextmanager
def acting_as(url: str, username: str, password: str, workspace: str) -> Iterator[None]:
    """MLflow's client reads credentials and workspace from the environment at each request."""
    wanted = {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": username,
              "MLFLOW_TRACKING_PASSWORD": password, "MLFLOW_WORKSPACE": workspace,
              "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def train_and_register(url: str, username: str, password: str, full_name: str, *, quality: str = "good",
                       seed: int = 7, padding_mb: int = 0) -> TrainedVersion:
    """Train, log and register one version of `full_name` in the local registry, as `username`."""
    from mlflow.exceptions import MlflowException
    from promotion.registry import PermissionRefused

    model, metrics, x_train = fit(quality, seed)
    try:
        return _log_and_register(url, username, password, full_name, model, metrics, x_train, quality, seed, padding_mb)
    except MlflowException as error:
        if error.error_code == "PERMISSION_DENIED" or "403" in str(error)[:200]:
            raise PermissionRefused(username, "register a model", full_name, detail=str(error)[:300]) from None
        raise


def _log_and_register(url, username, password, full_name, model, metrics, x_train, quality, seed,
                      padding_mb) -> TrainedVersion:
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from promotion.local.naming import split_full_name

    example = x_train.head(5)
    signature = infer_signature(example, model.predict(example))
    lineage = git_lineage()
    workspace, registered_name = split_full_name(full_name)
    with acting_as(url, username, password, workspace), tempfile.TemporaryDirectory() as scratch:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(run_name=f"churn-{quality}") as run:
            mlflow.log_params({"quality": quality, "seed": seed, "algorithm": "logistic_regression"})
            mlflow.log_metrics(metrics)
            mlflow.set_tags({**lineage, "mlflow.source.git.commit": lineage["git_commit"]})
            logged = mlflow.sklearn.log_model(
                model, name="model", signature=signature, input_example=example,
                # Explicit requirements: skips MLflow's slow requirement inference (a subprocess).
                pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"],
                extra_files=_padding(scratch, padding_mb))
        with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." chatter
            version = mlflow.register_model(logged.model_uri, registered_name, tags={
                **lineage, "training_run": run.info.run_id, "quality": quality})
    return TrainedVersion(full_name, str(version.version), run.info.run_id, metrics, quality,
                          lineage["git_commit"], lineage["git_repository"])


def _padding(directory: str, megabytes: int) -> list[str] | None:
    """An extra artifact of random bytes, for benchmarks and crash tests that need a big model."""
    if megabytes <= 0:
        return None
    path = Path(directory) / "padding.bin"
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(1 << 20))
    return [str(path)]


def _local_credentials(state_dir: Path, env_name: str, environments: Path) -> tuple[str, str, str, str]:
    """(url, service principal, password, full model name) of env from the running local registry."""
    from infra.loader import load_environments
    from promotion.local import secret_file
    from promotion.local.server import LocalRegistry

    env = load_environments(environments)[env_name]
    registry = LocalRegistry(state_dir)
    if registry.status().state != "running":
        raise SystemExit("the local registry is not running; start it with: python main.py local up")
    password = secret_file.user_password(registry.state_dir, env.service_principal)
    return registry.url, env.service_principal, password, env.unity_catalog.model_full_name("churn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality", choices=["good", "poor"], default="good")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--env", default="dev", help="environment to register in (default dev)")
    parser.add_argument("--environments", type=Path, default=ROOT / "environments")
    parser.add_argument("--state-dir", type=Path, default=Path(".lakegate"))
    parser.add_argument("--padding-mb", type=int, default=0, help="add a random artifact of this size (MB)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # keep the demo's output readable
    url, principal, password, full_name = _local_credentials(args.state_dir, args.env, args.environments)
    trained = train_and_register(url, principal, password, full_name, quality=args.quality, seed=args.seed,
                                 padding_mb=args.padding_mb)
    if args.json:
        print(json.dumps(asdict(trained), indent=2))
    else:
        figures = ", ".join(f"{k} {v:.3f}" for k, v in trained.metrics.items())
        print(f"registered {trained.model} v{trained.version} as {principal} ({trained.quality}: {figures}; "
              f"commit {trained.git_commit[:12] or '?'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
