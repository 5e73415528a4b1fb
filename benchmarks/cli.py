"""Every user-facing command timed as the fresh process a person or CI runs, beside the floor it cannot avoid.

    python benchmarks/cli.py [--runs 5] [--slow-runs 5] [--json]
    python benchmarks/cli.py --profile promote      # where one command's time goes (imports, then calls)

Each command is `.venv/bin/python main.py ...` started afresh (interpreter, imports, work, exit), and its floor is
a fresh process too, measured in turn with it (command, floor, command, floor...: a busy machine slows both):

- check, local down, report history: `import yaml, pydantic` (the definitions are loaded first);
- status, rollback, approve, audit verify: that plus `requests` (one HTTP client for the registry);
- report site: that plus `jinja2`;
- synth (cold: a new output folder each run): `import cdktn` and the provider bindings, as benchmarks/synth.py;
- run (feature-refresh in dev): `import pandas, deltalake`;
- promote (dev -> staging, every gate) and serve (start to the first answer): `import mlflow.pyfunc, sklearn`;
- train: `import mlflow.sklearn, sklearn, pandas, deltalake` plus the fit itself, in one process;
- local up (a new state folder each run): a bare `mlflow server` with the same flags (basic-auth app, workspaces,
  one worker, sqlite, proxied artifacts) on empty databases until /health answers.

Everything happens under one temporary folder: a copy of environments/ with a throwaway SSH key enrolled as
prod's approver (so `approve --key` signs for real), private state folders, the registry (stopped at the end,
whatever happens). Each median is over --runs runs (--slow-runs for the commands that start servers or train).
After the table: `audit verify`'s file part (chain, head, entries) on logs of 500 and 2,000 entries, per 1,000
entries (linear in entries is the target; the registry part costs per model). docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
APPROVER = "head.of.ml@contoso.com"
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: the project first, and this cli.py never shadows the cli package

# As a person's shell runs them: Python caches the project's bytecode (a session that sets
# PYTHONDONTWRITEBYTECODE would make every command recompile the project while its floors, all site-packages
# with their caches, would not). __pycache__/ is git-ignored.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CONFIG = "import yaml\nfrom pydantic import BaseModel"  # `import pydantic` alone loads next to nothing (lazy)
HTTP = CONFIG + "\nimport requests"
FLOORS = {
    "config": CONFIG, "http": HTTP, "site": HTTP + ", jinja2",
    "jsii": ("from infra.preload import use_persistent_jsii_runtime\nuse_persistent_jsii_runtime()\n"
             "import cdktn, cdktn_provider_azuread, cdktn_provider_azurerm, cdktn_provider_databricks"),
    "pipeline": "import pandas, deltalake",
    "model": "import mlflow.pyfunc, sklearn",
    "train": ("import mlflow.sklearn, sklearn, pandas, deltalake\n"
              "from models import churn as data\nfrom pipelines.training.train import fit\n"
              "fit(data.landing(\"dev\"), \"models/churn.py\", label=\"churned\", key=\"customer_id\")"),
}
FLOOR_LABELS = {"config": "import yaml, pydantic.BaseModel", "http": "import yaml, pydantic.BaseModel, requests",
                "site": "import yaml, pydantic.BaseModel, requests, jinja2","jsii": "import cdktn + azuread, azurerm, databricks bindings",
                "train": "import mlflow.sklearn, sklearn, pandas, deltalake + the fit",
                "mlflow-server": "bare mlflow server, same flags, empty sqlite, to /health"}
# (floor, target kind, target value): "x" is a ratio to the floor, "s" seconds.
TARGETS = {
    "check": ("config", "s", 1.0), "synth": ("jsii", "x", 1.3), "local up": ("mlflow-server", "x", 1.3),
    "local down": ("config", None, None), "run": ("pipeline", None, None), "train": ("train", "x", 1.3),
    "promote": ("model", "x", 1.5), "approve": ("http", None, None), "rollback": ("http", None, None),
    "status": ("http", "s", 1.0), "audit verify": ("http", "s", 1.5), "report history": ("config", "s", 1.0),
    "report site": ("site", None, None), "serve": ("model", None, None),
}


class Bench:
    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.envs = scratch / "environments"
        self.state = scratch / "state"
        self.key = scratch / "approver" / "id_ed25519"
        self.samples: dict[str, list[float]] = {}
        self.floors: dict[str, list[float]] = {}
        self.logs = scratch / "logs"
        self.logs.mkdir()
        self.count = 0
        self.champions = 0

    # -- set-up --------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """environments/ copied, a throwaway key enrolled as prod's approver (the copy only)."""
        shutil.copytree(ROOT / "environments", self.envs)
        self.key.parent.mkdir(mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{APPROVER} (benchmark)",
                        "-f", str(self.key)], check=True, capture_output=True, timeout=30)
        public = " ".join(self.key.with_suffix(".pub").read_text().split()[:2])
        prod = self.envs / "prod.yaml"
        text, count = re.subn(rf"(identity: {re.escape(APPROVER)}\n\s+key: )\S+ \S+", rf"\g<1>{public}",
                              prod.read_text())
        if count != 1:
            raise SystemExit(f"could not enrol the benchmark key: {APPROVER}'s signer not found in {prod}")
        prod.write_text(text)

    def main(self, *args: str, state: Path | None = None, expect: tuple[int, ...] = (0,), profile: list[str] = ()):
        """`python main.py ARGS --environments COPY --state-dir STATE` as a fresh process: (seconds, stdout)."""
        argv = [PYTHON, *profile, str(ROOT / "main.py"), *args, "--environments", str(self.envs)]
        if args[0] not in ("check", "synth"):
            argv += ["--state-dir", str(state or self.state)]
        return self.process(argv, expect, " ".join(args))

    def process(self, argv: list[str], expect=(0,), label: str = "", env: dict | None = None):
        self.count += 1
        log = self.logs / f"{self.count:03d}.err"
        started = time.perf_counter()
        with open(log, "wb") as err:
            done = subprocess.run(argv, cwd=self.scratch, stdout=subprocess.PIPE, stderr=err, env=env or CHILD_ENV,
                                  timeout=600)
        elapsed = time.perf_counter() - started
        if done.returncode not in expect:
            raise SystemExit(f"`{label or argv[-1]}` exited {done.returncode} (expected {expect}):\n"
                             f"{done.stdout.decode()[-2000:]}\n{log.read_text()[-3000:]}")
        self.stderr = log
        return elapsed, done.stdout.decode()

    # -- measuring -----------------------------------------------------------------------------------------

    def timed(self, name: str, *args: str, **kwargs) -> str:
        elapsed, out = self.main(*args, **kwargs)
        self.samples.setdefault(name, []).append(elapsed)
        self.floor(name)
        print(f"{name}: {elapsed:.2f} s (floor {self.floors[name][-1]:.2f} s)", file=sys.stderr)
        return out

    def floor(self, command: str) -> None:
        """The command's floor, measured right after it (kept per command: each ratio is of paired runs)."""
        kind = TARGETS[command][0]
        if kind == "mlflow-server":
            seconds = bare_mlflow_start(self.scratch / f"bare-{self.count}")
            self.count += 1
        else:
            seconds = self.process([PYTHON, "-c", FLOORS[kind]], label=f"floor {kind}",
                                   env={**CHILD_ENV, "PYTHONPATH": str(ROOT)})[0]
        self.floors.setdefault(command, []).append(seconds)

    def version_of(self, out: str, key: str = "version") -> str:
        return str(json.loads(out)[key])

    def up(self) -> None:
        """The main registry running, every environment's features refreshed (once)."""
        if not (self.state / "server.json").exists():
            self.main("local", "up")
            for env in ("dev", "staging", "prod"):  # the tables the jobs and the gates read
                self.main("run", "churn-feature-refresh", "--env", env, "--json")

    def trained(self) -> str:
        self.up()
        return self.version_of(self.main("train", "churn", "--json")[1])

    def prod_challenger(self) -> str:
        """A new version held in prod for its approval (promoted dev -> staging -> prod, approval missing)."""
        self.main("promote", "churn", "--to", "staging", "--version", self.trained(), "--json")
        return str(json.loads(self.main("promote", "churn", "--to", "prod", "--json", expect=(7,))[1])["version"])

    def prod_champion(self) -> None:
        self.main("approve", "churn", "--env", "prod", "--version", self.prod_challenger(), "--key", str(self.key))
        self.main("promote", "churn", "--to", "prod", "--json")
        self.champions += 1


def bare_mlflow_start(folder: Path) -> float:
    """A bare `mlflow server` with our flags, empty databases, until /health answers; then stopped."""
    import requests

    from lakegate.promotion.local import process

    folder.mkdir(mode=0o700)
    ini = folder / "auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///{folder}/auth.db\n"
                   "admin_username = admin\nadmin_password = bench-Password-123\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    port = process.free_port()
    env = {k: v for k, v in CHILD_ENV.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_AUTH_CONFIG_PATH=str(ini), MLFLOW_FLASK_SERVER_SECRET_KEY="bench",
               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    argv = [PYTHON, "-m", "mlflow", "server", "--app-name", "basic-auth", "--enable-workspaces", "--workers", "1",
            "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
            "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
            "--uvicorn-opts", "--no-access-log"]
    started = time.perf_counter()
    proc = process.spawn_detached(argv, env, folder, folder / "server.log")
    try:
        with requests.Session() as http:
            http.trust_env = False
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"bare mlflow server exited:\n{(folder / 'server.log').read_text()[-2000:]}")
                try:
                    if http.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        return time.perf_counter() - started
                except requests.RequestException:
                    pass
                time.sleep(0.1)
    finally:
        process.stop_group(proc.pid, 15)


def serve_first_answer(bench: Bench) -> None:
    """`serve churn --env prod` from its start to its first 200 (its JSON line says the URL), then Ctrl-C."""
    import requests

    argv = [PYTHON, str(ROOT / "main.py"), "serve", "churn", "--env", "prod", "--json", "--environments",
            str(bench.envs), "--state-dir", str(bench.state)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=bench.scratch, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True, env=CHILD_ENV)
    try:
        text, printed = "", None
        while printed is None:  # the JSON object may span lines (and hold nested objects)
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"serve exited {proc.wait()} before printing its URL")
            text += line
            try:
                printed = json.loads(text)
            except json.JSONDecodeError:
                continue
        url = printed["url"]
        row = {"tenure_months": 12.0, "monthly_charges": 95.5, "support_calls": 3.0, "contract_monthly": 1.0,
               "num_products": 1.0}
        with requests.Session() as http:
            http.trust_env = False
            answer = http.post(url, json={"dataframe_records": [row]}, timeout=60)
        if answer.status_code != 200:
            raise SystemExit(f"serve answered {answer.status_code}: {answer.text[:300]}")
        bench.samples.setdefault("serve", []).append(time.perf_counter() - started)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    bench.floor("serve")


def measure(bench: Bench, runs: int, slow: int) -> None:
    for _ in range(runs):
        bench.timed("check", "check")
        bench.timed("synth", "synth", "--out", tempfile.mkdtemp(dir=bench.scratch) + "/out")
    for i in range(slow):  # a new state folder each time: the server's databases are created and provisioned
        cold = bench.scratch / f"cold-{i}"
        bench.timed("local up", "local", "up", state=cold)
        bench.timed("local down", "local", "down", state=cold)
    bench.up()
    for _ in range(slow):
        bench.timed("run", "run", "churn-feature-refresh", "--env", "dev", "--json")
    # Each cycle: train in dev, promote to staging, to prod (approval missing), approve, promote again.
    for i in range(slow + 1):
        version = bench.version_of(bench.timed("train", "train", "churn", "--json") if i < slow else
                                   bench.main("train", "churn", "--json")[1])
        if i < slow:
            bench.timed("promote", "promote", "churn", "--to", "staging", "--version", version, "--json")
        else:
            bench.main("promote", "churn", "--to", "staging", "--version", version, "--json")
        held = json.loads(bench.main("promote", "churn", "--to", "prod", "--json", expect=(7,))[1])["version"]
        if i < slow:
            bench.timed("approve", "approve", "churn", "--env", "prod", "--version", str(held), "--key",
                        str(bench.key), "--json")
        else:
            bench.main("approve", "churn", "--env", "prod", "--version", str(held), "--key", str(bench.key))
        bench.main("promote", "churn", "--to", "prod", "--json")
    for _ in range(runs):
        bench.timed("status", "status", "--json")
        bench.timed("audit verify", "audit", "verify", "--json")
        bench.timed("report history", "report", "history", "--json")
        bench.timed("report site", "report", "site", "--out", str(bench.scratch / "site"))
    for _ in range(slow):
        serve_first_answer(bench)
    for _ in range(slow):  # each pops one champion off prod's history (slow + 1 were promoted)
        bench.timed("rollback", "rollback", "churn", "--env", "prod", "--json")
    bench.main("local", "down")


def audit_scaling(sizes: tuple[int, ...] = (500, 2000)) -> list[dict]:
    """`audit verify`'s file part against the log's length (target: linear in entries): a well-chained log of each
    size, written directly (as tests/test_audit_anchor.py forges one: no fsync per entry), verified and read back in
    this process, best of three. The registry part costs per model, not per entry."""
    sys.path.insert(0, str(ROOT))
    from lakegate.promotion.audit import GENESIS, AuditLog, canonical, entry_hash, verify_log

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            log, previous, lines = AuditLog(folder, f"scale{size}"), GENESIS, []
            for seq in range(1, size + 1):
                entry = {"seq": seq, "time": "2026-12-07T00:00:00.000+00:00", "env": log.env, "action": "promote",
                         "model": "staging.ml.churn", "version": str(seq), "actor": "bench", "principal": "sp",
                         "git_commit": "0" * 40, "gates": [{"gate_id": "signature", "passed": True, "message": "ok",
                                                            "details": {}}] * 7, "passed": True,
                         "previous_champion": None, "champion": str(seq), "source": None,
                         "details": {"outcome": "champion", "champion_moved": True}, "prev_hash": previous}
                entry["hash"] = previous = entry_hash(entry)
                lines.append(canonical(entry) + b"\n")
            log.path.write_bytes(b"".join(lines))
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                checker = AuditLog(folder, log.env)
                assert verify_log(checker) is None and len(checker.entries()) == size
                best = min(best, time.perf_counter() - started)
            rows.append({"entries": size, "seconds": round(best, 4), "per_1000": round(best / size * 1000, 4)})
    return rows


def summary(bench: Bench, busy: str) -> dict:
    rows = []
    for name, (floor_kind, kind, target) in TARGETS.items():
        times, floors = bench.samples.get(name, []), bench.floors.get(name, [])
        if not times:
            continue
        median, floor = statistics.median(times), statistics.median(floors)
        ratio = median / floor
        met = None if kind is None else (ratio <= target if kind == "x" else median <= target)
        rows.append({"command": name, "runs": len(times), "median_s": round(median, 2), "min_s": round(min(times), 2),
                     "max_s": round(max(times), 2), "floor": FLOOR_LABELS.get(floor_kind, FLOORS.get(floor_kind)),
                     "floor_s": round(floor, 2),
                     "ratio": round(ratio, 2), "target": None if kind is None else f"<= {target:g} {kind}",
                     "met": met})
    return {"machine": busy, "rows": rows, "audit_scaling": audit_scaling()}


def print_table(result: dict) -> None:
    print(f"fresh processes, {result['machine']}")
    print(f"{'command':<15} {'runs':>4} {'median s':>9} {'min':>6} {'max':>6} {'floor s':>8} {'x floor':>8}  "
          f"{'target':<10} {'':<7} floor")
    for r in result["rows"]:
        verdict = {True: "OK", False: "MISSED", None: ""}[r["met"]]
        print(f"{r['command']:<15} {r['runs']:>4} {r['median_s']:>9.2f} {r['min_s']:>6.2f} {r['max_s']:>6.2f} "
              f"{r['floor_s']:>8.2f} {r['ratio']:>8.2f}  {r['target'] or '':<10} {verdict:<7} {r['floor']}")
    scaling = result.get("audit_scaling") or []
    if scaling:
        print("audit verify, file part (chain, head, entries read once) by log length: " + "; ".join(
            f"{row['entries']} entries {row['seconds']:.3f} s ({row['per_1000']:.3f} s per 1,000)" for row in scaling))


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} (other work running when above ~1)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Every CLI command as a fresh process, against its floor.")
    parser.add_argument("--runs", type=int, default=5, help="runs of the quick commands (median of these)")
    parser.add_argument("--slow-runs", type=int, default=5, help="runs of local up/down, run, train, promote, "
                        "approve, rollback, serve")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", metavar="COMMAND", choices=sorted(set(TARGETS) - {"serve"}),
                        help="where one command's time goes: imports by top-level package, then cProfile")
    args = parser.parse_args(argv)
    from benchmarks.cli_profile import profile

    scratch = Path(tempfile.mkdtemp(prefix="lakegate-bench-cli-"))
    bench = Bench(scratch)
    try:
        bench.prepare()
        if args.profile:
            profile(bench, args.profile, machine_note())
            return 0
        busy = machine_note()
        measure(bench, args.runs, args.slow_runs)
        result = summary(bench, busy + "; after: " + machine_note().split(", ", 1)[1])
    finally:
        stop_everything(bench)
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, indent=2)) if args.json else print_table(result)
    return 0


def stop_everything(bench: Bench) -> None:
    """Every registry this run may have started (the main one, the cold ones), whatever state they are in."""
    sys.path.insert(0, str(ROOT))
    from lakegate.promotion.local.server import LocalRegistry

    for folder in [bench.state, *bench.scratch.glob("cold-*")]:
        if (folder / "server.json").exists():
            LocalRegistry(folder).down()


if __name__ == "__main__":
    sys.exit(main())
