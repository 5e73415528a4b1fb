"""Feature refresh: the model's rows from the project's `features(ctx)`, split into its feature table and its
labelled hold-out.

Job `<model>-feature-refresh` (task `refresh_features`). Writes, as the environment's principal, in its own catalog:
- `output_table` (e.g. features.churn_features): the rows the train job learns from, with labels;
- `validation_table` (e.g. features.churn_validation): the labelled hold-out this environment's metric gates
  judge every candidate and the champion on, never trained on.
The split is the framework's, by the model's key (a stable hash: the same key always lands on the same side,
so a refresh never moves a row from the hold-out into training); `holdout_fraction` of the keys (a third by
default) go to the hold-out.
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

import zlib

from lakegate.pipelines import runtime, user_code
from lakegate.pipelines.errors import PipelineError
from lakegate.pipelines.features.online import publish


def holdout_mask(keys, fraction: float):
    """True for the rows whose key hashes into the hold-out (crc32: the same on every machine)."""
    import numpy as np

    limit = int(fraction * 10_000)
    return np.fromiter(((zlib.crc32(str(k).encode()) % 10_000) < limit for k in keys), dtype=bool, count=len(keys))


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    runtime.model_arguments(parser)
    parser.add_argument("--validation_table", required=True, help="labelled hold-out to write")
    parser.add_argument("--holdout_fraction", type=float, default=1 / 3, help="share of the keys in the hold-out")
    parser.add_argument("--online_store", default="", help="served by key: the online store the table is published to")
    parser.add_argument("--online_table", default="", help="served by key: the synced copy's name (schema.table)")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    tables = rt.tables
    output = args.output_table
    if not output:
        raise PipelineError("feature refresh needs --output_table (the model's features.table)")
    module = user_code.load(args.model_code, needs=("features",))
    params = {k: v for k, v in runtime.extra_parameters(argv).items() if k not in ("online_store", "online_table")}
    frame = tables.to_pandas(module.features(user_code.FeatureContext(args.environment, params, tables)))
    missing = [c for c in (args.feature_key, args.label) if c not in frame.columns]
    if missing:
        raise user_code.UserCodeError(f"{args.model_code} features() returned no column {', '.join(missing)} "
                                      f"(columns: {', '.join(map(str, frame.columns))})")
    if not 0 < args.holdout_fraction < 1:
        raise PipelineError(f"holdout_fraction must be between 0 and 1, not {args.holdout_fraction}")
    mask = holdout_mask(frame[args.feature_key].tolist(), args.holdout_fraction)
    training, holdout = frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
    version = tables.write(output, tables.from_pandas(training), mode="overwrite")
    rt.log(f"wrote {len(training)} rows to {tables.full_name(output)} (Delta version {version})")
    holdout_version = tables.write(args.validation_table, tables.from_pandas(holdout), mode="overwrite")
    rt.log(f"wrote {len(holdout)} labelled hold-out rows to {tables.full_name(args.validation_table)} "
           f"(Delta version {holdout_version})")
    if args.online_store and args.online_table:
        publish(rt, output, args.feature_key, args.online_store, args.online_table)
    rt.set_task_value("rows", len(training))
    return 0


if __name__ == "__main__":
    runtime.run_file(main)
