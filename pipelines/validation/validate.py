"""Validation: judge a new version on this environment's own labelled hold-out, and record it on the version.

Job `<model>-validate` (task `validate`), started when a version arrives (MODEL_VERSION_READY), as the environment's
principal: loads the version (`--model_version`, default the newest), evaluates it on `validation_table` (the
feature-refresh job writes it) with pipelines/evaluation.py, the very computation the target's metric gates
make, and tags the version with the figures (`lakegate.validation.<metric>`, the table and its Delta version).
What the training run logged is never used. Where models arrive by promotion (staging, prod), a version trained
here (retraining) that is not champion is then judged by the environment's gates (`--judge=false` skips it): the
way to move champion to a retrained version once prod's approval is signed.
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

from lakegate.pipelines import evaluation, runtime
from lakegate.pipelines.errors import MissingModel, MissingTable

TAG_PREFIX = "lakegate.validation."


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    runtime.model_arguments(parser)
    parser.add_argument("--validation_table", required=True, help="labelled hold-out")
    parser.add_argument("--metrics", default="", help="metrics to compute, comma-separated (default: the task's)")
    parser.add_argument("--model_version", default="", help="version to validate (default: the newest)")
    parser.add_argument("--judge", default="true", help="judge a version retrained here by the environment's gates")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    if not args.model_name:
        raise MissingModel("validation needs --model_name (the job's model)")
    full_name = rt.model_full_name(args.model_name)
    number = args.model_version or _newest(rt, full_name)
    if not rt.tables.exists(args.validation_table):
        raise MissingTable(f"{rt.tables.full_name(args.validation_table)} does not exist yet: run the feature-refresh "
                           f"job first (python main.py run {full_name.split('.')[-1]}-feature-refresh --env "
                           f"{args.environment})")
    table_version = rt.tables.version(args.validation_table)
    frame = rt.tables.to_pandas(rt.tables.read(args.validation_table))
    model, number = rt.load_model(full_name, version=number)
    wanted = [m for m in args.metrics.split(",") if m] or None
    try:
        metrics = evaluation.evaluate(model, frame, args.label, task=args.task_type, metrics=wanted)
    except ValueError as error:
        raise MissingTable(f"{full_name} v{number} cannot be evaluated on "
                           f"{rt.tables.full_name(args.validation_table)}: {error}") from None
    tags = {f"{TAG_PREFIX}{name}": f"{value:.4f}" for name, value in metrics.items()}
    tags.update({f"{TAG_PREFIX}table": rt.tables.full_name(args.validation_table),
                 f"{TAG_PREFIX}table_version": str(table_version), f"{TAG_PREFIX}rows": str(len(frame)),
                 f"{TAG_PREFIX}by": rt.principal})
    for key, value in tags.items():
        rt.registry.set_version_tag(full_name, number, key, value)
    figures = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
    rt.log(f"{full_name} v{number} on {rt.tables.full_name(args.validation_table)} (v{table_version}, {len(frame)} rows, "
           f"as {rt.principal}): {figures}")
    rt.set_task_value("model_version", number)
    for name, value in list(metrics.items())[:3]:
        rt.set_task_value(name, round(value, 4))
    rt.result = {"version": number, "metrics": metrics}
    if runtime.flag(args.judge):
        version = rt.registry.get_version(full_name, number)
        if "promoted_from" not in version.tags and "champion" not in version.aliases:
            from lakegate.pipelines.training.train import decide_challenger

            decision = decide_challenger(rt, full_name, number)
            if decision:
                rt.result["decision"] = decision
                rt.set_task_value("outcome", decision["outcome"])
    return 0


def _newest(rt, full_name: str) -> str:
    versions = [v for v in rt.registry.list_versions(full_name) if v.status == "READY"]
    if not versions:
        raise MissingModel(f"{full_name} has no version to validate")
    return max(versions, key=lambda v: int(v.version)).version


if __name__ == "__main__":
    runtime.run_file(main)
