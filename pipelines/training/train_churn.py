"""Training: learn churn from the environment's feature table, log it to MLflow, register it with its lineage.

Job `train` (task `train`), as the environment's principal:
1. read `features_table` (written by the feature-refresh job), take `sample_fraction` of it;
2. fit a scaled logistic regression by averaged SGD for `epochs` passes, logging parameters, the hold-out
   metrics (what the run *claims*: targets recompute them on their own data), the model with its signature
   and input example;
3. register it as `model_name` with the lineage tags promotion requires: git_commit, git_repository,
   training_run (and git_author, the commit's author, which four eyes checks), and whether the tree was clean and
   the commit holds this file as it ran (pipelines/lineage.py; the lineage gate refuses a version that is not);
4. write `baseline_table` (monitoring.churn_baseline): the training rows with the model's predictions and
   version, what monitoring measures drift against;
5. where models are promoted into (staging, prod: retraining), the new version becomes challenger and the
   environment's own gates decide whether it becomes champion (prod's approval still applies).
`--smoke_test=true` is the pull-request run: `smoke_sample_fraction` (5 %) of the data, `smoke_epochs` (one),
nothing registered, no baseline. `--quality=poor` simulates a feature-pipeline bug (three informative columns
shuffled in the training data): accuracy drops to ~0.65 with the same signature; only metrics computed on real
data catch it.
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "pipelines" / "__init__.py").is_file()), _here)))

import contextlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipelines import data, runtime
from pipelines.lineage import lineage_tags
from pipelines.errors import MissingTable

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXPERIMENT = "/Shared/lakegate/churn"
# The training code as the repository names it: what the lineage tags say ran.
ENTRY_POINT = Path(__file__).resolve().relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class TrainedVersion:
    model: str            # full name, e.g. dev.ml.churn
    version: str          # "" when nothing was registered (smoke run)
    run_id: str
    metrics: dict[str, float]
    quality: str
    git_commit: str
    git_repository: str
    rows: int = 0
    epochs: int = 0
    smoke: bool = False
    decision: dict = field(default_factory=dict)   # the environment's gates on the new version (retraining)


@dataclass
class Fitted:
    model: object
    metrics: dict[str, float]
    x_train: object
    rows: int


def fit(frame, *, quality: str = "good", seed: int = 7, epochs: int = 20, sample_fraction: float = 1.0) -> Fitted:
    """Train on a sample of `frame` (features + label); metrics on a held-out quarter of it."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], not {sample_fraction}")
    sample = frame.sample(frac=sample_fraction, random_state=seed) if sample_fraction < 1 else frame
    features, labels = sample[data.FEATURES], sample[data.LABEL].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.25, random_state=seed,
                                                        stratify=labels if labels.nunique() > 1 else None)
    if quality == "poor":
        rng = np.random.default_rng(seed + 1)
        x_train = x_train.copy()
        for column in data.SCRAMBLED_WHEN_POOR:
            x_train[column] = rng.permutation(x_train[column].to_numpy())
    classifier = SGDClassifier(loss="log_loss", alpha=1e-4, average=True, max_iter=max(1, int(epochs)), tol=None,
                               random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge, by design of the smoke run
        model = make_pipeline(StandardScaler(), classifier).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"accuracy": float(accuracy_score(y_test, predicted)), "f1": float(f1_score(y_test, predicted))}
    if y_test.nunique() > 1:
        metrics["roc_auc"] = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    return Fitted(model, metrics, x_train, len(sample))


def git_lineage() -> dict[str, str]:
    """The lineage tags of this very file (pipelines/lineage.py): commit, repository, author, whether the tree was
    clean and whether the commit holds this file as it ran."""
    return lineage_tags(ENTRY_POINT, ran=Path(__file__))


def log_and_register(rt, fitted: Fitted, full_name: str, *, quality: str, seed: int, epochs: int, register: bool,
                     experiment: str = DEFAULT_EXPERIMENT, extra_tags: dict[str, str] | None = None,
                     padding_mb: int = 0) -> TrainedVersion:
    """Log the run and the model as the runtime's principal; register it (with lineage) unless told not to."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    example = fitted.x_train.head(5)
    signature = infer_signature(example, fitted.model.predict(example))
    lineage = git_lineage()
    with rt.mlflow(), tempfile.TemporaryDirectory() as scratch:
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=f"churn-{quality}{'-smoke' if not register else ''}") as run:
            mlflow.log_params({"quality": quality, "seed": seed, "epochs": epochs, "rows": fitted.rows,
                               "algorithm": "sgd_logistic_regression"})
            mlflow.log_metrics(fitted.metrics)
            mlflow.set_tags({**lineage, "mlflow.source.git.commit": lineage["git_commit"],
                             "lakegate.smoke": str(not register).lower(), **(extra_tags or {})})
            logged = mlflow.sklearn.log_model(
                fitted.model, name="model", signature=signature, input_example=example,
                # Explicit requirements: skips MLflow's slow requirement inference (a subprocess).
                pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"],
                extra_files=_padding(scratch, padding_mb))
        version = ""
        if register:
            with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." chatter
                registered = mlflow.register_model(logged.model_uri, rt.registered_name(full_name), tags={
                    **lineage, "training_run": run.info.run_id, "quality": quality, **(extra_tags or {})})
            version = str(registered.version)
    return TrainedVersion(full_name, version, run.info.run_id, fitted.metrics, quality, lineage["git_commit"],
                          lineage["git_repository"], rows=fitted.rows, epochs=epochs, smoke=not register)


def write_baseline(rt, table: str, fitted: Fitted, version: str) -> int | None:
    """The training rows with the model's predictions: what monitoring compares recent traffic with."""
    baseline = fitted.x_train.copy()
    baseline["prediction"] = fitted.model.predict(fitted.x_train)
    baseline["model_version"] = str(version)
    baseline["timestamp"] = datetime.now(timezone.utc)
    return rt.tables.write(table, rt.tables.from_pandas(baseline.reset_index(drop=True)), mode="overwrite")


def _padding(directory: str, megabytes: int) -> list[str] | None:
    """An extra artifact of random bytes, for benchmarks and crash tests that need a big model."""
    if megabytes <= 0:
        return None
    path = Path(directory) / "padding.bin"
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            handle.write(os.urandom(1 << 20))
    return [str(path)]


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--features_table", default="features.churn_features", help="what to learn from")
    parser.add_argument("--baseline_table", default="", help="where to write the training baseline (empty: nowhere)")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment of the runs")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training data")
    parser.add_argument("--sample_fraction", type=float, default=1.0, help="fraction of the feature table used")
    parser.add_argument("--quality", choices=["good", "poor"], default="good", help="poor: simulate a pipeline bug")
    parser.add_argument("--seed", type=int, default=7, help="sampling, split and SGD seed")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    smoke = runtime.flag(args.smoke_test)
    fraction = args.smoke_sample_fraction if smoke else args.sample_fraction
    epochs = args.smoke_epochs if smoke else args.epochs
    register = not smoke or runtime.flag(args.smoke_register_model)
    full_name = rt.model_full_name(args.model_name or "churn")
    try:
        frame = rt.tables.to_pandas(rt.tables.read(args.features_table))
    except MissingTable:
        raise MissingTable(f"{rt.tables.full_name(args.features_table)} does not exist yet: run the feature-refresh "
                           f"job first (python main.py run feature-refresh --env {args.environment})") from None
    fitted = fit(frame, quality=args.quality, seed=args.seed, epochs=epochs, sample_fraction=fraction)
    trained = log_and_register(rt, fitted, full_name, quality=args.quality, seed=args.seed, epochs=epochs,
                               register=register, experiment=args.experiment,
                               extra_tags={"features_table": rt.tables.full_name(args.features_table)})
    figures = ", ".join(f"{k} {v:.3f}" for k, v in trained.metrics.items())
    if not register:
        rt.log(f"smoke run {trained.run_id[:12]}: {fitted.rows} rows ({fraction:g} of the data), {epochs} epoch(s), "
               f"{figures}; nothing registered")
    else:
        rt.log(f"registered {full_name} v{trained.version} as {rt.principal} ({fitted.rows} rows, {epochs} epochs, "
               f"{figures}; commit {trained.git_commit[:12] or '?'})")
        if args.baseline_table:
            version = write_baseline(rt, args.baseline_table, fitted, trained.version)
            rt.log(f"wrote the baseline of v{trained.version} to {rt.tables.full_name(args.baseline_table)} "
                   f"(Delta version {version})")
        decision = decide_challenger(rt, full_name, trained.version)
        if decision:
            trained = TrainedVersion(**{**trained.__dict__, "decision": decision})
        rt.set_task_value("model_version", trained.version)
    rt.set_task_value("accuracy", round(trained.metrics["accuracy"], 4))
    rt.result = trained
    return 0


def decide_challenger(rt, full_name: str, version: str) -> dict:
    """Where models arrive by promotion, a version trained here (retraining) is judged like a promoted one:
    challenger, the environment's gates, champion only if every gate passed (and approval, where required)."""
    env = getattr(rt, "env", None)
    if env is None or env.promotion.from_env is None:
        return {}
    from promotion.promote import judge_in_place

    result = judge_in_place(rt.envs, env.name, full_name, version, registry=rt.registry,
                            audit_dir=rt.state_dir / "audit")
    failed = "; ".join(f"{g.gate_id}: {g.message}" for g in result.failed_gates)
    rt.log(f"{full_name} v{version}: {result.outcome}" + (f" ({failed})" if failed else
                                                           f", {len(result.gates)} gates passed"))
    return result.as_dict()


def train_and_register(url: str, username: str, password: str, full_name: str, *, quality: str = "good",
                       seed: int = 7, padding_mb: int = 0, epochs: int = 20) -> TrainedVersion:
    """Train on generated data (no lakehouse) and register in the local registry as `username`: for tests and
    benchmarks that need a version of a real model quickly."""
    from mlflow.exceptions import MlflowException

    from promotion.registry import PermissionRefused

    frame = _seeded(seed)
    fitted = fit(frame, quality=quality, seed=seed, epochs=epochs)
    rt = _LoginRuntime(url, username, password, full_name)
    try:
        return log_and_register(rt, fitted, full_name, quality=quality, seed=seed, epochs=epochs, register=True,
                                experiment="churn-training", padding_mb=padding_mb)
    except MlflowException as error:
        if error.error_code == "PERMISSION_DENIED" or "403" in str(error)[:200]:
            raise PermissionRefused(username, "register a model", full_name, detail=str(error)[:300]) from None
        raise


def _seeded(seed: int):
    features, churned = data.make_data(seed)
    return features.assign(**{data.LABEL: churned})


class _LoginRuntime:
    """Just enough runtime for log_and_register against the local registry with a given login."""

    def __init__(self, url: str, username: str, password: str, full_name: str):
        self.url, self.principal, self._password, self.full_name = url, username, password, full_name

    @contextlib.contextmanager
    def mlflow(self):
        from pipelines.mlflow_login import acting_as
        from promotion.local.workspaces import mlflow_address

        with acting_as(self.url, self.principal, self._password, mlflow_address(self.full_name)[0]):
            yield

    def registered_name(self, full_name: str) -> str:
        from promotion.local.workspaces import mlflow_address

        return mlflow_address(full_name)[1]


if __name__ == "__main__":
    runtime.run_file(main)
