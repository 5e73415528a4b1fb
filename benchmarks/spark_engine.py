"""The laptop's two engines side by side: feature refresh and batch scoring, local engine vs Spark engine.

    python benchmarks/spark_engine.py [--rows 1000000] [--rows 10000000] [--json]

For each size and engine, a fresh process (so peak memory is that engine's alone) does what the jobs do:
- feature refresh: the landing rows (generated in pandas first, not timed) written to dev.features.churn_features
  as dev's principal, grants decided (local: a Delta table through deltalake; spark: createDataFrame + parquet
  through LocalSparkTables);
- batch scoring: that table read, scored by the same scikit-learn MLflow model (local: pyfunc predict in pandas;
  spark: mlflow.pyfunc.spark_udf on `local[2]`), and appended with model version and timestamp to
  dev.predictions.churn_scores.
Reported: rows per second of each, peak memory (local: the process's peak RSS; spark: the Python driver's peak
RSS plus the JVM's and its Python workers' peaks, summed) and, apart, the Spark session's start-up. The model is
saved to a folder (no registry: both engines load the same files), so only the engines differ.
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
        tables = LocalSparkTables(session, state / "spark-lakehouse", envs, principal, "dev")
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
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable; default 1000000)")
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
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'rows':>10} {'engine':>6} {'refresh rows/s':>15} {'scoring rows/s':>15} {'peak MB':>8} {'start-up s':>10}")
    for r in results:
        if "error" in r:
            print(f"{r['rows']:>10} {r['engine']:>6}  failed: {r['error']}")
            continue
        print(f"{r['rows']:>10} {r['engine']:>6} {r['refresh_rows_per_second']:>15,} {r['scoring_rows_per_second']:>15,} "
              f"{r['peak_memory_mb']:>8,} {r.get('startup_seconds', '-'):>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
