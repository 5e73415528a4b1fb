# Databricks notebook source
"""Monitoring: refresh each quality monitor, compute drift, publish `drift` (and decide the cooldown).

Job `monitoring` (task `refresh_monitor`, a notebook in Databricks source format: only a notebook can set
task values), as the environment's principal, for every entry of the YAML's `quality_monitors` (the job
parameter `quality_monitors`) whose table exists:
- on Databricks: create the Lakehouse Monitoring inference-log monitor (or update it to the YAML), run a
  refresh, wait for it, and read the largest population stability index of the newest window from its
  `<table>_drift_metrics` table (NOT exercised here: no workspace where this was built);
- locally: compare the newest window (the monitor's first granularity) of the table with the baseline
  (the monitor's `baseline_table`, else `baseline_table` written by training, else the environment's
  feature table) column by column, features and prediction: PSI and KS (pipelines/monitoring/drift.py),
  appended to `<output schema>.<table>_drift_metrics`.
Publishes `drift` (the largest PSI) and `in_cooldown`: when drift is above `drift_threshold` and no retraining
was triggered in the last `retrain_cooldown_hours`, the trigger is recorded in `<inference_table>_retraining`
and `in_cooldown` is false, so the job's condition tasks start `retrain_job`; inside the cooldown it is true
and nothing retrains (a drifting stream must not retrain in a loop).
"""

if __name__ == "__main__" and not __package__:  # run as a file or as a Databricks notebook
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

import json
from datetime import datetime, timedelta, timezone

from lakegate.pipelines import runtime
from lakegate.pipelines.monitoring.drift import column_drift

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400, "week": 604800,
          "weeks": 604800, "month": 2592000, "year": 31536000}
MIN_ROWS = 30          # fewer recent rows than this: drift is not measured (noise, not signal)


def window_of(granularity: str) -> timedelta:
    count, unit = granularity.split()
    return timedelta(seconds=int(count) * _UNITS[unit])


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--inference_table", required=True, help="the unpacked inference table")
    parser.add_argument("--baseline_table", required=True, help="baseline training writes")
    parser.add_argument("--features_table", required=True, help="baseline when there is none")
    parser.add_argument("--label", default="", help="the model's label column (never a drift input)")
    parser.add_argument("--feature_key", default="", help="the model's key column (never a drift input)")
    parser.add_argument("--drift_threshold", type=float, default=None, help="drift above which retraining runs")
    parser.add_argument("--retrain_cooldown_hours", type=float, default=24.0, help="no second retraining within")
    parser.add_argument("--retrain_job", default="", help="the job retraining runs")
    parser.add_argument("--drift_value", default="drift", help="name of the published drift task value")
    parser.add_argument("--min_rows", type=int, default=MIN_ROWS, help="recent rows needed to measure drift")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    monitors = json.loads(args.quality_monitors or "[]")
    if not monitors:  # a monitoring job without YAML monitors still watches its inference table
        monitors = [{"table": args.inference_table, "granularities": ["1 day"], "output_schema": "monitoring"}]
    refresh = refresh_on_databricks if rt.on_databricks else refresh_locally
    drifts = []
    for monitor in monitors:
        if not rt.tables.exists(monitor["table"]):
            rt.log(f"monitor on {rt.tables.full_name(monitor['table'])}: the table does not exist yet (its job creates "
                   "it); the monitor is created by the first refresh after that")
            continue
        value = refresh(rt, monitor, args)
        if value is not None:
            drifts.append((value, monitor["table"]))
    drift = max(drifts)[0] if drifts else 0.0
    in_cooldown = decide_retraining(rt, args, drift)
    rt.set_task_value(args.drift_value, round(drift, 4))
    rt.set_task_value("in_cooldown", "true" if in_cooldown else "false")
    rt.result = {"drift": drift, "in_cooldown": in_cooldown, "tables": {t: v for v, t in drifts}}
    return 0


def refresh_locally(rt, monitor: dict, args) -> float | None:
    """Drift of the monitor's newest window against its baseline; rows appended to `<table>_drift_metrics`."""
    import pandas as pd

    tables, table = rt.tables, monitor["table"]
    current = tables.to_pandas(tables.read(table))
    timestamp = monitor.get("timestamp_column", "timestamp")
    granularity = (monitor.get("granularities") or ["1 day"])[0]
    end = datetime.now(timezone.utc)
    start = end - window_of(granularity)
    if timestamp in current.columns:
        current = current[pd.to_datetime(current[timestamp], utc=True) >= start]
    if len(current) < args.min_rows:
        rt.log(f"monitor on {tables.full_name(table)}: {len(current)} row(s) in the last {granularity} (need "
               f"{args.min_rows}): drift not measured")
        return None
    baseline_name, baseline = _baseline(rt, monitor, args)
    prediction = monitor.get("prediction_column", "prediction")
    skip = {timestamp, monitor.get("model_id_column", "model_version"), monitor.get("label_column") or args.label,
            "request_id", args.feature_key}
    columns = [c for c in current.columns if c in baseline.columns and c not in skip
               and pd.api.types.is_numeric_dtype(current[c]) and pd.api.types.is_numeric_dtype(baseline[c])]
    results = column_drift(baseline, current, columns)
    if not results:
        rt.log(f"monitor on {tables.full_name(table)}: no column in common with {baseline_name}")
        return None
    model_id = monitor.get("model_id_column", "model_version")
    versions = sorted(current[model_id].dropna().astype(str).unique()) if model_id in current.columns else []
    metrics = pd.DataFrame([{
        "window_start": start, "window_end": end, "granularity": granularity, "column_name": r.column,
        "drift_type": "BASELINE", "population_stability_index": r.psi, "ks_statistic": r.ks_statistic,
        "ks_pvalue": r.ks_pvalue, "count": r.current_count, "baseline_count": r.baseline_count,
        "model_version": ",".join(versions), "baseline_table": baseline_name, "computed_at": end,
    } for r in results])
    output = f"{monitor.get('output_schema', 'monitoring')}.{table.split('.')[-1]}_drift_metrics"
    tables.write(output, tables.from_pandas(metrics), mode="append")
    worst = max(results, key=lambda r: r.psi)
    summary = ", ".join(f"{r.column} {r.psi:.3f}" for r in sorted(results, key=lambda r: -r.psi)[:4])
    rt.log(f"monitor on {tables.full_name(table)}: {len(current)} rows in the last {granularity} vs {baseline_name}: "
           f"PSI {summary}{' (prediction included)' if prediction in columns else ''}; worst {worst.column} "
           f"{worst.psi:.3f} -> {tables.full_name(output)}")
    return worst.psi


def _baseline(rt, monitor: dict, args):
    """(name, frame): the monitor's baseline table, training's, or the feature table (the training population)."""
    for name in (monitor.get("baseline_table"), args.baseline_table):
        if name and rt.tables.exists(name):
            return rt.tables.full_name(name), rt.tables.to_pandas(rt.tables.read(name))
    frame = rt.tables.to_pandas(rt.tables.read(args.features_table))
    return f"{rt.tables.full_name(args.features_table)} (no baseline table yet)", frame


def decide_retraining(rt, args, drift: float) -> bool:
    """True when a retraining is in cooldown; records the trigger when drift is above the threshold and not."""
    import pandas as pd

    if args.drift_threshold is None:
        return False
    state = f"{args.inference_table}_retraining"
    now = datetime.now(timezone.utc)
    last = None
    if rt.tables.exists(state):
        history = rt.tables.to_pandas(rt.tables.read(state))
        if len(history):
            last = pd.to_datetime(history["triggered_at"], utc=True).max().to_pydatetime()
    in_cooldown = last is not None and now - last < timedelta(hours=args.retrain_cooldown_hours)
    if drift <= args.drift_threshold:
        rt.log(f"drift {drift:.3f} is not above {args.drift_threshold:g}: no retraining")
        return in_cooldown
    if in_cooldown:
        until = last + timedelta(hours=args.retrain_cooldown_hours)
        rt.log(f"drift {drift:.3f} is above {args.drift_threshold:g}, but a retraining was triggered at "
               f"{last:%Y-%m-%d %H:%M} UTC (cooldown {args.retrain_cooldown_hours:g} h): skipped until {until:%Y-%m-%d %H:%M} UTC")
        return True
    row = pd.DataFrame([{"triggered_at": now, "drift": drift, "threshold": args.drift_threshold,
                         "job": args.retrain_job, "cooldown_hours": args.retrain_cooldown_hours}])
    rt.tables.write(state, rt.tables.from_pandas(row), mode="append")
    rt.log(f"drift {drift:.3f} is above {args.drift_threshold:g}: retraining ({args.retrain_job or 'the training job'}) "
           f"triggered, recorded in {rt.tables.full_name(state)}")
    return False


# COMMAND ----------


def refresh_on_databricks(rt, monitor: dict, args) -> float | None:
    """Create or update the Lakehouse Monitoring monitor from the YAML, refresh it, read its drift. Thin, and
    not exercised here (see the README): the SDK calls are those of databricks-sdk's `quality_monitors`."""
    import time

    from databricks.sdk import WorkspaceClient

    client = WorkspaceClient()
    full = rt.tables.full_name(monitor["table"])
    ensure_monitor(client, monitor, full, rt.catalog)
    refresh = client.quality_monitors.run_refresh(table_name=full)
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        state = client.quality_monitors.get_refresh(table_name=full, refresh_id=str(refresh.refresh_id)).state
        if state and state.value in ("SUCCESS", "FAILED", "CANCELED"):
            break
        time.sleep(30)
    if not state or state.value != "SUCCESS":
        raise RuntimeError(f"the refresh of the monitor on {full} ended {state.value if state else 'unknown'}")
    metrics = rt.tables.spark.sql(
        f"SELECT max(population_stability_index) AS psi FROM {rt.catalog}.{monitor.get('output_schema', 'monitoring')}."
        f"{monitor['table'].split('.')[-1]}_drift_metrics WHERE window.start = (SELECT max(window.start) FROM "
        f"{rt.catalog}.{monitor.get('output_schema', 'monitoring')}.{monitor['table'].split('.')[-1]}_drift_metrics)"
    ).collect()
    value = metrics[0]["psi"] if metrics else None
    rt.log(f"monitor on {full}: refreshed; largest PSI of the newest window {value}")
    return float(value) if value is not None else None


def ensure_monitor(client, monitor: dict, full_name: str, catalog: str):
    """The inference-log monitor of `full_name` as the YAML says: created when missing, updated otherwise."""
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.catalog import (
        MonitorDestination, MonitorInferenceLog, MonitorInferenceLogProblemType, MonitorNotifications,
    )

    problem = {"classification": MonitorInferenceLogProblemType.PROBLEM_TYPE_CLASSIFICATION,
               "regression": MonitorInferenceLogProblemType.PROBLEM_TYPE_REGRESSION}[monitor["problem_type"]]
    settings = dict(
        output_schema_name=f"{catalog}.{monitor.get('output_schema', 'monitoring')}",
        inference_log=MonitorInferenceLog(
            problem_type=problem, timestamp_col=monitor.get("timestamp_column", "timestamp"),
            granularities=list(monitor.get("granularities") or ["1 day"]),
            prediction_col=monitor.get("prediction_column", "prediction"),
            model_id_col=monitor.get("model_id_column", "model_version"), label_col=monitor.get("label_column")),
        baseline_table_name=f"{catalog}.{monitor['baseline_table']}" if monitor.get("baseline_table") else None,
        slicing_exprs=list(monitor.get("slicing_expressions") or []) or None,
        notifications=MonitorNotifications(on_failure=MonitorDestination(email_addresses=monitor["notify_on_failure"]))
        if monitor.get("notify_on_failure") else None,
    )
    try:
        client.quality_monitors.get(table_name=full_name)
    except NotFound:
        return client.quality_monitors.create(table_name=full_name, assets_dir=f"/Workspace/Shared/lakegate/monitors/"
                                              f"{full_name}", **settings)
    return client.quality_monitors.update(table_name=full_name, **settings)


if __name__ == "__main__":
    runtime.run_file(main)
