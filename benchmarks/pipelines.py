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
  both see the same machine load. p50 and p99 of each, and their ratio.

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


def smoke_training(state_dir: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "churn-train", "--env", "dev", "--smoke", "--json",
                           "--state-dir", str(state_dir)], cwd=ROOT, capture_output=True, text=True, timeout=600,
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


def start_ours(envs, state_dir: Path) -> tuple[subprocess.Popen, str]:
    from lakegate.pipelines.serving.server import endpoint_of, read_record

    endpoint = endpoint_of(envs["dev"], "churn")[0]
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "churn", "--env", "dev", "--json",
                                "--state-dir", str(state_dir)], cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL,
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


def serving(envs, registry, state_dir: Path, scratch: Path, requests_count: int) -> dict:
    import requests

    model_dir = download_version(registry, "sp-lakegate-dev", "dev.ml.churn", "1", scratch / "model")
    body = json.dumps({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}}).encode()
    headers = {"Content-Type": "application/json"}
    servers = []
    try:
        servers.append(("lakegate serve", *start_ours(envs, state_dir)))
        servers.append(("mlflow models serve", *start_bare(model_dir)))
        sessions = {name: requests.Session() for name, _, _ in servers}
        for session in sessions.values():
            session.trust_env = False
        latencies: dict[str, list[float]] = {name: [] for name, _, _ in servers}

        def ask(name: str, url: str, record: bool) -> None:
            started = time.perf_counter()
            answer = sessions[name].post(url, data=body, headers=headers, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"{name} answered {answer.status_code}: {answer.text[:200]}")
            if record:
                latencies[name].append(elapsed)

        for i in range(WARMUP + requests_count):
            order = servers if i % 2 == 0 else servers[::-1]
            for name, _, url in order:
                ask(name, url, i >= WARMUP)
    finally:
        for _, process, _ in servers:
            stop(process)
    figures = {name: {"p50_ms": statistics.median(values), "p99_ms": quantile(values, 0.99),
                      "mean_ms": statistics.fmean(values)} for name, values in latencies.items()}
    ours, bare = figures["lakegate serve"], figures["mlflow models serve"]
    return {"requests": requests_count, "servers": figures, "ratio_p50": ours["p50_ms"] / bare["p50_ms"],
            "ratio_p99": ours["p99_ms"] / bare["p99_ms"]}


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

    envs = load_environments(ROOT / "environments")
    scratch = Path(tempfile.mkdtemp(prefix="lakegate-bench-pipelines-"))
    state_dir = scratch / "state"
    registry = LocalRegistry(state_dir)
    try:
        registry.up(derive_local_plan(envs))
        for job, overrides in (("churn-feature-refresh", {"rows": str(args.rows)}), ("churn-train", {})):
            run = run_job(envs, "dev", job, state_dir=state_dir, echo=False, overrides=overrides)
            if not run.ok:
                raise SystemExit(f"{job} failed: {run.error}")
        results = {"smoke_training": smoke_training(state_dir), "batch_scoring": batch_scoring(envs, state_dir),
                   "serving": serving(envs, registry, state_dir, scratch, args.requests)}
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
        print(f"  {name:<20} p50 {figures['p50_ms']:.2f} ms   p99 {figures['p99_ms']:.2f} ms   mean {figures['mean_ms']:.2f} ms")
    verdict = "within" if results["targets"]["serving_within_1.2x"] else "NOT within"
    print(f"  ratio p50 {serve['ratio_p50']:.2f}x, p99 {serve['ratio_p99']:.2f}x: {verdict} the {RATIO_TARGET}x target")


if __name__ == "__main__":
    sys.exit(main())
