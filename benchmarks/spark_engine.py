"""The laptop's two engines side by side: feature refresh and batch scoring, local engine vs Spark engine.

    python benchmarks/spark_engine.py [--rows 1000000] [--rows 10000000] [--memory-budget-gb N] [--json]

For each size and engine, a fresh process (so peak memory is that engine's alone) does what the jobs do:
- feature refresh: the landing rows (generated in pandas first, not timed) written to dev.features.churn_features
  as dev's principal, grants decided (both engines write the same kind of Delta table: local through deltalake
  from pandas; spark: createDataFrame, then format("delta"), the Python data source over deltalake);
- batch scoring: that table read, scored by the same scikit-learn MLflow model (local: pyfunc predict in pandas;
  spark: mlflow.pyfunc.spark_udf on `local[2]`), and appended with model version and timestamp to
  dev.predictions.churn_scores.
Reported: rows per second of each, peak memory (local: the process's peak RSS; spark: the Python driver's peak
RSS plus the JVM's and its Python workers' peaks, summed) and, apart, the Spark session's start-up. The model is
saved to a folder (no registry: both engines load the same files), so only the engines differ.

Then the size guidance, derived from the figures: the local engine holds the whole table in pandas, so its peak
memory grows with the rows (a line through the measured sizes; with one size, peak/rows, an upper bound per row);
it should stop where that line crosses the memory budget (default: half this machine's RAM). Spark's rows per
second are reported beside it, and the size above which Spark, start-up included, is faster, if it ever is here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [d for c in children for d in _descendants(c)]


def save_model(folder: Path) -> str:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from models import churn as data

    frame = data.landing("bench", 4000)
    model = LogisticRegression(max_iter=500).fit(frame[data.FEATURES], frame[data.LABEL])
    path = folder / "model"
    mlflow.sklearn.save_model(model, str(path), input_example=frame[data.FEATURES].head(2))
    return str(path)


def child(engine: str, rows: int, state: Path, model_uri: str) -> dict:
    from datetime import datetime, timezone

    import mlflow.pyfunc

    from lakegate.infra.loader import load_environments
    from models import churn as data
    from lakegate.pipelines.tables import LocalTables

    envs = load_environments(ROOT / "environments")
    principal = envs["dev"].service_principal
    features = data.landing("dev", rows)
    result: dict = {"engine": engine, "rows": rows}
    if engine == "spark":
        from lakegate.pipelines.spark_engine import LocalSparkTables, engine as spark_engine

        session = spark_engine(state)
        result["startup_seconds"] = round(session.startup_seconds, 2)
        tables = LocalSparkTables(session, state / "lakehouse", envs, principal, "dev")
        model = model_uri
    else:
        tables = LocalTables(state / "lakehouse", envs, principal, "dev")
        model = mlflow.pyfunc.load_model(model_uri)
    started = time.perf_counter()
    tables.write("features.churn_features", tables.from_pandas(features))
    result["refresh_rows_per_second"] = round(rows / (time.perf_counter() - started))
    del features
    started = time.perf_counter()
    scored = tables.predict(tables.read("features.churn_features"), model, data.FEATURES)
    scored = tables.with_columns(scored, model_version="1", timestamp=datetime.now(timezone.utc))
    tables.write("predictions.churn_scores", scored, mode="append")
    result["scoring_rows_per_second"] = round(rows / (time.perf_counter() - started))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if engine == "spark":
        peak += sum(_peak_rss_mb(pid) for pid in _descendants(os.getpid()))
    result["peak_memory_mb"] = round(peak)
    result["load_average"] = round(os.getloadavg()[0], 1)   # the machine's 1-minute load at the end: 2 cores here
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable; default 1000000)")
    parser.add_argument("--memory-budget-gb", type=float, help="memory the local engine may use (default: half the RAM)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=("local", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.rows[0], Path(args.state), args.model)))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="lakegate-bench-spark-") as scratch:
        model = save_model(Path(scratch))
        for rows in args.rows or [1_000_000]:
            for engine in ("local", "spark"):
                state = Path(scratch) / f"{engine}-{rows}"
                state.mkdir()
                done = subprocess.run([sys.executable, __file__, "--child", engine, "--rows", str(rows), "--state",
                                       str(state), "--model", model], capture_output=True, text=True, cwd=ROOT)
                if done.returncode:
                    results.append({"engine": engine, "rows": rows, "error": (done.stderr.strip().splitlines()
                                                                              or ["failed"])[-1]})
                else:
                    results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    budget_mb = args.memory_budget_gb * 1024 if args.memory_budget_gb else _ram_mb() / 2
    advice = guidance(results, budget_mb)
    if args.json:
        print(json.dumps({"results": results, "guidance": advice}, indent=2))
        return 0
    print(f"{'rows':>10} {'engine':>6} {'refresh rows/s':>15} {'scoring rows/s':>15} {'peak MB':>8} {'start-up s':>10} "
          f"{'load':>5}")
    for r in results:
        if "error" in r:
            print(f"{r['rows']:>10} {r['engine']:>6}  failed: {r['error']}")
            continue
        print(f"{r['rows']:>10} {r['engine']:>6} {r['refresh_rows_per_second']:>15,} {r['scoring_rows_per_second']:>15,} "
              f"{r['peak_memory_mb']:>8,} {r.get('startup_seconds', '-'):>10} {r.get('load_average', '-'):>5}")
    print(advice["text"])
    return 0


def _ram_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return 16 * 1024.0


def guidance(results: list[dict], budget_mb: float) -> dict:
    """Where the laptop's local engine stops: its peak memory line meets the budget, or Spark gets faster."""
    local = sorted((r for r in results if r["engine"] == "local" and "error" not in r), key=lambda r: r["rows"])
    spark = [r for r in results if r["engine"] == "spark" and "error" not in r]
    if not local:
        return {"text": "no local run succeeded: no size guidance", "memory_limit_rows": None}
    if len(local) > 1:     # a line through the smallest and largest size: fixed cost + cost per row
        small, large = local[0], local[-1]
        per_row = (large["peak_memory_mb"] - small["peak_memory_mb"]) / (large["rows"] - small["rows"])
        fixed = small["peak_memory_mb"] - per_row * small["rows"]
    else:                  # one size: all of the peak charged to the rows (an upper bound per row)
        per_row, fixed = local[0]["peak_memory_mb"] / local[0]["rows"], 0.0
    limit = int((budget_mb - fixed) / per_row) if per_row > 0 else None
    crossover = None
    for job in ("refresh", "scoring"):   # seconds(rows) = rows / rate (+ start-up for Spark): where Spark wins
        for s in spark:
            l = min(local, key=lambda r: abs(r["rows"] - s["rows"]))
            r_local, r_spark = l[f"{job}_rows_per_second"], s[f"{job}_rows_per_second"]
            if r_spark > r_local:
                rows = int(s.get("startup_seconds", 0) / (1 / r_local - 1 / r_spark))
                crossover = rows if crossover is None else min(crossover, rows)
    text = (f"size guidance: the local engine needs ~{per_row * 1e6:,.0f} MB per million rows at its peak; "
            f"with {budget_mb / 1024:.1f} GB for it, stop using the laptop engine at ~{(limit or 0) / 1e6:,.1f}M rows "
            f"(beyond that, the Spark engine here to prove the job, a Databricks job cluster to run it).")
    text += (f" Spark on this laptop is faster, start-up included, from ~{crossover / 1e6:,.1f}M rows." if crossover
             else " Spark on this laptop is not faster at any measured size: below the limit, stay local.")
    return {"text": text, "memory_mb_per_million_rows": round(per_row * 1e6), "memory_budget_mb": round(budget_mb),
            "memory_limit_rows": limit, "spark_faster_from_rows": crossover}


if __name__ == "__main__":
    sys.exit(main())
