"""Serving follows its registry: `python main.py serve churn --env dev` runs as its own process while the REAL
local registry is stopped and started again on another port (`local down && local up`, the old port held so
the new server cannot take it); serve reads where the registry runs now from its state folder and follows the
newest version there. A registry that stays stopped ends serving with a clear message (exit 9's error)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lakegate.infra.loader import load_environments
from lakegate.promotion.local_access import derive_local_plan

from .helpers import copy_examples
from .local_registry_fixtures import TINY_COLUMNS, register_sklearn_model, running_local_registry

ROOT = Path(__file__).resolve().parent.parent
ROW = dict.fromkeys(TINY_COLUMNS, 0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = copy_examples(tmp_path_factory.mktemp("registry-move-environments"))
    envs = load_environments(folder)
    plan = derive_local_plan(envs)
    with running_local_registry(tmp_path_factory.mktemp("registry-move") / "state", plan) as registry:
        register_sklearn_model(registry, "sp-lakegate-dev", "dev.ml.churn", seed=1)
        yield folder, envs, plan, registry


def until(condition, timeout: float = 180.0):  # generous: a loaded CI machine starts MLflow slowly
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_serve_follows_the_registry_restarted_on_another_port(world):
    from lakegate.pipelines.serving.server import read_record

    folder, _, plan, registry = world
    child = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "churn", "--env", "dev", "--no-log",
                                "--refresh-seconds", "0.2", "--registry-timeout", "600", "--environments", str(folder), "--state-dir",
                                str(registry.state_dir)], cwd=ROOT, env=child, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    http = requests.Session()
    http.trust_env = False
    try:
        def started():
            if process.poll() is not None:
                pytest.fail(process.stdout.read())
            record = read_record(registry.state_dir, "dev", "churn-dev")
            return record if record and record["pid"] == process.pid else None

        record = until(started)
        first = http.post(record["url"], json={"dataframe_records": [ROW]}, timeout=30)
        assert first.status_code == 200 and first.headers["x-lakegate-model-version"] == "1"

        old = registry.status()
        registry.down()
        with socket.socket() as holder:  # the old port stays taken: the registry must come back elsewhere
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", old.port))
            holder.listen()
            while_down = http.post(record["url"], json={"dataframe_records": [ROW]}, timeout=30)
            assert while_down.status_code == 200   # the loaded version keeps serving meanwhile
            moved = registry.up(plan)
        assert moved.port != old.port and moved.state == "running"

        register_sklearn_model(registry, "sp-lakegate-dev", "dev.ml.churn", seed=2)   # dev serves its newest
        until(lambda: http.post(record["url"], json={"dataframe_records": [ROW]},
                                timeout=30).headers["x-lakegate-model-version"] == "2")
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
    assert f"the registry now runs at {moved.url}: following dev.ml.churn@champion there" in out, out
    assert "now serving v2 (was v1), same URL" in out
    assert out.count("could not check") <= 2 and "Traceback" not in out, out   # said once, not every 0.2 s


def test_serve_exits_9_with_a_clear_message_when_the_registry_stays_stopped(world, capsys):
    """`serve` in this process (the CLI's own path): the registry is stopped once it serves, and stays stopped."""
    import signal
    import threading

    from lakegate.cli.app import main
    from lakegate.pipelines.serving.server import read_record

    folder, _, plan, registry = world
    if registry.status().state != "running":
        registry.up(plan)
    stopped, finished = threading.Event(), threading.Event()

    def stop_the_registry_once_served():
        deadline = time.monotonic() + 180
        while read_record(registry.state_dir, "dev", "churn-dev") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        registry.down()
        stopped.set()
        if not finished.wait(120):  # a serve that never gives up gets SIGTERM (exit 0): the test fails, not hangs
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    helper = threading.Thread(target=stop_the_registry_once_served, daemon=True)
    helper.start()
    try:
        code = main(["serve", "churn", "--env", "dev", "--no-log", "--refresh-seconds", "0.1", "--registry-timeout",
                     "1", "--environments", str(folder), "--state-dir", str(registry.state_dir)])
    finally:
        finished.set()
        signal.signal(signal.SIGTERM, before)   # serve's handler must not outlive it in the test process
    captured = capsys.readouterr()
    assert stopped.is_set() and code == 9, (code, captured.err)
    assert f"error: the local registry in {registry.state_dir} has been stopped for 1 s: serve stops (it served v" \
        in captured.err and "start it with `python main.py local up`, then serve again" in captured.err
    assert "Traceback" not in captured.out + captured.err
