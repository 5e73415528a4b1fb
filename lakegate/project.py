"""Where a project's files are, and where the toolkit's own files are.

A project is the folder holding `cdktf.json` (the cdktf convention): its definitions (`environments/`), its user
code, `cdktf.out/` and the local state folder (`.lakegate/`) are relative to it, never to where lakegate is
installed. The toolkit's own files (the framework's task modules, report templates) are read from the installed
package, or from the checkout in this repository, which is both the toolkit and an example project.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_MARKER = "cdktf.json"
# lakegate/ in a checkout holds only this package's own modules; the parts (pipelines/, infra/, ...) are its
# siblings there, and inside it once installed.
_PACKAGE = Path(__file__).resolve().parent
TOOLKIT_ROOT = _PACKAGE if (_PACKAGE / "pipelines").is_dir() else _PACKAGE.parent


def enclosing_project(start: Path | None = None) -> Path | None:
    """The nearest folder from `start` (the working directory) up that holds cdktf.json, or None.

    The walk stops at the first repository root (a folder with `.git`) and at the home folder, and a folder someone
    else owns or anyone may write is no project: a cdktf.json planted in a shared parent (/tmp/shared/cdktf.json) must not
    choose the definitions, the model code or the Node (.tools/) a command runs."""
    here = (start or Path.cwd()).resolve()
    home = Path.home().resolve() if os.environ.get("HOME") else None
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder if _trusted(folder) else None
        if (folder / ".git").exists() or folder == home:
            return None
    return None


def _trusted(folder: Path) -> bool:
    try:
        status = folder.stat()
    except OSError:
        return False
    return status.st_uid == os.getuid() and not status.st_mode & 0o002


def project_root(start: Path | None = None) -> Path:
    """LAKEGATE_PROJECT_ROOT if set, else the nearest folder from `start` (the working directory) up that holds
    cdktf.json, else this checkout when it is a project itself, else the working directory."""
    override = os.environ.get("LAKEGATE_PROJECT_ROOT")
    if override:
        return Path(override).expanduser().resolve()
    found = enclosing_project(start)
    if found is not None:
        return found
    if (TOOLKIT_ROOT / PROJECT_MARKER).is_file():
        return TOOLKIT_ROOT
    return (start or Path.cwd()).resolve()
