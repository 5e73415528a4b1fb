"""`ci plan-outputs`, the deploy job's check between the azure and the databricks stack's applies: against real
Terraform on a provider-less stack (outputs only, so it runs offline), saved plans that change an output and
plans that do not."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lakegate.cli.app import main

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")


def terraform(stack: Path, *args: str) -> None:
    subprocess.run(["terraform", f"-chdir={stack}", *args, "-input=false", "-no-color"], check=True,
                   capture_output=True, timeout=120)


@pytest.fixture
def stack(tmp_path, monkeypatch) -> Path:
    # The deploy job keeps Terraform's working data outside the stack folder (the artifact holds no providers).
    monkeypatch.setenv("TF_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "stacks" / "prod-azure"
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_text(json.dumps({"output": {"workspace_url": {"value": "https://adb-1"}}}))
    terraform(folder, "init")
    terraform(folder, "apply", "-auto-approve")
    return folder


def test_a_plan_that_keeps_the_outputs_lets_the_next_stack_apply(stack, capsys):
    terraform(stack, "plan", "-out=tfplan")
    assert main(["ci", "plan-outputs", "--stack", str(stack), "--reader", "prod-databricks"]) == 0
    assert "prod-databricks's saved plan still holds" in capsys.readouterr().out


def test_a_plan_that_changes_an_output_stops_the_stale_plan(stack, capsys):
    config = json.loads((stack / "cdk.tf.json").read_text())
    config["output"]["workspace_url"]["value"] = "https://adb-2"
    config["output"]["workspace_id"] = {"value": "2"}
    (stack / "cdk.tf.json").write_text(json.dumps(config))
    terraform(stack, "plan", "-out=tfplan")
    assert main(["ci", "plan-outputs", "--stack", str(stack), "--reader", "prod-databricks"]) == 12
    err = capsys.readouterr().err
    assert "workspace_id (create), workspace_url (update)" in err
    assert "saved plan of prod-databricks was made against the old values and is not applied" in err


def test_a_missing_plan_is_refused_not_passed(stack, capsys):
    assert main(["ci", "plan-outputs", "--stack", str(stack), "--reader", "prod-databricks"]) == 12
    err = capsys.readouterr().err
    assert "terraform show" in err and "Traceback" not in err
