"""Feature refresh: land the environment's customers and write its feature table and its validation hold-out.

Job `feature-refresh` (task `refresh_features`). Writes, as the environment's principal, in its own catalog:
- `output_table` (features.churn_features): the customers the training job learns from, with labels;
- `validation_table` (features.churn_validation): a labelled hold-out of other customers, never trained on,
  that this environment's metric gates judge every candidate and the champion on.
The landing data is generated (pipelines/data.py), seeded by the environment's name: dev, staging and prod
each have their own customers, following the same rule.
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "pipelines" / "__init__.py").is_file()), _here)))

from pipelines import data, runtime


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--validation_table", default="features.churn_validation", help="labelled hold-out to write")
    parser.add_argument("--rows", type=int, default=4000, help="customers in the feature table")
    parser.add_argument("--validation_rows", type=int, default=2000, help="customers in the hold-out")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    output = args.output_table or "features.churn_features"
    tables = rt.tables
    features = data.landing(args.environment, args.rows, "landing")
    holdout = data.landing(args.environment, args.validation_rows, "validation")
    version = tables.write(output, tables.from_pandas(features), mode="overwrite")
    rt.log(f"wrote {len(features)} customers to {tables.full_name(output)} (Delta version {version})")
    holdout_version = tables.write(args.validation_table, tables.from_pandas(holdout), mode="overwrite")
    rt.log(f"wrote {len(holdout)} labelled hold-out customers to {tables.full_name(args.validation_table)} "
           f"(Delta version {holdout_version})")
    rt.set_task_value("rows", len(features))
    return 0


if __name__ == "__main__":
    runtime.run_file(main)
