"""Grammars of the values `ci render` copies from the YAML into generated pipelines.

A generated workflow is code that GitHub and Azure DevOps evaluate: `${{ … }}` is a GitHub expression
anywhere in a workflow, `$( … )` and `$[ … ]` are Azure DevOps macros in any script, input or name, a branch
filter is a glob (`**` matches every branch), a quote ends a condition's string literal, and a newline starts
a new YAML key. So every such value is a literal from a small alphabet, checked when the YAML is loaded (the
loader reports the file and line). The alphabets are ASCII only: a look-alike (`mаin` with a Cyrillic а)
never names something else than it seems to.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# What no CI value may contain, with what it would become, checked first so the message says why.
_HAZARDS = (
    ("${{", "a GitHub Actions expression"),
    ("$(", "an Azure DevOps macro or a shell substitution"),
    ("$[", "an Azure DevOps runtime expression"),
    ("\n", "a line break"),
    ("\r", "a line break"),
    ("'", "a quote (it would end a string in a pipeline condition)"),
    ('"', "a quote"),
    ("`", "a shell substitution"),
)
_GLOB = set("*?[]!+")


def _hazard(value: str) -> str | None:
    for text, what in _HAZARDS:
        if text in value:
            return what
    return None


def _grammar(pattern: str, what: str, max_length: int, glob_literal: bool = False):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        hazard = _hazard(value)
        if hazard is not None:
            raise ValueError(f"{value!r} is not a valid {what}: it contains {hazard}")
        if glob_literal and _GLOB & set(value):
            found = "".join(sorted(_GLOB & set(value)))
            raise ValueError(f"{value!r} is not a valid {what}: {found!r} would make it a pattern (a literal is meant)")
        if len(value) > max_length:
            raise ValueError(f"{value[:40]!r}… is not a valid {what}: longer than {max_length} characters")
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return check


def check_ref_name(value: str, what: str = "git branch or tag name") -> str:
    """A literal git ref (git check-ref-format's rules, in a safe alphabet): `main`, `release/1.2`."""
    _grammar(r"[A-Za-z0-9._/-]+", f"{what} (letters, digits, '.', '_', '-', '/')", 200, glob_literal=True)(value)
    problems = [
        (value.startswith("-"), "it starts with '-'"),
        (".." in value, "it contains '..'"),
        ("//" in value, "it contains '//'"),
        (value.startswith("/") or value.endswith("/"), "it starts or ends with '/'"),
        (value.endswith("."), "it ends with '.'"),
        (any(part.startswith(".") or part.endswith(".lock") for part in value.split("/")),
         "a component starts with '.' or ends with '.lock'"),
        (value == "@", "it is '@'"),
    ]
    for failed, why in problems:
        if failed:
            raise ValueError(f"{value!r} is not a valid {what}: {why}")
    return value


GitRef = Annotated[str, AfterValidator(check_ref_name)]
GithubEnvironmentName = Annotated[str, AfterValidator(_grammar(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?", "GitHub environment name (letters, digits, '.', '_', '-')", 100))]
GithubRepository = Annotated[str, AfterValidator(_grammar(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}",
    "GitHub repository (`owner/name`: letters, digits, '-' in the owner; also '.', '_' in the name)", 140))]
AzureDevOpsOrganization = Annotated[str, AfterValidator(_grammar(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,48}[A-Za-z0-9])?", "Azure DevOps organization (letters, digits, '-')", 50))]
AzureDevOpsName = Annotated[str, AfterValidator(_grammar(
    r"[A-Za-z0-9](?:[A-Za-z0-9 ._-]*[A-Za-z0-9_])?",
    "Azure DevOps name (letters, digits, ' ', '.', '_', '-')", 64))]

_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def check_relative_folder(value: str) -> str:
    """The environments folder as the generated `run:` lines name it: a plain relative path inside the
    repository (`environments`, `config/envs`), so it is one shell word and one YAML literal."""
    hazard = _hazard(value)
    if hazard is not None:
        raise ValueError(f"{value!r}: it contains {hazard}")
    if len(value) > 200:
        raise ValueError(f"{value[:40]!r}…: longer than 200 characters")
    parts = value.split("/")
    if value.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{value!r}: not a plain relative path inside the repository (no '..', '.', '//', "
                         "leading or trailing '/')")
    bad = next((p for p in parts if not _FOLDER.fullmatch(p)), None)
    if bad is not None:
        raise ValueError(f"{value!r}: the part {bad!r} is not letters, digits, '.', '_', '-' (and does not start "
                         "with '-' or '.')")
    return value
