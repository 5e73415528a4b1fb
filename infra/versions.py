"""The versions lakegate is tested with, read from one place: its own pyproject.toml in a checkout, the installed
distribution's metadata otherwise (a wheel carries no pyproject.toml, but its metadata holds the same pins).

Two readers: the Databricks jobs pin `lakegate==<version>` on their clusters (job_plan.py) and guardrail
LG-COMPUTE-002 compares a runtime's Spark major with the pinned pyspark's (the engine `run --engine spark` tests).
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from functools import lru_cache
from pathlib import Path

DISTRIBUTION = "lakegate"
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*(?:;.*)?$")


class VersionUnknown(LookupError):
    """lakegate's own version, or a pin, cannot be read (neither a checkout's pyproject.toml nor installed metadata)."""


@lru_cache(maxsize=1)
def _project() -> dict | None:
    """[project] of the nearest pyproject.toml above this file that is lakegate's (a checkout), else None."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                project = tomllib.loads(candidate.read_text()).get("project", {})
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if project.get("name") == DISTRIBUTION:
                return project
    return None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lakegate_version() -> str:
    """The version of lakegate running here: what a job cluster must install to run exactly what was tested."""
    project = _project()
    if project is not None and project.get("version"):
        return str(project["version"])
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise VersionUnknown("lakegate's version: no pyproject.toml of lakegate and no installed distribution") from None


def lakegate_requirement() -> str:
    """`lakegate==<version>`: the PyPI library every framework task of a deployed job installs on its cluster."""
    return f"{DISTRIBUTION}=={lakegate_version()}"


def pinned_version(package: str) -> str | None:
    """The exact version lakegate pins `package` to (`package==X` among its dependencies), or None."""
    project = _project()
    if project is not None:
        requirements = project.get("dependencies", [])
    else:
        try:
            requirements = importlib.metadata.requires(DISTRIBUTION) or []
        except importlib.metadata.PackageNotFoundError:
            requirements = []
    for requirement in requirements:
        match = _PIN.match(requirement)
        if match and _normal(match.group(1)) == _normal(package):
            return match.group(2)
    return None
