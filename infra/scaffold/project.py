"""`lakegate init DIR`: a new project repository a team owns.

It holds the example environments and models (this repository's, which the toolkit is tested against), the
launchers its Databricks jobs run, its CI pipelines, a README, a test that runs its `check`, and a pin of the
lakegate it was made with. Everything is written into a hidden folder beside DIR and renamed into place at the
end: on any refusal or failure nothing is left behind.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import lakegate
from lakegate.project import TOOLKIT_ROOT

from . import ScaffoldError

if TYPE_CHECKING:
    from lakegate.infra.model import Environments

TEMPLATES = Path(lakegate.__file__).resolve().parent / "templates" / "project"
# The wheel ships the examples as lakegate/example_project (setup.py); a checkout has them at its root.
EXAMPLES = TOOLKIT_ROOT / "example_project" if (TOOLKIT_ROOT / "example_project").is_dir() else TOOLKIT_ROOT
EXAMPLE_REPOSITORY = "contoso/lakegate-ml"
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


def project_files(name: str, repository: str, version: str, requirement: str) -> dict[str, str]:
    """Relative path -> text of every file of a new project (the CI pipelines are added by `create`)."""
    from jinja2 import Template

    from lakegate.pipelines.launch import launchers

    files = {f"environments/{p.name}": p.read_text().replace(EXAMPLE_REPOSITORY, repository)
             for p in sorted((EXAMPLES / "environments").glob("*.yaml"))}
    files |= {f"models/{p.name}": p.read_text() for p in sorted((EXAMPLES / "models").glob("*.py"))
              if p.name != "__init__.py"}
    files |= launchers()
    files |= {"main.py": (TEMPLATES / "main.py").read_text(), "Makefile": (TEMPLATES / "Makefile").read_text(),
              ".gitignore": (TEMPLATES / "gitignore").read_text(),
              "tests/test_definitions.py": (TEMPLATES / "tests" / "test_definitions.py").read_text(),
              "README.md": Template((TEMPLATES / "README.md.j2").read_text(), keep_trailing_newline=True).render(
                  name=name, version=version),
              "requirements.txt": f"# The pinned lakegate: upgrading is a version bump here.\n{requirement}\n",
              "cdktf.json": json.dumps({"language": "python", "app": ".venv/bin/python main.py", "output": "cdktf.out",
                                        "projectId": name, "sendCrashReports": "false", "terraformProviders": [],
                                        "terraformModules": [], "context": {}}, indent=2) + "\n"}
    return files


def requirement_line(version: str, wheel: Path | None) -> str:
    """`lakegate==X` from the package index, or the wheel pinned by its SHA-256 where there is no index entry."""
    if wheel is None:
        return f"lakegate=={version}"
    import hashlib

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"lakegate @ {wheel.resolve().as_uri()}#sha256={digest}"


def create(target: Path, *, repository: str | None = None, wheel: Path | None = None,
           derived: Callable[[Environments, Path], dict[Path, str]] | None = None) -> list[str]:
    """Write the project into `target` (absent or an empty folder); the relative paths written. `derived` gives what
    `generate` derives from the definitions (CI pipelines, RULES.md, launchers), written with the rest."""
    from lakegate import __version__
    from lakegate.infra.loader import load_environments

    target = target.expanduser().absolute()
    name = target.name.lower()
    if not _NAME.fullmatch(name):
        raise ScaffoldError("INVALID_REQUEST", f"{target.name!r}: a project folder's name must start with a letter "
                                               "and hold only lowercase letters, digits and '-' (it names the project)")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError("INVALID_REQUEST", f"{target} already exists and is not an empty folder: nothing written")
    if not target.parent.is_dir():
        raise ScaffoldError("INVALID_REQUEST", f"{target.parent} does not exist: nothing written")
    repository = repository or f"contoso/{name}"
    if not _REPOSITORY.fullmatch(repository):
        raise ScaffoldError("INVALID_REQUEST", f"--repository {repository!r}: give OWNER/NAME of the project's "
                                               "GitHub repository")
    if wheel is not None and not (wheel.is_file() and wheel.suffix == ".whl"):
        raise ScaffoldError("INVALID_REQUEST", f"--wheel {wheel}: not a wheel file")
    files = project_files(name, repository, __version__, requirement_line(__version__, wheel))
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.lakegate-init-", dir=target.parent))
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        envs = load_environments(staging / "environments")
        for path, text in (derived(envs, staging) if derived else {}).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            files[path.relative_to(staging).as_posix()] = text
        if target.exists():
            target.rmdir()  # empty: checked above
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(files)
