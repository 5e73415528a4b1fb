"""Generated CI is data, not code: hostile values in the definitions (the attack pass's corpus, and what
hypothesis makes of it) are refused with their exit code and a located message, or rendered inert: actionlint
clean, no expression from the YAML in the output, the value read back where it was meant to go."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lakegate.ci import guard
from lakegate.ci.plan import Note, Step, build_plan
from lakegate.ci.render import generated
from lakegate.cli.app import main
from lakegate.infra.errors import DefinitionError
from lakegate.infra.loader import load_environments

from .helpers import copy_examples, edit

DEV_GITHUB = "github: {repository: contoso/lakegate-ml, environment: dev}"
DEV_CONNECTION = "service_connection: lakegate-dev"
DEV_BRANCH = "provider: gitHub, branch: main}"


def quoted(value: str) -> str:
    return json.dumps(value)   # a JSON string is a YAML double-quoted scalar: the value arrives as written


# (file, old text, new text, the YAML path the located message names): each must be refused with exit 2.
REFUSED = {
    "github environment is an expression": (DEV_GITHUB, "github: {repository: contoso/lakegate-ml, environment: "
                                            + quoted("${{ github.event.pull_request.title }}") + "}",
                                            "ci_oidc.github.environment"),
    "branch glob **": (DEV_BRANCH, f"provider: gitHub, branch: {quoted('**')}}}", "workflows.code.branch"),
    "branch that opens a new trigger": (DEV_BRANCH, "provider: gitHub, branch: "
                                        + quoted("main]\n  workflow_dispatch: {}") + "}", "workflows.code.branch"),
    "branch negation !main": (DEV_BRANCH, f"provider: gitHub, branch: {quoted('!main')}}}", "workflows.code.branch"),
    "branch with a quote": (DEV_BRANCH, f"provider: gitHub, branch: {quoted(chr(39) + ') || true')}}}",
                            "workflows.code.branch"),
    "branch with ..": (DEV_BRANCH, "provider: gitHub, branch: a..b}", "workflows.code.branch"),
    "branch like an option": (DEV_BRANCH, "provider: gitHub, branch: -main}", "workflows.code.branch"),
    "unicode look-alike branch": (DEV_BRANCH, "provider: gitHub, branch: m\u0430in}", "workflows.code.branch"),
    "very long branch": (DEV_BRANCH, f"provider: gitHub, branch: {'b' * 5000}}}", "workflows.code.branch"),
    "service connection is a macro": (DEV_CONNECTION, "service_connection: " + quoted("$(System.AccessToken)"),
                                      "azure_devops.service_connection"),
    "service connection is a runtime expression": (DEV_CONNECTION, "service_connection: " + quoted("$[variables.x]"),
                                                   "azure_devops.service_connection"),
    "service connection with a newline": (DEV_CONNECTION, "service_connection: " + quoted("a\nb"),
                                          "azure_devops.service_connection"),
    "organization with a slash": ("organization: contoso", "organization: contoso/evil", "azure_devops.organization"),
    "repository with an expression": (DEV_GITHUB, "github: {repository: " + quoted("contoso/${{ github.actor }}")
                                      + ", environment: dev}", "ci_oidc.github.repository"),
    "repository ..": (DEV_GITHUB, "github: {repository: contoso/.., environment: dev}", "ci_oidc.github.repository"),
    "very long github environment": (DEV_GITHUB, "github: {repository: contoso/lakegate-ml, environment: "
                                     + "e" * 300 + "}", "ci_oidc.github.environment"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_values_are_refused_by_the_loader_with_a_located_message(case, tmp_path, capsys):
    old, new, field = REFUSED[case]
    folder = copy_examples(tmp_path / "environments")
    line = edit(folder / "dev.yaml", old, new)
    capsys.readouterr()
    assert main(["ci", "render", "--root", str(tmp_path), "--environments", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"dev.yaml:{line}: " in err and field in err and "Traceback" not in err
    assert not (tmp_path / ".github").exists() and not (tmp_path / "azure-pipelines.yml").exists()


@pytest.mark.parametrize("name", ["${{ github.event.pull_request.title }}", "$(id)", "it's", "new\nline",
                                  "\u0435nvironments", "x" * 250, "-rf"])
def test_an_environments_folder_that_is_not_a_plain_name_is_refused(name, tmp_path, capsys):
    folder = copy_examples(tmp_path / name)
    capsys.readouterr()
    assert main(["ci", "render", "--root", str(tmp_path), "--environments", str(folder)]) == 64
    err = capsys.readouterr().err
    assert "--environments" in err and "plainly named folder" in err and "Traceback" not in err
    assert not (tmp_path / ".github").exists()


def render_tree(folder: Path, root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in [*root.glob(".github/workflows/*.yml"),
                                                              root / "azure-pipelines.yml"]}


ACCEPTED = {
    "dotted github environment": (DEV_GITHUB, "github: {repository: contoso/lakegate-ml, environment: dev.eu_1-x}",
                                  "dev.eu_1-x"),
    "service connection with spaces": (DEV_CONNECTION, "service_connection: lakegate dev eu", "lakegate dev eu"),
    "branch with a slash": (DEV_BRANCH, "provider: gitHub, branch: release/2026.12}", "release/2026.12"),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_literal_values_render_inert_and_quoted(case, tmp_path, capsys):
    old, new, value = ACCEPTED[case]
    folder = copy_examples(tmp_path / "environments")
    edit(folder / "dev.yaml", old, new)
    if case == "branch with a slash":   # staging runs from the same branch as dev
        edit(folder / "staging.yaml", DEV_BRANCH, new)
    assert main(["ci", "render", "--root", str(tmp_path), "--environments", str(folder)]) == 0, capsys.readouterr().err
    files = render_tree(folder, tmp_path)
    text = "\n".join(files.values())
    assert quoted(value) in text                                          # emitted as a double-quoted string
    dev = yaml.safe_load(files[".github/workflows/deploy-dev.yml"])
    pipeline = yaml.safe_load(files["azure-pipelines.yml"])
    if "environment" in case:
        assert dev["jobs"]["deploy"]["environment"] == value
    elif "connection" in case:
        stage = next(s for s in pipeline["stages"] if s["stage"] == "deploy_dev")
        steps = stage["jobs"][-1]["strategy"]["runOnce"]["deploy"]["steps"]
        assert {s["inputs"]["azureSubscription"] for s in steps if "AzureCLI" in s.get("task", "")} == {value}
    else:
        assert dev["on"]["push"]["branches"] == [value] and pipeline["trigger"]["branches"]["include"] == [value]


def test_the_guard_catches_an_expression_no_grammar_covers(envs):
    """A step name built from a value no grammar checks yet: render refuses it on both platforms."""
    for platform, hostile in (("github", "${{ github.event.pull_request.title }}"), ("github", "${{ github.actor"),
                              ("azure-devops", "$(System.AccessToken)"), ("azure-devops", "$[variables.x]")):
        plan = build_plan(envs, platform)
        workflow = plan.workflows[1]
        job = workflow.jobs[0]
        steps = tuple(dataclasses.replace(s, name=f"writes {hostile}") if isinstance(s, Step) and s.id == "check"
                      else s for s in job.steps)
        workflow = dataclasses.replace(workflow, jobs=(dataclasses.replace(job, steps=steps), *workflow.jobs[1:]))
        plan = dataclasses.replace(plan, workflows=(plan.workflows[0], workflow, *plan.workflows[2:]))
        from lakegate.ci import azure_devops, github
        files = github.render(plan) if platform == "github" else azure_devops.render(plan)
        findings = guard.check(plan, files, lint=False)
        assert findings and all(f.env == workflow.env for f in findings), findings
        assert hostile[:2] in findings[0].message and hostile in findings[0].generated
    clean = build_plan(envs, "github")
    assert guard.check(clean, generated(envs, "github")) == []          # the examples: nothing, actionlint included
    assert not [s for w in clean.workflows for j in w.jobs for s in j.steps if isinstance(s, Note) and "${{" in s.text]


def test_actionlint_findings_refuse_the_render(envs):
    plan = build_plan(envs, "github")
    files = generated(envs, "github")
    broken = {path: text.replace("runs-on:", "run-on:") if path.endswith("deploy-prod.yml") else text
              for path, text in files.items()}
    findings = guard.check(plan, broken)
    assert findings and {f.file for f in findings} == {".github/workflows/deploy-prod.yml"}
    assert all(f.env == "prod" and f.message.startswith("actionlint: ") for f in findings)


# --- property: any value is refused by the loader, or renders inert -----------------------------------------------

HOSTILE = st.text(alphabet=st.sampled_from(list("abcXYZ019._-/ ") + ["$", "{", "}", "(", ")", "[", "]", "*", "?",
                                                                    "!", "'", '"', "\n", "`", "\\", "#", ":", "+",
                                                                    "\u0430", "\u200b", "@"]),
                  min_size=1, max_size=40)
FIELDS = {"environment": (DEV_GITHUB, lambda v: "github: {repository: contoso/lakegate-ml, environment: "
                          + quoted(v) + "}"),
          "service_connection": (DEV_CONNECTION, lambda v: "service_connection: " + quoted(v)),
          "branch": (DEV_BRANCH, lambda v: "provider: gitHub, branch: " + quoted(v) + "}")}


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    return copy_examples(tmp_path_factory.mktemp("hostile") / "environments")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(FIELDS)), value=HOSTILE)
def test_any_value_is_refused_or_rendered_inert(examples, field, value):
    original = (examples / "dev.yaml").read_text()
    old, new = FIELDS[field]
    try:
        edit(examples / "dev.yaml", old, new(value))
        if field == "branch":
            staging = (examples / "staging.yaml").read_text()
            (examples / "staging.yaml").write_text(staging.replace(old, new(value)))
        try:
            envs = load_environments(examples)
        except DefinitionError as exc:            # refused: `ci render` exits 2 with these located problems
            event("refused")
            assert any(p.file.endswith("dev.yaml") and p.line > 0 for p in exc.problems), exc
            return
        event("accepted")
        rendered = {}
        for platform in ("github", "azure-devops"):
            plan = build_plan(envs, platform)
            files = generated(envs, platform)
            assert guard.check(plan, files, lint=platform == "github") == []
            rendered.update(files)
        # Where it was meant to go, as the value itself: a double-quoted string.
        where = "azure-pipelines.yml" if field == "service_connection" else ".github/workflows/deploy-dev.yml"
        assert quoted(value) in rendered[where]
        document = yaml.safe_load(rendered[where])
        if field == "environment":
            assert document["jobs"]["deploy"]["environment"] == value
        elif field == "branch":
            assert document["on"]["push"]["branches"] == [value]
        for hazard in ("${{", "$(", "$[", "\n", "'", "*", "?", "[", "!"):
            assert hazard not in value                # only literals got this far
    finally:
        (examples / "dev.yaml").write_text(original)
        if field == "branch":
            (examples / "staging.yaml").write_text((examples / "staging.yaml").read_text().replace(new(value), old))
