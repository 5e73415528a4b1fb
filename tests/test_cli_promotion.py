"""The promotion commands as CI runs them, against a real local registry: exit codes and messages."""

from __future__ import annotations

import json
import os

import pytest

from .helpers import copy_examples, edit, run_in_process
from .local_registry_fixtures import new_ssh_key, set_approval, write_validation_tables
from .test_cli import ROOT, run


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    """The example definitions with a throwaway key enrolled for prod's approver (the reviewed YAML enrols
    a key whose private half nobody here has)."""
    folder = copy_examples(tmp_path_factory.mktemp("cli-environments"))
    key, public = new_ssh_key(tmp_path_factory.mktemp("cli-keys"), "head-of-ml")
    set_approval(folder, "prod", approvers=["ml-approvers"], signers=[{"identity": "head.of.ml@contoso.com", "key": public}])
    return folder, key


@pytest.fixture(scope="module")
def state(tmp_path_factory, defs):
    state_dir = tmp_path_factory.mktemp("cli-state") / ".lakegate"
    yield state_dir
    run("local", "down", "--state-dir", str(state_dir))


def cli(state, *args, defs=None):
    # In this process: the walk is many commands against one registry (tests/test_cli.py runs the real process).
    return run_in_process(*args, "--state-dir", str(state), *(("--environments", str(defs[0])) if defs else ()))


def in_process(capsys, *args) -> tuple[int, str]:
    """The CLI in this process (no registry is running for these): exit code and stderr."""
    from lakegate.cli.app import main

    code = main([*args, "--environments", str(ROOT / "tests" / "fixtures" / "environments")])
    return code, capsys.readouterr().err


def test_commands_refuse_when_the_local_registry_is_not_running(tmp_path):
    result = cli(tmp_path / "none", "status")
    assert result.returncode == 9 and "is not running: run `python main.py local up`" in result.stderr


def test_promotion_walk_with_exit_codes(state, defs):
    up = cli(state, "local", "up", defs=defs)
    assert up.returncode == 0 and "local registry: running at http://127.0.0.1:" in up.stdout and "started in" in up.stdout
    again = cli(state, "local", "up", "--json", defs=defs)
    assert again.returncode == 0 and json.loads(again.stdout)["changes"] == []
    assert (state / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert "password" not in up.stdout.lower() + up.stderr.lower()
    write_validation_tables(state, ["staging", "prod"])  # what each one's feature-refresh job writes

    assert cli(state, "train", "churn", defs=defs).returncode == 0
    promoted = cli(state, "promote", "churn", "--to", "staging", "--version", "1", "--json", defs=defs)
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["outcome"] == "champion"

    unknown = cli(state, "promote", "churn", "--to", "staging", "--version", "99", defs=defs)
    assert unknown.returncode == 6

    assert cli(state, "train", "churn", "--quality", "poor", defs=defs).returncode == 0
    refused = cli(state, "promote", "churn", "--to", "staging", "--version", "2", defs=defs)
    assert refused.returncode == 5
    assert "metric_threshold:accuracy" in refused.stderr and "stays challenger" in refused.stderr

    pending = cli(state, "promote", "churn", "--to", "prod", defs=defs)
    assert pending.returncode == 7 and "approval" in pending.stderr
    by_name = cli(state, "approve", "churn", "--env", "prod", "--version", "1", "--by", "head.of.ml@contoso.com", defs=defs)
    assert by_name.returncode == 7 and "a name given with --by alone proves nothing" in by_name.stderr
    printed = cli(state, "approve", "churn", "--env", "prod", "--version", "1", "--print-statement", "--by",
                  "head.of.ml@contoso.com", defs=defs)
    assert printed.returncode == 0, printed.stderr
    statement = json.loads(printed.stdout)
    assert (statement["env"], statement["model"], statement["version"], statement["approver"]) == (
        "prod", "prod.ml.churn", "1", "head.of.ml@contoso.com") and len(statement["artifacts_sha256"]) == 64
    signed = cli(state, "approve", "churn", "--env", "prod", "--version", "1", "--key", str(defs[1]), defs=defs)
    assert signed.returncode == 0, signed.stderr
    assert "approved by head.of.ml@contoso.com" in signed.stdout and "signature verified" in signed.stdout
    assert cli(state, "promote", "churn", "--to", "prod", defs=defs).returncode == 0

    status = json.loads(cli(state, "status", "--json", defs=defs).stdout)
    champions = {e["env"]: {m["model"].split(".")[-1]: m["champion"] for m in e["models"]} for e in status["environments"]}
    assert champions == {"dev": {"churn": None, "demand": None}, "staging": {"churn": "1", "demand": None},
                         "prod": {"churn": "1", "demand": None}}

    verified = cli(state, "audit", "verify", defs=defs)
    assert verified.returncode == 0, verified.stderr
    text = verified.stdout.replace("\n", " ")
    assert "prod: 4 entries, chain intact, anchors and registry state match (prod.ml.churn: champion v1 rechecked; " \
        "prod.ml.churn: the approval of champion v1 was verified against these definitions' signers" in text
    assert "prod.ml.demand (never promoted here" in text          # the second model: nothing yet
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


def test_tampered_audit_log_exits_8_naming_the_line(state, defs):
    log = state / "audit" / "staging.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["actor"] = "someone-else"
    lines[0] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    result = cli(state, "audit", "verify", defs=defs)
    assert result.returncode == 8 and f"{log}:1: entry seq 1 was edited" in result.stderr
    # and a tampered log refuses every further promotion into that environment (exit 8, nothing moved)
    blocked = cli(state, "promote", "churn", "--to", "staging", "--version", "1", defs=defs)
    assert blocked.returncode == 8 and f"{log}:1: entry seq 1 was edited" in blocked.stderr


def test_local_down_then_status(state):
    assert cli(state, "local", "down").returncode == 0
    stopped = cli(state, "local", "status", "--json")
    assert stopped.returncode == 0 and json.loads(stopped.stdout)["state"] == "stopped"


# -- refusals before any registry call: exit 6 with one line ----------------------------------------------


@pytest.mark.parametrize("value, shown", [("abc", "'abc'"), ("1.5", "'1.5'"), ("", "''"), ("0", "'0'"), ("-3", "'-3'"),
                                          (str(10 ** 23), "'100000000000000000000000'")])
def test_an_invalid_version_exits_6_before_any_registry_call(capsys, tmp_path, value, shown):
    code, err = in_process(capsys, "promote", "churn", "--to", "staging", "--version", value, "--state-dir", str(tmp_path))
    assert code == 6 and f"--version {shown} is not a version number (a whole number from 1 to 2147483647)" in err
    code, err = in_process(capsys, "approve", "churn", "--env", "prod", "--version", value, "--state-dir", str(tmp_path))
    assert code == 6 and "is not a version number" in err


@pytest.mark.parametrize("alias, message", [
    ("../../champion", "--alias '../../champion' is not an alias name (letters, digits and _, starting with a letter"),
    ("champion;drop", "is not an alias name"), ("9lives", "is not an alias name"), ("a" * 256, "is not an alias name"),
    ("latest", "--alias 'latest' is reserved by MLflow"), ("v3", "--alias 'v3' is reserved by MLflow")])
def test_an_invalid_alias_exits_6_before_any_registry_call(capsys, tmp_path, alias, message):
    code, err = in_process(capsys, "promote", "churn", "--to", "prod", "--alias", alias, "--state-dir", str(tmp_path))
    assert code == 6 and message in err and len(err.strip().splitlines()) == 1


def test_a_state_dir_that_is_a_file_cannot_be_created_or_belongs_to_no_one_else_is_refused(capsys, tmp_path):
    a_file = tmp_path / "state-file"
    a_file.write_text("not a folder")
    for args in (("local", "up"), ("promote", "churn", "--to", "staging", "--version", "1"), ("audit", "verify"),
                 ("status",)):
        code, err = in_process(capsys, *args, "--state-dir", str(a_file))
        assert code == 6 and f"--state-dir {a_file} is a file, not a folder" in err, args
    code, err = in_process(capsys, "local", "up", "--state-dir", str(a_file / "inside"))
    assert code == 6 and f"--state-dir {a_file / 'inside'} is inside a file, not a folder" in err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.getuid() != 0:  # root may create anything in a read-only folder of its own
        code, err = in_process(capsys, "local", "up", "--state-dir", str(locked / "state"))
        assert code == 6 and f"--state-dir {locked / 'state'} cannot be created (Permission denied)" in err
    code, err = in_process(capsys, "local", "up", "--state-dir", "/sys/lakegate-state")  # not even root may
    assert code == 6 and "--state-dir /sys/lakegate-state cannot be created (" in err and "Traceback" not in err
    if os.getuid() == 0:  # as root the test can hand a folder to someone else
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        code, err = in_process(capsys, "local", "up", "--state-dir", str(theirs))
        assert code == 6 and f"--state-dir {theirs} belongs to another user (uid 65534)" in err
    code, err = in_process(capsys, "audit", "verify", "--offline", "--state-dir", str(tmp_path / "missing"))
    assert code == 6 and f"--state-dir {tmp_path / 'missing'} does not exist" in err
    code, err = in_process(capsys, "promote", "churn", "--to", "staging", "--state-dir", str(tmp_path / "missing"))
    assert code == 9 and "is not running: run `python main.py local up`" in err


def test_a_group_or_world_readable_state_dir_is_made_private(capsys, tmp_path):
    import stat

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "auth.db").write_text("password hashes")
    shared.chmod(0o755)
    code, _ = in_process(capsys, "local", "status", "--state-dir", str(shared))
    assert code == 0 and stat.S_IMODE(shared.stat().st_mode) == 0o700
    shared.chmod(0o777)
    code, _ = in_process(capsys, "audit", "verify", "--offline", "--state-dir", str(shared))
    assert code == 0 and stat.S_IMODE(shared.stat().st_mode) == 0o700


def test_the_databricks_registry_without_a_workspace_host_exits_11(capsys, tmp_path, monkeypatch):
    for name in ("LAKEGATE_STAGING_DATABRICKS_HOST", "DATABRICKS_HOST", "DATABRICKS_HOST_STAGING", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    code, err = in_process(capsys, "promote", "churn", "--to", "staging", "--version", "1", "--registry", "databricks",
                           "--state-dir", str(tmp_path / "state"))
    assert code == 11 and "error: databricks: staging: " in err and "workspace" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
