"""Output people read (docs/output.md): progress on a terminal's stderr and nowhere else, the errors that say exactly
what is missing, the `curl` serve prints, against a real local registry. Progress is seen as a person sees it:
the command's stderr is a pseudo-terminal (its stdout a pipe, as `| tee` or `> file` leave it)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time

import pytest

from .helpers import copy_examples, run_in_process
from .local_registry_fixtures import write_validation_tables
from .test_cli import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CHECKPOINT_DISABLE": "1",
           "COLUMNS": "160", "LINES": "50"}
    env.pop("LAKEGATE_PROGRESS", None)
    return {**env, **(extra or {})}


def on_terminal(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python main.py ARGS` with stderr on a pseudo-terminal: exit code, stdout (a pipe) and what the terminal
    showed (escape sequences removed)."""
    master, slave = pty.openpty()
    child = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=_child_env(env),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(child.stdout.read()))
    reader.start()
    shown, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if child.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        child.wait(timeout=60)
        reader.join(timeout=60)
    return subprocess.CompletedProcess(args, child.returncode, out[0].decode() if out else "",
                                       ANSI.sub("", shown.decode(errors="replace")))


def piped(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=_child_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """A running local registry in a state folder of its own, started by `local up` on a terminal."""
    defs = copy_examples(tmp_path_factory.mktemp("ux-environments"))
    state = tmp_path_factory.mktemp("ux-state") / ".lakegate"
    common = ("--environments", str(defs), "--state-dir", str(state))
    up = on_terminal("local", "up", *common)
    try:
        yield state, common, up
    finally:
        piped("local", "down", "--state-dir", str(state))


def test_local_up_shows_its_steps_on_a_terminal(walk):
    _, _, up = walk
    assert up.returncode == 0, up.stdout + up.stderr
    assert "local registry: running at http://127.0.0.1:" in up.stdout
    assert "start the MLflow server" in up.stderr and "provision workspaces, principals and grants" in up.stderr
    assert "✓" in up.stderr
    # The results are on stdout, not on the terminal's stderr (which only showed the transient progress).
    assert "created workspace dev" in up.stdout and "created workspace" not in up.stderr


def test_run_shows_the_task_that_runs(walk):
    state, common, _ = walk
    shown = on_terminal("run", "churn-feature-refresh", "--env", "dev", *common)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "run churn-feature-refresh --env dev" in shown.stderr
    assert "task dev-churn-feature-refresh / " in shown.stderr
    assert "dev-churn-feature-refresh / " in shown.stdout and "task dev-churn" not in shown.stdout


@pytest.fixture(scope="module")
def champion(walk):
    """dev.ml.churn v1 trained and promoted into staging with --json, stderr on a terminal."""
    state, common, _ = walk
    write_validation_tables(state, ["staging", "prod"])  # what each one's feature-refresh job writes
    trained = run_in_process("train", "churn", *common)
    assert trained.returncode == 0, trained.stderr
    return on_terminal("promote", "churn", "--to", "staging", "--version", "1", "--json", *common)


@pytest.fixture(scope="module")
def poor(walk, champion):
    """dev.ml.churn v2, a poor model (the metric gates refuse it)."""
    assert run_in_process("train", "churn", "--quality", "poor", *walk[1]).returncode == 0
    return "2"


def test_json_output_is_json_alone_and_shows_no_progress(champion):
    promoted = champion
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert json.loads(promoted.stdout)["outcome"] == "champion"   # the whole of stdout parses
    assert "gate" not in promoted.stderr and "✓" not in promoted.stderr


def test_promote_shows_each_gate_as_it_runs_with_its_result(walk, poor):
    state, common, _ = walk
    shown = on_terminal("promote", "churn", "--to", "staging", "--version", "2", *common)
    assert shown.returncode == 5, shown.stdout + shown.stderr
    assert "promote churn v2 to staging" in shown.stderr
    assert re.search(r"✓\s+gate lineage\s+\d+\.\d s", shown.stderr), shown.stderr
    assert re.search(r"✗\s+gate metric_threshold:accuracy\s+\d+\.\d s\s+\S", shown.stderr), shown.stderr
    # stdout holds the table as without a terminal, and nothing of the progress
    assert "metric_threshold:accuracy │ FAILED" in shown.stdout and "✓" not in shown.stdout

    quiet = on_terminal("promote", "churn", "--to", "staging", "--version", "2", *common,
                        env={"LAKEGATE_PROGRESS": "0"})
    assert quiet.returncode == 5 and "gate lineage" not in quiet.stderr and "stays challenger" in quiet.stderr

    # Not a terminal (CI, a pipe): stderr holds the error line and nothing else.
    plain = run_in_process("promote", "churn", "--to", "staging", "--version", "2", *common)
    assert plain.returncode == 5
    assert plain.stderr.startswith("error: staging.ml.churn v2 stays challenger") and plain.stderr.count("\n") == 1


def test_a_missing_version_a_missing_model_and_an_approval_nobody_needs_each_say_so(walk, poor):
    state, common, _ = walk
    version = run_in_process("promote", "churn", "--to", "staging", "--version", "99", *common)
    assert version.returncode == 6
    assert version.stderr.strip() == "error: dev.ml.churn: version 99 not found (latest: 2; 2 versions registered)"
    assert version.stdout == ""

    model = run_in_process("promote", "demand", "--to", "staging", *common)
    assert model.returncode == 6
    assert model.stderr.startswith("error: dev.ml.demand: model not found: no version of it is registered")
    assert "train it first (python main.py train demand --env dev)" in model.stderr

    upstream = run_in_process("promote", "demand", "--to", "prod", *common)
    assert upstream.returncode == 6 and "staging.ml.demand: model not found" in upstream.stderr
    assert "promote it into staging first" in upstream.stderr

    approval = run_in_process("approve", "churn", "--env", "prod", "--version", "42", "--key", "/dev/null", *common)
    assert approval.returncode == 6 and "prod.ml.churn: model not found" in approval.stderr

    nothing = run_in_process("approve", "churn", "--env", "staging", "--version", "1", "--key", "/dev/null",
                             "--json", *common)
    assert nothing.returncode == 6
    assert "staging requires no approval for staging.ml.churn" in nothing.stderr and "nothing to approve" in nothing.stderr
    assert json.loads(nothing.stdout)["error"] == "invalid_request"


def test_serve_prints_a_curl_that_works_as_pasted(walk, champion):
    state, common, _ = walk
    server = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve", "churn", "--env", "staging",
                               "--no-log", *common], cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in server.stdout:
            lines.append(line)
            if line.startswith("curl ") or line.startswith("no example request"):
                break
        assert lines and lines[-1].startswith("curl "), "".join(lines) + server.stderr.read()
        assert lines[-2].strip() == "try it (v1's input example):"
        answer = subprocess.run(["sh", "-c", lines[-1]], capture_output=True, text=True, timeout=60)
        assert answer.returncode == 0, answer.stderr
        assert len(json.loads(answer.stdout)["predictions"]) == 1
    finally:
        server.terminate()
        server.wait(timeout=60)
