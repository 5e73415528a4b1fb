"""Batch inference: score the model's feature table with its champion into its predictions table.

Job `<model>-batch-inference` (task `score`), as the environment's principal: loads `model_name@model_alias`
(champion), scores `features_table` on the columns of the version's own signature and appends every row with
its `prediction`, the `model_version` that made it and the scoring `timestamp` to `output_table` (e.g.
predictions.churn_scores), which a quality monitor may watch. Locally the scoring is pandas (`model.predict`); on Databricks the same lines score a Spark DataFrame
with `mlflow.pyfunc.spark_udf` on the executors (pipelines/tables.py).
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

import time
from datetime import datetime, timezone

from lakegate.pipelines import runtime
from lakegate.pipelines.errors import MissingTable


def score(rt, full_name: str, alias: str, features_table: str, output_table: str, version: str | None = None) -> dict:
    tables = rt.tables
    model, number = rt.scoring_model(full_name, alias, version)
    if not tables.exists(features_table):
        raise MissingTable(f"{tables.full_name(features_table)} does not exist yet: run the feature-refresh job first "
                           f"(python main.py run {full_name.split('.')[-1]}-feature-refresh --env {rt.environment})")
    started = time.perf_counter()
    frame = tables.read(features_table)
    scored = tables.predict(frame, model, signature_columns(rt, full_name, number, model))
    scored = tables.with_columns(scored, model_version=str(number), timestamp=datetime.now(timezone.utc))
    table_version = tables.write(output_table, scored, mode="append")
    seconds = time.perf_counter() - started
    rows = len(scored) if hasattr(scored, "__len__") else scored.count()
    return {"model_version": str(number), "rows": int(rows), "seconds": seconds, "table": tables.full_name(output_table),
            "table_version": table_version}


def signature_columns(rt, full_name: str, number: str, model) -> list[str]:
    """The version's input columns, from its signature (locally the loaded model; on a cluster its MLmodel)."""
    from lakegate.pipelines.evaluation import input_columns

    if hasattr(model, "metadata"):
        columns = input_columns(model, None)
        if columns:
            return columns
    # A model URI (Spark scores on the executors): the signature of the version's MLmodel, read as the principal.
    signature = (rt.registry.model_info(full_name, number) or {}).get("signature") or {}
    columns = [c.get("name") for c in signature.get("inputs") or [] if isinstance(c, dict) and c.get("name")]
    if not columns:
        raise MissingTable(f"{full_name} v{number} has no signature: batch scoring needs the model's input columns")
    return columns


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--model_alias", default="champion", help="alias of the version to score with")
    parser.add_argument("--model_version", default="", help="score with this version instead")
    runtime.model_arguments(parser)
    parser.add_argument("--features_table", required=True, help="rows to score")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    if not args.model_name or not args.output_table:
        raise MissingTable("batch scoring needs --model_name and --output_table (the job's model and batch table)")
    full_name = rt.model_full_name(args.model_name)
    result = score(rt, full_name, args.model_alias, args.features_table, args.output_table, args.model_version or None)
    rt.log(f"scored {result['rows']} rows with {full_name} v{result['model_version']} ({args.model_alias}) into "
           f"{result['table']} (Delta version {result['table_version']}) in {result['seconds']:.2f} s")
    rt.set_task_value("model_version", result["model_version"])
    rt.set_task_value("rows", result["rows"])
    rt.result = result
    return 0


if __name__ == "__main__":
    runtime.run_file(main)
