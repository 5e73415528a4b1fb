"""The synth's output folder: never destroys what it did not write, honours the cdktf CLI's output folder,
keeps Terraform's working files, and rebuilds only the environments whose inputs changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import copy_examples, edit

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for item in sorted(path.rglob("*")) if path.is_dir() else [path]:
        h.update(str(item.relative_to(path) if path.is_dir() else item.name).encode())
        if item.is_file():
            h.update(item.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("target", ["dot", "environments", "file", "folder"])
def test_out_refuses_what_a_synth_did_not_write(tmp_path, target):
    project = tmp_path / "project"
    copy_examples(project / "environments")
    (project / "notes.txt").write_text("mine")
    out = {"dot": project, "environments": project / "environments", "file": project / "notes.txt",
           "folder": tmp_path / "other"}[target]
    if target == "folder":
        (out / "keep").mkdir(parents=True)
        (out / "keep" / "data.csv").write_text("1,2\n")
    before = digest(out)
    result = run("synth", "--environments", str(project / "environments"), "--out", str(out), cwd=project)
    assert result.returncode == 6, result.stderr  # an unusable --out is an invalid request
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refusing to replace it" in lines[0] and "Traceback" not in result.stderr
    assert digest(out) == before


def test_cdktf_outdir_is_where_the_cli_finds_the_output(envs, tmp_path, monkeypatch):
    from lakegate.cli.app import main

    out = tmp_path / "from-the-cli"
    monkeypatch.setenv("CDKTF_OUTDIR", str(out))
    assert main(["synth", "--environments", str(ROOT / "tests" / "fixtures" / "environments"), "--json"]) == 0
    assert json.loads((out / "manifest.json").read_text())["stacks"]["prod-databricks"]["dependencies"]
    assert (out / "stacks" / "prod-azure" / "versions.tf.json").exists()


@pytest.fixture
def definitions(tmp_path):
    return copy_examples(tmp_path / "environments")


def test_incremental_synth_rebuilds_only_what_changed_byte_identical_to_a_full_one(envs, definitions, tmp_path):
    from lakegate.infra.loader import load_environments
    from lakegate.infra.synth import synthesize

    out = tmp_path / "cdktf.out"
    first = synthesize(load_environments(definitions), out, definitions=definitions)
    assert set(first.rebuilt) == set(first.stacks)
    # Terraform's working files survive a synth.
    (out / "stacks" / "staging-azure" / ".terraform").mkdir()
    (out / "stacks" / "staging-azure" / ".terraform" / "providers").write_text("cached")
    (out / "stacks" / "dev-azure" / ".terraform.lock.hcl").write_text("lock")
    before = {p.name: digest(p) for p in (out / "stacks").iterdir()}

    edit(definitions / "dev.yaml", "retention_days: 30", "retention_days: 31")
    second = synthesize(load_environments(definitions), out, definitions=definitions)
    assert second.rebuilt == ["account", "dev-azure", "dev-databricks"]
    assert second.reused == ["prod-azure", "prod-databricks", "staging-azure", "staging-databricks"]
    after = {p.name: digest(p) for p in (out / "stacks").iterdir()}
    assert {name for name in after if after[name] != before[name]} == {"dev-azure"}  # the account's JSON is unchanged
    assert (out / "stacks" / "staging-azure" / ".terraform" / "providers").read_text() == "cached"
    assert (out / "stacks" / "dev-azure" / ".terraform.lock.hcl").read_text() == "lock"

    full = synthesize(load_environments(definitions), tmp_path / "full")
    for name in full.stacks:
        assert (out / "stacks" / name / "cdk.tf.json").read_bytes() == (tmp_path / "full" / "stacks" / name / "cdk.tf.json").read_bytes()
    assert (out / "manifest.json").read_bytes() == (tmp_path / "full" / "manifest.json").read_bytes()

    third = synthesize(load_environments(definitions), out, definitions=definitions)
    assert third.rebuilt == [] and digest(out / "stacks") == digest(out / "stacks")


def test_a_peer_fact_rebuilds_the_environments_that_read_it(definitions, tmp_path):
    from lakegate.infra.loader import load_environments
    from lakegate.infra.synth import synthesize

    out = tmp_path / "cdktf.out"
    synthesize(load_environments(definitions), out, definitions=definitions)
    # staging's workspace id: dev binds its catalog to staging's workspace (promotion), so dev is rebuilt too.
    # (The fingerprint is conservative: a peer fact rebuilds every environment, a local one only its own.)
    edit(definitions / "staging.yaml", "id: 2234567890123452", "id: 2234567890123459")
    result = synthesize(load_environments(definitions), out, definitions=definitions)
    assert {"dev-databricks", "staging-azure", "staging-databricks"} <= set(result.rebuilt)
    dev = json.loads((out / "stacks" / "dev-databricks" / "cdk.tf.json").read_text())
    assert 2234567890123459 in [b["workspace_id"] for b in dev["resource"]["databricks_workspace_binding"].values()]


def test_a_synth_with_nothing_changed_starts_no_jsii(definitions, tmp_path):
    out = tmp_path / "cdktf.out"
    assert run("synth", "--environments", str(definitions), "--out", str(out)).returncode == 0
    marker = tmp_path / "node-started"
    fake_node = tmp_path / "node"
    fake_node.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake_node.chmod(0o755)
    before = digest(out)
    result = run("synth", "--environments", str(definitions), "--out", str(out), env={"JSII_NODE": str(fake_node)})
    assert result.returncode == 0, result.stderr
    assert "No change: the 7 stacks" in result.stdout
    assert not marker.exists() and digest(out) == before
    # A changed input is noticed (and then jsii is needed: the fake node makes that synth fail, output untouched).
    edit(definitions / "prod.yaml", "retention_days: 365", "retention_days: 366")
    changed = run("synth", "--environments", str(definitions), "--out", str(out), env={"JSII_NODE": str(fake_node)})
    assert changed.returncode != 0 and marker.exists() and digest(out) == before


def test_an_expired_waiver_is_noticed_even_when_nothing_changed(definitions, tmp_path):
    from lakegate.infra.synth_inputs import read_state, write_state

    out = tmp_path / "cdktf.out"
    assert run("synth", "--environments", str(definitions), "--out", str(out)).returncode == 0
    state = read_state(out)
    state["guardrails"]["valid_through"] = "2000-01-01"  # a waiver that expired since the last synth
    write_state(out, {k: v for k, v in state.items() if k != "format"})
    result = run("synth", "--environments", str(definitions), "--out", str(out), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["changed"] is False
    assert "No change" not in result.stdout  # the guardrails ran again instead of the cached verdict
    shutil.rmtree(out)


def test_failed_synths_leave_no_jsii_temp_folders_and_print_no_traceback(definitions, tmp_path):
    """The CLI exits on invalid YAML while the jsii preload may still be starting: nothing of it shows."""
    edit(definitions / "prod.yaml", "sku: premium", "sku: premuim")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    for _ in range(8):
        result = run("synth", "--environments", str(definitions), "--out", str(tmp_path / "out"),
                     env={"TMPDIR": str(scratch)})
        assert result.returncode == 2 and "workspace.sku" in result.stderr
        assert "Traceback" not in result.stderr and "OSError" not in result.stderr
    assert list(scratch.iterdir()) == []


def test_a_folder_of_empty_folders_is_replaced_but_one_file_is_not(tmp_path):
    from lakegate.infra.synth_output import OutputRefused, check_output_dir

    (tmp_path / "out" / "stacks" / "dev-azure").mkdir(parents=True)  # what an interrupted run may leave
    check_output_dir(tmp_path / "out")
    (tmp_path / "out" / "stacks" / "notes.txt").write_text("mine")
    with pytest.raises(OutputRefused, match="has no cdktf manifest"):
        check_output_dir(tmp_path / "out")
