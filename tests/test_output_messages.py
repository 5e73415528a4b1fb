"""Output people read, without a registry: the approver in `report history` and the site, the request `serve`
prints (cli/serve_hint.py), the demo's progress title, and the real cdktf CLI run through `main.py cdktf` without
false `[ERROR]` lines (docs/output.md)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lakegate.promotion.audit import AuditLog

from .helpers import copy_examples, run_in_process
from .test_cli import ROOT

APPROVER = "head.of.ml@contoso.com"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """prod's log: a refused approval claiming someone, then a signed one, both run by the OS user `root`."""
    tmp = tmp_path_factory.mktemp("history")
    env_dir = copy_examples(tmp / "environments")
    state = tmp / "state"
    prod = AuditLog(state / "audit", "prod")
    prod.append("approval_refused", model="prod.ml.churn", version="1", actor="root", principal="sp-lakegate-prod",
                details={"approved_by": "mallory@contoso.com", "reason": "the key is not enrolled for prod"})
    prod.append("approve", model="prod.ml.churn", version="1", actor="root", principal="sp-lakegate-prod",
                git_commit="b5f5b1bc75e741b57cfa9bf9d65e50c7d20c64b4",
                details={"approved_by": APPROVER, "kind": "ssh", "artifacts_sha256": "ab" * 32})
    return env_dir, state


def test_report_history_names_the_approver_not_only_the_os_user(history):
    env_dir, state = history
    shown = run_in_process("report", "history", "--environments", str(env_dir), "--state-dir", str(state),
                           env={"COLUMNS": "250"})
    assert shown.returncode == 0, shown.stderr
    header = next(line for line in shown.stdout.splitlines() if "approver" in line)
    assert re.search(r"action\s+┃ model\s+┃ version\s+┃ approver\s+┃ actor", header), header
    approve = next(line for line in shown.stdout.splitlines() if "│ approve " in line)
    assert APPROVER in approve and "root" in approve
    refused = next(line for line in shown.stdout.splitlines() if "approval_refused" in line)
    assert "mallory@contoso.com (claimed; refused)" in refused


def test_the_site_history_has_an_approver_column(history, tmp_path):
    env_dir, state = history
    out = tmp_path / "site"
    assert run_in_process("report", "site", "--environments", str(env_dir), "--state-dir", str(state), "--out",
                          str(out)).returncode == 0
    html = (out / "index.html").read_text()
    table = re.search(r'<table class="history".*?</table>', html, re.S).group(0)
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert headers[headers.index("outcome") + 1:headers.index("outcome") + 3] == ["approver", "actor"]
    row = re.search(r'<tr class="entry[^"]*" data-action="approve".*?</tr>', table, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[headers.index("approver")] == APPROVER and cells[headers.index("actor")] == "root"
    data = json.loads((out / "site.json").read_text())
    rows = [r for e in data["history"]["environments"] for m in e["models"] for r in m["entries"]]
    assert {r["action"]: r["approver"] for r in rows} == {"approval_refused": "mallory@contoso.com (claimed; refused)",
                                                          "approve": APPROVER}


# ------------------------------------------------------------------------------------------ serve's curl


def test_the_curl_body_is_the_first_row_of_the_logged_example_and_survives_the_shell():
    from lakegate.cli.serve_hint import curl_command, example_request

    logged = {"columns": ["tenure", "plan"], "data": [[1.5, "it's monthly"], [2.0, "yearly"]]}
    body = example_request(logged)
    assert body == {"dataframe_split": {"columns": ["tenure", "plan"], "data": [[1.5, "it's monthly"]]}}
    assert example_request([{"a": 1}, {"a": 2}]) == {"dataframe_records": [{"a": 1}]}
    assert example_request(None) is None
    line = curl_command("http://127.0.0.1:5000/serving-endpoints/churn-prod/invocations", body)
    words = shlex.split(line)   # what a POSIX shell passes to curl
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    assert json.loads(words[words.index("-d") + 1]) == body
    assert "\n" not in line


def test_the_demo_names_its_last_step_on_the_terminal():
    from lakegate.cli import demo, output

    walk = demo.Walkthrough()
    walk.view = output.Progress("demo", listed=())
    walk.step("train a good churn model in dev", "registered", "registered")
    assert walk.view.title == "demo: step 1 done (train a good churn model in dev)"
    assert walk.as_json() == [{"step": "1", "title": "train a good churn model in dev", "outcome": "registered",
                               "check": "as expected", "details": ""}]


# ------------------------------------------------------------------------------------------ the cdktf CLI

TOOLS = Path(os.environ.get("LAKEGATE_TOOLS", ROOT / ".tools"))
NOISE = re.compile(r"\[ERROR\]|checkpoint-api|CLI configuration file|problems with the CLI configuration")


def cdktf_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell as the issue saw it: no CHECKPOINT_DISABLE, TF_CLI_CONFIG_FILE naming a missing file."""
    env = {k: v for k, v in os.environ.items() if k not in ("CHECKPOINT_DISABLE", "TF_CLI_CONFIG_FILE")}
    return {**env, "HOME": str(tmp_path), "TF_CLI_CONFIG_FILE": str(tmp_path / ".terraformrc"),
            "LAKEGATE_TOOLS": str(TOOLS), "CI": "true"}


def test_the_noise_pattern_catches_what_the_bare_cli_prints():
    # What `.tools/bin/cdktf list` printed in a user's shell (no CHECKPOINT_DISABLE, TF_CLI_CONFIG_FILE naming a
    # missing file); tests/test_terraform_cli.py runs the real CLI through `main.py cdktf` and asserts none of it.
    printed = ("\x1b[91m[2026-12-07T04:41:59.438] [ERROR] default - \x1b[39mThere are some problems with the CLI "
               "configuration:\n│ The CLI configuration file at \"/root/.terraformrc\" does not exist.\n"
               "getaddrinfo ENOTFOUND checkpoint-api.hashicorp.com")
    assert len(NOISE.findall(printed)) >= 3
    assert not NOISE.search("Stack: prod-databricks\n  Synthesizing... done")


def test_a_missing_cdktf_cli_says_how_to_install_it(tmp_path):
    result = subprocess.run([sys.executable, "main.py", "cdktf", "list"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "LAKEGATE_TOOLS": str(tmp_path / "none")}, timeout=120)
    assert result.returncode == 6
    assert result.stderr.strip() == f"error: the cdktf CLI is not installed at {tmp_path / 'none'}/bin/cdktf: run " \
                                    "`lakegate tools` (`make tools`) (or set LAKEGATE_TOOLS to the folder that holds bin/cdktf)"


def test_a_terraform_config_the_user_has_is_kept(tmp_path):
    from lakegate.cli.cdktf_command import TERRAFORM_RC, cdktf_environment

    mirror = tmp_path / "mirror.tfrc"
    mirror.write_text("provider_installation { filesystem_mirror { path = \"/mirror\" } }\n")
    assert cdktf_environment({"TF_CLI_CONFIG_FILE": str(mirror)})["TF_CLI_CONFIG_FILE"] == str(mirror)
    assert cdktf_environment({"TF_CLI_CONFIG_FILE": "~/.terraformrc-missing"})["TF_CLI_CONFIG_FILE"] == str(TERRAFORM_RC)
    assert cdktf_environment({})["CHECKPOINT_DISABLE"] == "1"
    assert "disable_checkpoint = true" in TERRAFORM_RC.read_text()
