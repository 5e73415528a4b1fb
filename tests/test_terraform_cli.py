"""The real tools on the synthesized output: Terraform 1.11 parses every stack (`terraform init -backend=false`
up to the provider download, which needs a network), and the real cdktn CLI (installed by `make` into
.tools/ from the npm registry) synthesizes and lists the stacks through cdktf.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("LAKEGATE_TOOLS", ROOT / ".tools"))


def terraform_env(tmp_path: Path) -> dict:
    config = tmp_path / "terraformrc"
    config.write_text("")  # no mirror, no credentials: only what the stack itself says
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}


def terraform_init(folder: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["terraform", f"-chdir={folder}", "init", "-backend=false", "-input=false", "-no-color"],
                          capture_output=True, text=True, env=env, timeout=120)


def parsed_up_to_providers(result: subprocess.CompletedProcess) -> bool:
    """The configuration was read and only the provider download (offline) failed."""
    text = result.stdout + result.stderr
    errors = [line for line in text.splitlines() if line.startswith("Error: ")]
    return "Initializing provider plugins..." in text and all(
        e in ("Error: Failed to query available provider packages", "Error: Failed to install provider") for e in errors)


def test_terraform_parses_every_synthesized_stack(synthesized, tmp_path):
    env = terraform_env(tmp_path)
    copies = []
    for name in synthesized.stacks:
        copy = tmp_path / name
        shutil.copytree(synthesized.outdir / "stacks" / name, copy)
        copies.append(copy)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(copies, pool.map(lambda folder: terraform_init(folder, env), copies)))
    for folder, result in results.items():
        assert parsed_up_to_providers(result), f"{folder.name}:\n{result.stdout}\n{result.stderr}"
        # The required Terraform version is declared (and this Terraform satisfies it).
        assert json.loads((folder / "versions.tf.json").read_text())["terraform"]["required_version"].startswith(">= 1.5")


def test_the_terraform_check_fails_on_a_broken_stack(synthesized, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(synthesized.outdir / "stacks" / "prod-azure", broken)
    body = json.loads((broken / "cdk.tf.json").read_text())
    body["output"]["broken"] = "not an output block"
    (broken / "cdk.tf.json").write_text(json.dumps(body))
    assert not parsed_up_to_providers(terraform_init(broken, terraform_env(tmp_path)))


def cdktf(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    executable = TOOLS / "bin" / "cdktf"
    if not executable.exists():
        pytest.fail(f"{executable} is missing: the test command (`make test`) installs it")
    env = {**terraform_env(tmp_path), "CI": "true", "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "true",
           "CDKTF_LOG_LEVEL": "error", "DISABLE_VERSION_CHECK": "true"}
    return subprocess.run([str(executable), *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_the_real_cdktf_cli_synthesizes_and_lists_through_cdktf_json(tmp_path):
    out = tmp_path / "cli.out"
    synth = cdktf("synth", "--output", str(out), tmp_path=tmp_path)
    assert synth.returncode == 0, synth.stdout[-3000:] + synth.stderr[-3000:]
    stacks = json.loads((out / "manifest.json").read_text())["stacks"]
    assert set(stacks) == {"account", *(f"{e}-{k}" for e in ("dev", "staging", "prod") for k in ("azure", "databricks"))}
    # Through the project's wrapper (`lakegate cdktf`), in a user's shell that makes the bare CLI print false
    # [ERROR] lines (no CHECKPOINT_DISABLE, TF_CLI_CONFIG_FILE naming a missing file): none of them.
    from .test_output_messages import NOISE, cdktf_env

    listed = subprocess.run([sys.executable, "main.py", "cdktf", "list", "--output", str(out)], cwd=ROOT,
                            env=cdktf_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    for name in stacks:
        assert name in listed.stdout
    assert not NOISE.search(listed.stdout + listed.stderr), listed.stdout + listed.stderr
