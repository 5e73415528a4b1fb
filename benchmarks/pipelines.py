"""The lifecycle's costs on the laptop: batch scoring, online serving against a bare MLflow server, smoke training.

    python benchmarks/pipelines.py [--rows 100000] [--requests 1000] [--json]

Starts its own local registry (a temporary state folder, provisioned from environments/*.yaml like `local up`),
lands --rows customers in dev's feature table (job feature-refresh) and trains dev's model (job train), then:

- smoke training: `python main.py run train --env dev --smoke` as a fresh process (interpreter, imports, a 5 %
  sample, one epoch, nothing registered): its wall time, and the train task's own time inside it;
- batch scoring: job batch-inference in dev on the --rows feature table (read the Delta table, predict with the
  model loaded as dev's principal, append the scored rows with version and timestamp), three runs: rows per
  second of the task end to end (model load included) and of the scoring itself;
- serving: `python main.py serve churn --env dev` (our layer over MLflow's scoring app, request logging on, as
  it runs) and a bare `mlflow models serve -m <the same version's files> -w 1 --env-manager local`, both separate
  processes on 127.0.0.1; --requests sequential one-row requests to each on one keep-alive connection,
  interleaved (request i goes to one then the other, the order alternating) after 50 warm-up requests each, so
  both see the same machine load. p50, p95 and p99 of each, and their ratio;
- serving by key (dev's churn declares `serving.lookup: by_key`): the same `serve` process also answers
  one-key requests `{"dataframe_records": [{"customer_id": ...}]}` (a random key of the --rows table each time),
  interleaved with the others: the plain path and the lookup path side by side (p50/p95), the difference being
  the lookup's cost (the grant check, the key check, the in-memory row; the Delta version at most once a second).

Target: serving within 1.2x of the bare server (p50 and p99).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATIO_TARGET = 1.2
WARMUP = 50
ROW = {"tenure_months": 12.0, "monthly_charges": 95.5, "support_calls": 3.0, "contract_monthly": 1.0,
       "num_products": 1.0}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def child_env() -> dict[str, str]:
    """What a child process gets: no registry credential, nothing of MLflow's configuration; the virtualenv's
    scripts first on PATH (`mlflow models serve` execs `uvicorn` by name)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environments_with_rows(folder: Path, rows: int) -> Path:
    """A copy of environments/ whose dev churn feature refresh lands `rows` customers (a job parameter the model's
    `features(ctx)` reads): `run --param` only overrides parameters a job declares."""
    folder.mkdir(parents=True)
    for path in (ROOT / "environments").glob("*.yaml"):
        text = path.read_text()
        if path.name == "dev.yaml":
            old = "feature-refresh: {moved_from: feature-refresh}"
            if text.count(old) != 1:
                raise SystemExit(f"environments/dev.yaml: expected one `{old}` to give the benchmark's rows")
            text = text.replace(old, f'feature-refresh: {{moved_from: feature-refresh, parameters: {{rows: "{rows}"}}}}')
        (folder / path.name).write_text(text)
    return folder


def smoke_training(state_dir: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "churn-train", "--env", "dev", "--smoke", "--json",
                           "--state-dir", str(state_dir), "--environments", str(state_dir.parent / "environments")], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=child_env())
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"smoke run failed ({done.returncode}): {done.stderr[-600:]}")
    run = json.loads(done.stdout)
    task = run["tasks"][0]
    return {"wall_s": wall, "task_s": task["seconds"], "messages": task["messages"]}


def batch_scoring(envs, state_dir: Path, repeat: int = 3) -> dict:
    from lakegate.pipelines.runner import run_job

    runs = []
    for _ in range(repeat):
        job = run_job(envs, "dev", "churn-batch-inference", state_dir=state_dir, echo=False)
        if not job.ok:
            raise SystemExit(f"batch-inference failed: {job.error}")
        task = job.tasks[0]
        runs.append({"rows": task.result["rows"], "task_s": task.seconds, "scoring_s": task.result["seconds"]})
    best = min(runs, key=lambda r: r["task_s"])
    rows = best["rows"]
    return {"rows": rows, "runs": runs, "rows_per_s_task": rows / best["task_s"],
            "rows_per_s_scoring": rows / min(r["scoring_s"] for r in runs)}


def wait_for(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{' '.join(process.args[:4])} exited {process.returncode}: "
                             f"{process.stderr.read()[-600:] if process.stderr else ''}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def start_ours(envs, state_dir: Path, folder: Path) -> tuple[subprocess.Popen, str]:
    from lakegate.pipelines.serving.server import endpoint_of, read_record

    endpoint = endpoint_of(envs["dev"], "churn")[0]
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "churn", "--env", "dev", "--json",
                                "--state-dir", str(state_dir), "--environments", str(folder)], cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while (record := read_record(state_dir, "dev", endpoint)) is None or record["pid"] != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"`serve` did not start: {process.stderr.read()[-600:] if process.stderr else ''}")
            time.sleep(0.1)
        url = record["url"]
        wait_for(url.split("/serving-endpoints")[0] + "/ping", process)
    except BaseException:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_bare(model_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    process = subprocess.Popen([str(mlflow), "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1", "-p", str(port),
                                "-w", "1", "--env-manager", "local"], cwd=ROOT, env=child_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", process)
    except BaseException:
        stop(process)
        raise
    return process, f"http://127.0.0.1:{port}/invocations"


def download_version(registry, principal: str, full_name: str, version: str, folder: Path) -> Path:
    """The version's files, downloaded by MLflow's own client as `principal`: what the bare server is given."""
    import mlflow.artifacts

    from lakegate.pipelines.mlflow_login import acting_as
    from lakegate.promotion.local import secret_file
    from lakegate.promotion.local.workspaces import mlflow_address

    workspace, name = mlflow_address(full_name)
    with acting_as(registry.url, principal, secret_file.user_password(registry.state_dir, principal), workspace):
        return Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(folder)))


def serving(envs, registry, state_dir: Path, scratch: Path, requests_count: int, folder: Path) -> dict:
    import random

    import requests

    from lakegate.pipelines.tables import LocalTables

    model_dir = download_version(registry, "sp-lakegate-dev", "dev.ml.churn", "1", scratch / "model")
    body = json.dumps({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}}).encode()
    keys = LocalTables(state_dir / "lakehouse", envs, "sp-lakegate-dev", "dev").read("features.churn_features")
    keys = keys["customer_id"].tolist()
    chooser = random.Random(7)
    headers = {"Content-Type": "application/json"}
    servers = []
    try:
        servers.append(("lakegate serve", *start_ours(envs, state_dir, folder)))
        servers.append(("mlflow models serve", *start_bare(model_dir)))
        by_key = ("lakegate serve (by key)", servers[0][1], servers[0][2])
        sessions = {name: requests.Session() for name, _, _ in servers}
        for session in sessions.values():
            session.trust_env = False
        latencies: dict[str, list[float]] = {name: [] for name, _, _ in servers}

        sessions[by_key[0]] = sessions["lakegate serve"]  # the same keep-alive connection, the same process
        latencies[by_key[0]] = []

        def ask(name: str, url: str, record: bool) -> None:
            data = body if name != by_key[0] else json.dumps(
                {"dataframe_records": [{"customer_id": chooser.choice(keys)}]}).encode()
            started = time.perf_counter()
            answer = sessions[name].post(url, data=data, headers=headers, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"{name} answered {answer.status_code}: {answer.text[:200]}")
            if record:
                latencies[name].append(elapsed)

        for i in range(WARMUP + requests_count):
            order = [*servers, by_key] if i % 2 == 0 else [by_key, *servers[::-1]]
            for name, _, url in order:
                ask(name, url, i >= WARMUP)
    finally:
        for _, process, _ in servers:
            stop(process)
    figures = {name: {"p50_ms": statistics.median(values), "p95_ms": quantile(values, 0.95),
                      "p99_ms": quantile(values, 0.99), "mean_ms": statistics.fmean(values)}
               for name, values in latencies.items()}
    ours, bare, keyed = figures["lakegate serve"], figures["mlflow models serve"], figures[by_key[0]]
    return {"requests": requests_count, "servers": figures, "ratio_p50": ours["p50_ms"] / bare["p50_ms"],
            "ratio_p99": ours["p99_ms"] / bare["p99_ms"],
            "lookup": {"keys": len(keys), "plain_p50_ms": ours["p50_ms"], "plain_p95_ms": ours["p95_ms"],
                       "by_key_p50_ms": keyed["p50_ms"], "by_key_p95_ms": keyed["p95_ms"],
                       "added_p50_ms": keyed["p50_ms"] - ours["p50_ms"],
                       "added_p95_ms": keyed["p95_ms"] - ours["p95_ms"]}}


def main() -> int:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the feature table scored")
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests to each server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import mlflow  # noqa: F401 -- configures its loggers on import; quiet them after

    logging.getLogger("mlflow").setLevel(logging.ERROR)

    from lakegate.infra.loader import load_environments
    from lakegate.pipelines.runner import run_job
    from lakegate.promotion.local.server import LocalRegistry
    from lakegate.promotion.local_access import derive_local_plan

    scratch = Path(tempfile.mkdtemp(prefix="lakegate-bench-pipelines-"))
    folder = environments_with_rows(scratch / "environments", args.rows)
    envs = load_environments(folder)
    state_dir = scratch / "state"
    registry = LocalRegistry(state_dir)
    try:
        registry.up(derive_local_plan(envs))
        for job, overrides in (("churn-feature-refresh", {}), ("churn-train", {})):
            run = run_job(envs, "dev", job, state_dir=state_dir, echo=False, overrides=overrides)
            if not run.ok:
                raise SystemExit(f"{job} failed: {run.error}")
        results = {"smoke_training": smoke_training(state_dir), "batch_scoring": batch_scoring(envs, state_dir),
                   "serving": serving(envs, registry, state_dir, scratch, args.requests, folder)}
    finally:
        registry.down()
        shutil.rmtree(scratch, ignore_errors=True)
    serving_ok = max(results["serving"]["ratio_p50"], results["serving"]["ratio_p99"]) <= RATIO_TARGET
    results["targets"] = {"serving_within_1.2x": serving_ok}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        report(results, args)
    return 0


def report(results: dict, args) -> None:
    smoke, batch, serve = results["smoke_training"], results["batch_scoring"], results["serving"]
    print(f"smoke training (python main.py run train --env dev --smoke, a fresh process): {smoke['wall_s']:.2f} s wall, "
          f"train task {smoke['task_s']:.2f} s")
    print(f"batch scoring of {batch['rows']:,} rows (job batch-inference, best of {len(batch['runs'])}): "
          f"{batch['rows_per_s_task']:,.0f} rows/s end to end (model load, Delta read, predict, Delta append); "
          f"{batch['rows_per_s_scoring']:,.0f} rows/s read+predict+write")
    print(f"serving, {serve['requests']} sequential one-row requests each, interleaved, loopback:")
    for name, figures in serve["servers"].items():
        print(f"  {name:<24} p50 {figures['p50_ms']:.2f} ms   p95 {figures['p95_ms']:.2f} ms   "
              f"p99 {figures['p99_ms']:.2f} ms   mean {figures['mean_ms']:.2f} ms")
    lookup = serve["lookup"]
    print(f"  lookup by key ({lookup['keys']:,} keys in the feature table): plain p50 {lookup['plain_p50_ms']:.2f} / "
          f"p95 {lookup['plain_p95_ms']:.2f} ms, by key p50 {lookup['by_key_p50_ms']:.2f} / p95 "
          f"{lookup['by_key_p95_ms']:.2f} ms: the lookup adds {lookup['added_p50_ms']:+.2f} ms at p50, "
          f"{lookup['added_p95_ms']:+.2f} ms at p95")
    verdict = "within" if results["targets"]["serving_within_1.2x"] else "NOT within"
    print(f"  ratio p50 {serve['ratio_p50']:.2f}x, p99 {serve['ratio_p99']:.2f}x: {verdict} the {RATIO_TARGET}x target")


if __name__ == "__main__":
    sys.exit(main())
