"""The command line as a user runs it: exit codes, located errors on stderr, --json, nothing written on failure."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import copy_examples, edit, line_of

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_check_passes_on_the_examples():
    result = run("check")
    assert result.returncode == 0, result.stderr
    assert "3 environment(s) valid: dev, staging, prod" in result.stdout


def test_check_json(tmp_path):
    result = run("check", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["ok"] is True and data["environments"] == ["dev", "staging", "prod"]


def test_invalid_definitions_exit_2_with_located_messages(tmp_path):
    defs = copy_examples(tmp_path / "environments")
    edit(defs / "prod.yaml", "sku: premium", "sku: premuim")
    edit(defs / "prod.yaml", "privileges: [USE_SCHEMA, SELECT]}", "privileges: [USE_SCHEMA, WRITE]}")
    result = run("check", "--environments", "environments", cwd=tmp_path)
    assert result.returncode == 2
    sku, grant = line_of(defs / "prod.yaml", "premuim"), line_of(defs / "prod.yaml", r"WRITE\]")
    assert f"environments/prod.yaml:{sku}: workspace.sku: 'premuim' is not one of premium, standard, trial" in result.stderr
    assert f"environments/prod.yaml:{grant}: grants[2].privileges: unknown privilege 'WRITE'" in result.stderr
    assert "2 problem(s) in environments" in result.stderr


def test_guardrail_violation_exits_3_naming_the_rule(tmp_path):
    defs = copy_examples(tmp_path / "environments")
    edit(defs / "prod.yaml", "  backend: azurerm", "  backend: local")
    result = run("check", "--environments", str(defs))
    assert result.returncode == 3
    assert "LG-PROD-001[state.backend=local]: production must keep Terraform state in a remote azurerm backend" in result.stderr


def test_synth_writes_every_stack_and_failed_runs_change_nothing(tmp_path):
    out = tmp_path / "cdktf.out"
    result = run("synth", "--out", str(out))
    assert result.returncode == 0, result.stderr
    stacks = sorted(p.parent.name for p in (out / "stacks").glob("*/cdk.tf.json"))
    assert stacks == sorted(["account"] + [f"{e}-{k}" for e in ("dev", "staging", "prod") for k in ("azure", "databricks")])
    assert "prod-azure" in result.stdout and "Guardrails:" in result.stdout
    before = tree_digest(out)

    defs = copy_examples(tmp_path / "environments")
    edit(defs / "prod.yaml", "sku: premium", "sku: premuim")
    invalid = run("synth", "--environments", str(defs), "--out", str(out))
    assert invalid.returncode == 2 and "workspace.sku: 'premuim'" in invalid.stderr
    assert "Traceback" not in invalid.stderr  # the abandoned jsii preload stays silent
    edit(defs / "prod.yaml", "sku: premuim", "sku: standard")
    refused = run("synth", "--environments", str(defs), "--out", str(out))
    assert refused.returncode == 3 and "LG-PROD-003[sku=standard]" in refused.stderr
    assert tree_digest(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cdktf.out")] == []


def test_report_access_json_traces_every_grant():
    result = run("report", "access", "--json")
    assert result.returncode == 0
    grants = json.loads(result.stdout)["grants"]
    assert all(g["origin"].startswith(("environments/", "derived: ")) for g in grants)
    promotion = [g for g in grants if g["principal"] == "sp-lakegate-prod" and g["securable"] == "schema staging.ml"]
    assert promotion == [{"principal": "sp-lakegate-prod", "securable": "schema staging.ml", "privileges": ["EXECUTE", "USE_SCHEMA"],
                          "emitted_by": "staging-databricks", "derived": True,
                          "origin": f"derived: promotion staging -> prod (environments/prod.yaml:{line_of(ROOT / 'environments/prod.yaml', '^  from: staging')})"}]


def test_report_diff_needs_two_known_environments():
    assert run("report", "diff", "dev").returncode == 6
    result = run("report", "diff", "staging", "prod", "--json")
    rows = json.loads(result.stdout)
    assert {"field": "production", "staging": False, "prod": True} in rows


def test_docs_check_detects_stale_docs():
    assert run("docs", "--check").returncode == 0


def test_synth_of_one_environment_matches_the_full_synth_and_keeps_the_others(envs, synthesized, tmp_path):
    from lakegate.infra.synth import synthesize

    out = tmp_path / "cdktf.out"
    (out / "stacks" / "dev-databricks").mkdir(parents=True)
    (out / "stacks" / "dev-databricks" / "cdk.tf.json").write_text('{"previous": true}')
    (out / "manifest.json").write_text(json.dumps({"version": "0.24.0", "stacks": {"dev-databricks": {"name": "dev-databricks"}}}))
    result = synthesize(envs, out, only=["prod"])
    assert result.stacks["prod-databricks"] == synthesized.stacks["prod-databricks"]
    assert result.stacks["prod-azure"] == synthesized.stacks["prod-azure"]
    assert result.stacks["dev-databricks"] == {"previous": True}


def test_a_synth_that_fails_midway_leaves_the_previous_output(envs, tmp_path, monkeypatch):
    import lakegate.infra.synth as synth

    out = tmp_path / "cdktf.out"
    (out / "stacks" / "old").mkdir(parents=True)
    (out / "stacks" / "old" / "cdk.tf.json").write_text("{}")
    (out / "manifest.json").write_text(json.dumps({"version": "0.24.0", "stacks": {"old": {"name": "old"}}}))
    before = tree_digest(out)

    def half_written(envs, selected, staging):
        (staging / "stacks" / "prod-azure").mkdir(parents=True)
        (staging / "stacks" / "prod-azure" / "cdk.tf.json").write_text('{"partial"')
        raise RuntimeError("jsii died")

    monkeypatch.setattr(synth, "build_app", half_written)
    with pytest.raises(RuntimeError, match="jsii died"):
        synth.synthesize(envs, out)
    assert tree_digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out"]


def _options_without_help(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options_without_help(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            yield " ".join(path) + " " + (action.option_strings[0] if action.option_strings else action.dest)


def test_every_option_and_argument_has_help():
    from lakegate.cli.app import build_parser

    assert list(_options_without_help(build_parser())) == []


@pytest.mark.parametrize("args", [("check", "--bogus"), ("promote", "churn"), ("nosuch",), ("report",),
                                  ("approve", "churn", "--env", "prod")])
def test_usage_errors_have_their_own_exit_code_not_the_definitions_one(args):
    result = run(*args)
    assert result.returncode == 64, result.stderr
    assert "usage:" in result.stderr and "Traceback" not in result.stderr
