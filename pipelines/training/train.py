"""Training: the project's `fit(frame, params)` around everything else a registered model needs.

Job `<model>-train` (task `train`), as the environment's principal:
1. read `features_table` (written by the model's feature-refresh job) and take `sample_fraction` of it;
2. call the project's `fit(frame, params)` (pipelines/user_code.py) on the feature columns and the label;
3. log the run as MLflow does it: parameters, the metrics `fit` returned (what the run *claims*: targets
   recompute them on their own data), the model with its signature and an input example;
4. register it as `model_name` with its lineage (git_commit, git_repository, training_run, git_author, whether the
   tree was clean and the commit holds the model's code);
5. write `baseline_table`: the training rows with the model's predictions and version, what monitoring measures
   drift against;
6. where models are promoted into (staging, prod: retraining), the new version becomes challenger and the
   environment's own gates decide whether it becomes champion (prod's approval still applies).
`--smoke_test=true` is the pull-request run: `smoke_sample_fraction` (5 %) of the data, `smoke_epochs` (one),
nothing registered, no baseline. Any other job parameter (`--param quality=poor`) reaches `fit` in `params`.
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

import contextlib
import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from lakegate.pipelines import runtime, user_code
from lakegate.pipelines.lineage import lineage_tags
from lakegate.pipelines.errors import MissingTable, PipelineError

EXAMPLE_CODE = "models/churn.py"          # what tests and benchmarks train when they need a real model quickly


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
    x_train: object          # the feature columns the model was fitted on (signature, example, baseline)
    rows: int


def fit(frame, code: str, *, label: str, key: str = "", params: dict[str, str] | None = None, seed: int = 7,
        epochs: int = 20, sample_fraction: float = 1.0) -> Fitted:
    """Sample `frame` and call the project's `fit` on its feature columns and label (never the key)."""
    if not 0 < sample_fraction <= 1:
        raise PipelineError(f"sample_fraction must be in (0, 1], not {sample_fraction}")
    if label not in frame.columns:
        raise PipelineError(f"the feature table has no label column {label!r} (columns: {', '.join(map(str, frame.columns))})")
    sample = frame.sample(frac=sample_fraction, random_state=seed) if sample_fraction < 1 else frame
    sample = sample.drop(columns=[key]) if key and key in sample.columns else sample
    module = user_code.load(code)
    params = {**(params or {}), "seed": str(seed), "epochs": str(epochs), "sample_fraction": f"{sample_fraction:g}",
              "label": label}
    result = module.fit(sample.reset_index(drop=True), params)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise user_code.UserCodeError(f"{code}: fit() must return (model, metrics dict), not {type(result).__name__}")
    model, metrics = result
    if not callable(getattr(model, "predict", None)):
        raise user_code.UserCodeError(f"{code}: fit() returned a {type(model).__name__}, which has no predict()")
    try:
        claimed = {str(k): float(v) for k, v in metrics.items()}
    except (TypeError, ValueError):
        raise user_code.UserCodeError(f"{code}: fit()'s metrics must be numbers ({metrics!r})") from None
    return Fitted(model, claimed, sample.drop(columns=[label]), len(sample))


def git_lineage(code: str) -> dict[str, str]:
    """The lineage tags of the model's code (pipelines/lineage.py): commit, repository, author, whether the tree was
    clean and whether the commit holds the code exactly as it ran."""
    return lineage_tags(code, ran=user_code.code_path(code))


def log_and_register(rt, fitted: Fitted, full_name: str, *, quality: str, seed: int, epochs: int, register: bool,
                     experiment: str, extra_tags: dict[str, str] | None = None,
                     padding_mb: int = 0, params: dict[str, str] | None = None,
                     code: str = EXAMPLE_CODE, feature_lookup: dict | None = None) -> TrainedVersion:
    """Log the run and the model as the runtime's principal; register it (with lineage) unless told not to."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    example = fitted.x_train.head(5)
    signature = infer_signature(example, fitted.model.predict(example))
    lineage = git_lineage(code)
    with rt.mlflow(), tempfile.TemporaryDirectory() as scratch:
        mlflow.set_experiment(experiment)
        model_name = full_name.split(".")[-1]
        with mlflow.start_run(run_name=f"{model_name}-{quality}{'-smoke' if not register else ''}") as run:
            mlflow.log_params({**{k: v[:500] for k, v in (params or {}).items()}, "quality": quality, "seed": seed,
                               "epochs": epochs, "rows": fitted.rows, "estimator": type(fitted.model).__name__})
            mlflow.log_metrics(fitted.metrics)
            mlflow.set_tags({**lineage, "mlflow.source.git.commit": lineage["git_commit"],
                             "lakegate.smoke": str(not register).lower(), **(extra_tags or {})})
            lookups = {"feature_lookups": [feature_lookup]} if feature_lookup else None
            logged = _log_model(fitted.model, signature, example, _padding(scratch, padding_mb), lookups)
        version = ""
        if register:
            with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." chatter
                registered = mlflow.register_model(logged.model_uri, rt.registered_name(full_name), tags={
                    **lineage, "training_run": run.info.run_id, "quality": quality, **(extra_tags or {}),
                    **({"feature_lookup": json.dumps(feature_lookup, sort_keys=True)} if feature_lookup else {})})
            version = str(registered.version)
    return TrainedVersion(full_name, version, run.info.run_id, fitted.metrics, quality, lineage["git_commit"],
                          lineage["git_repository"], rows=fitted.rows, epochs=epochs, smoke=not register)


def feature_lookup_spec(frame, table: str, key: str, feature_names) -> dict | None:
    """What serving by key needs to know of the model, recorded with it (MLmodel metadata and a version tag): the
    feature table (catalog-relative: a version promoted to prod looks its features up in prod's table), the key
    and its type (a request's key is checked against it), the features looked up. Shaped like
    databricks-feature-engineering's FeatureLookup (table_name, lookup_key, feature_names)."""
    if not table or not key or key not in frame.columns:
        return None
    from mlflow.models import infer_signature

    key_type = infer_signature(frame[[key]].head(5)).inputs.to_dict()[0]["type"]
    return {"table_name": table.split(".", 1)[1] if table.count(".") == 2 else table, "lookup_key": [key],
            "key_types": {key: key_type}, "feature_names": [str(c) for c in feature_names]}


def _log_model(model, signature, example, extra_files, metadata: dict | None = None):
    """A scikit-learn estimator with MLflow's sklearn flavour, anything else as a pyfunc (both load as pyfunc)."""
    import mlflow
    import sklearn
    from importlib.metadata import version

    from lakegate.promotion.model_requirements import pins_checked_by_version

    # Explicit requirements: skips MLflow's slow requirement inference (a subprocess).
    requirements = [f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"]
    if isinstance(model, sklearn.base.BaseEstimator):
        from mlflow.exceptions import MlflowException

        try:
            # skops, the safe format, always (MLflow's default on a Databricks tracking URI is cloudpickle); the
            # model's environment (serving, batch scoring) needs skops to load it, so it is pinned with the rest.
            with pins_checked_by_version():
                return mlflow.sklearn.log_model(model, name="model", signature=signature, input_example=example,
                                                serialization_format="skops",
                                                pip_requirements=[*requirements, f"skops=={version('skops')}"],
                                                extra_files=extra_files, metadata=metadata)
        except MlflowException as error:
            if "untrusted types" not in str(error):
                raise
            raise user_code.UserCodeError(f"fit() returned an estimator MLflow cannot save safely: "
                                          f"{str(error).split('Root error: ')[-1][:300]}") from None
    if not isinstance(model, mlflow.pyfunc.PythonModel):
        raise user_code.UserCodeError(f"fit() returned a {type(model).__name__}: return a scikit-learn estimator "
                                      "or an mlflow.pyfunc.PythonModel")
    with pins_checked_by_version():
        return mlflow.pyfunc.log_model(name="model", python_model=model, signature=signature, input_example=example,
                                       pip_requirements=requirements, metadata=metadata)


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
    runtime.model_arguments(parser)
    parser.add_argument("--features_table", required=True, help="what to learn from")
    parser.add_argument("--baseline_table", default="", help="where to write the training baseline (empty: nowhere)")
    parser.add_argument("--experiment", default="", help="MLflow experiment of the runs")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training data")
    parser.add_argument("--sample_fraction", type=float, default=1.0, help="fraction of the feature table used")
    parser.add_argument("--quality", default="good", help="passed to fit (the examples: poor simulates a bug)")
    parser.add_argument("--seed", type=int, default=7, help="sampling, split and fit seed")
    args = runtime.parse(parser, argv)
    from lakegate.promotion import model_stack

    model_stack.import_now()  # skops before MLflow and pandas: its import-time search walks far fewer modules
    rt = runtime.current(args.environment, args.catalog)
    smoke = runtime.flag(args.smoke_test)
    fraction = args.smoke_sample_fraction if smoke else args.sample_fraction
    epochs = args.smoke_epochs if smoke else args.epochs
    register = not smoke or runtime.flag(args.smoke_register_model)
    if not args.model_name:
        raise PipelineError("training needs --model_name (the job's model)")
    full_name = rt.model_full_name(args.model_name)
    model = full_name.split(".")[-1]
    try:
        frame = rt.tables.to_pandas(rt.tables.read(args.features_table))
    except MissingTable:
        raise MissingTable(f"{rt.tables.full_name(args.features_table)} does not exist yet: run the feature-refresh "
                           f"job first (python main.py run {model}-feature-refresh --env {args.environment})") from None
    params = {k: v for k, v in runtime.extra_parameters(argv).items() if k not in _FRAMEWORK_PARAMETERS}
    fitted = fit(frame, args.model_code, label=args.label, key=args.feature_key, params=params, seed=args.seed,
                 epochs=epochs, sample_fraction=fraction)
    trained = log_and_register(rt, fitted, full_name, quality=args.quality, seed=args.seed, epochs=epochs,
                               register=register, experiment=args.experiment or f"/Shared/lakegate/{model}",
                               params=params, code=args.model_code,
                               feature_lookup=feature_lookup_spec(frame, args.features_table, args.feature_key,
                                                                  fitted.x_train.columns),
                               extra_tags={"features_table": rt.tables.full_name(args.features_table),
                                           "lakegate.model_code": args.model_code})
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
    for name, value in list(trained.metrics.items())[:3]:
        rt.set_task_value(name, round(value, 4))
    rt.result = trained
    return 0


# Arguments the framework resolves itself: the rest of the job's parameters are the user's `params`.
_FRAMEWORK_PARAMETERS = {"environment", "catalog", "model_name", "output_table", "smoke_test", "smoke_sample_fraction",
                         "smoke_epochs", "smoke_register_model", "quality_monitors", "serving_endpoints", "model_code",
                         "task_type", "label", "feature_key", "features_table", "baseline_table", "experiment", "seed",
                         "epochs", "sample_fraction", "lakegate_environment", "lakegate_catalog"}


def decide_challenger(rt, full_name: str, version: str) -> dict:
    """Where models arrive by promotion, a version trained here (retraining) is judged like a promoted one:
    challenger, the environment's gates, champion only if every gate passed (and approval, where required)."""
    env = getattr(rt, "env", None)
    if env is None or env.promotion.from_env is None:
        return {}
    from lakegate.promotion.promote import judge_in_place

    result = judge_in_place(rt.envs, env.name, full_name, version, registry=rt.registry,
                            audit_dir=rt.state_dir / "audit")
    failed = "; ".join(f"{g.gate_id}: {g.message}" for g in result.failed_gates)
    rt.log(f"{full_name} v{version}: {result.outcome}" + (f" ({failed})" if failed else
                                                           f", {len(result.gates)} gates passed"))
    return result.as_dict()


def train_and_register(url: str, username: str, password: str, full_name: str, *, quality: str = "good",
                       seed: int = 7, padding_mb: int = 0, epochs: int = 20) -> TrainedVersion:
    """Train the example churn model on generated data (no lakehouse) and register it in the local registry as
    `username`: for tests and benchmarks that need a version of a real model quickly."""
    from mlflow.exceptions import MlflowException

    from lakegate.promotion.registry import PermissionRefused

    frame = _seeded(seed)
    fitted = fit(frame, EXAMPLE_CODE, label="churned", key="customer_id", params={"quality": quality}, seed=seed,
                 epochs=epochs)
    rt = _LoginRuntime(url, username, password, full_name)
    try:
        return log_and_register(rt, fitted, full_name, quality=quality, seed=seed, epochs=epochs, register=True,
                                experiment="churn-training", padding_mb=padding_mb)
    except MlflowException as error:
        if error.error_code == "PERMISSION_DENIED" or "403" in str(error)[:200]:
            raise PermissionRefused(username, "register a model", full_name, detail=str(error)[:300]) from None
        raise


def _seeded(seed: int):
    module = user_code.load(EXAMPLE_CODE)
    features, churned = module.make_data(seed)
    return features.assign(churned=churned)


class _LoginRuntime:
    """Just enough runtime for log_and_register against the local registry with a given login."""

    def __init__(self, url: str, username: str, password: str, full_name: str):
        self.url, self.principal, self._password, self.full_name = url, username, password, full_name

    @contextlib.contextmanager
    def mlflow(self):
        from lakegate.pipelines.mlflow_login import acting_as
        from lakegate.promotion.local.workspaces import mlflow_address

        with acting_as(self.url, self.principal, self._password, mlflow_address(self.full_name)[0]):
            yield

    def registered_name(self, full_name: str) -> str:
        from lakegate.promotion.local.workspaces import mlflow_address

        return mlflow_address(full_name)[1]


if __name__ == "__main__":
    runtime.run_file(main)
