"""The promotion commands as CI runs them, against a real local registry: exit codes and messages."""

from __future__ import annotations

import json

import pytest

from .helpers import copy_examples, edit
from .test_cli import ROOT, run


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("cli-state") / ".lakegate"
    yield state_dir
    run("local", "down", "--state-dir", str(state_dir))


def cli(state, *args):
    return run(*args, "--state-dir", str(state))


def test_commands_refuse_when_the_local_registry_is_not_running(tmp_path):
    result = cli(tmp_path / "none", "status")
    assert result.returncode == 9 and "is not running: run `python main.py local up`" in result.stderr


def test_promotion_walk_with_exit_codes(state):
    up = cli(state, "local", "up")
    assert up.returncode == 0 and "local registry: running at http://127.0.0.1:" in up.stdout and "started in" in up.stdout
    again = cli(state, "local", "up", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["changes"] == []
    assert (state / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert "password" not in up.stdout.lower() + up.stderr.lower()

    assert cli(state, "train").returncode == 0
    promoted = cli(state, "promote", "churn", "--to", "staging", "--version", "1", "--json")
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["outcome"] == "champion"

    unknown = cli(state, "promote", "churn", "--to", "staging", "--version", "99")
    assert unknown.returncode == 6

    assert cli(state, "train", "--quality", "poor").returncode == 0
    refused = cli(state, "promote", "churn", "--to", "staging", "--version", "2")
    assert refused.returncode == 5
    assert "metric_threshold:accuracy" in refused.stderr and "stays challenger" in refused.stderr

    pending = cli(state, "promote", "churn", "--to", "prod")
    assert pending.returncode == 7 and "approval" in pending.stderr
    by_robot = cli(state, "approve", "churn", "--env", "prod", "--version", "1", "--by", "sp-lakegate-dev")
    assert by_robot.returncode == 7 and "service principal" in by_robot.stderr
    assert cli(state, "approve", "churn", "--env", "prod", "--version", "1", "--by", "head.of.ml@contoso.com").returncode == 0
    assert cli(state, "promote", "churn", "--to", "prod").returncode == 0

    status = json.loads(cli(state, "status", "--json").stdout)
    champions = {e["env"]: [m["champion"] for m in e["models"]] for e in status["environments"]}
    assert champions == {"dev": [None], "staging": ["1"], "prod": ["1"]}

    assert cli(state, "audit", "verify").returncode == 0
    history = json.loads(cli(state, "report", "history", "--json").stdout)
    assert [e["action"] for e in history if e["env"] == "prod"][-1] == "promote"


def test_a_principal_off_the_promotion_path_is_refused(state, tmp_path):
    # Definitions changed after provisioning: prod now claims dev as its source, but the registry still
    # holds the permissions derived from the reviewed definitions, so prod's principal cannot read dev.
    defs = copy_examples(tmp_path / "environments")
    edit(defs / "prod.yaml", "  from: staging", "  from: dev")
    edit(defs / "staging.yaml", "  from: dev", "  from: prod")
    edit(defs / "dev.yaml", "promotion:\n", "promotion:\n  from: staging\n")
    result = run("promote", "churn", "--to", "prod", "--version", "1", "--environments", str(defs), "--state-dir", str(state))
    assert result.returncode in (2, 4)  # a cycle is refused as a definition error before any registry call
    edit(defs / "staging.yaml", "  from: prod", "  from: dev")
    edit(defs / "dev.yaml", "promotion:\n  from: staging\n", "promotion:\n")
    result = run("promote", "churn", "--to", "prod", "--version", "1", "--environments", str(defs), "--state-dir", str(state))
    assert result.returncode == 4
    assert "principal sp-lakegate-prod may not read on dev.ml.churn" in result.stderr


def test_tampered_audit_log_exits_8_naming_the_line(state):
    log = state / "audit" / "staging.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["actor"] = "someone-else"
    lines[0] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    result = cli(state, "audit", "verify")
    assert result.returncode == 8 and f"{log}:1: entry seq 1 was edited" in result.stderr


def test_local_down_then_status(state):
    assert cli(state, "local", "down").returncode == 0
    stopped = cli(state, "local", "status", "--json")
    assert stopped.returncode == 0 and json.loads(stopped.stdout)["state"] == "stopped"
