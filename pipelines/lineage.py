"""Lineage that does not lie: which commit built a model, and whether that commit holds the code that ran.

`lineage_tags(entry_point)` is what training tags a run and a registered version with:

* git_commit, git_repository, git_author: CI's variables first (LAKEGATE_GIT_*, GITHUB_SHA, BUILD_SOURCEVERSION,
  ...), then git itself;
* git_dirty ("true" / "false" / "unknown" without a repository) and, when dirty, git_diff_sha256: the digest of
  `git diff HEAD` plus the names of untracked files, so two runs from the same uncommitted change can be told apart
  from two runs from different ones;
* git_entry_point (the training code's path relative to the repository root), git_entry_point_sha256 (of the file
  that actually ran) and git_entry_point_in_commit ("true" only when the recorded commit holds that path with
  exactly those bytes).

The repository looked at is the project's own checkout, or LAKEGATE_LINEAGE_ROOT (tests use a throwaway one).
Only a commit id (checked) and a checked relative path reach git's command line, and git runs with a minimal
environment: nothing of this process (no credential) reaches it. The lineage gate (promotion/gates/lineage.py)
verifies the same facts again where a checkout is at hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from lakegate.project import project_root

ROOT_VARIABLE = "LAKEGATE_LINEAGE_ROOT"

# Tag keys (promotion/registry_tags.py names the same keys for promotion; pipelines do not import promotion here).
GIT_COMMIT, GIT_REPOSITORY, GIT_AUTHOR = "git_commit", "git_repository", "git_author"
GIT_DIRTY, GIT_DIFF_SHA256 = "git_dirty", "git_diff_sha256"
GIT_ENTRY_POINT, GIT_ENTRY_POINT_SHA256, GIT_ENTRY_POINT_IN_COMMIT = (
    "git_entry_point", "git_entry_point_sha256", "git_entry_point_in_commit")

_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")
_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


def repository_root() -> Path:
    """The checkout lineage is read from (and the lineage gate verifies against)."""
    override = os.environ.get(ROOT_VARIABLE, "").strip()
    return Path(override).expanduser().resolve() if override else project_root()


def is_commit_id(text: str) -> bool:
    return bool(_COMMIT.fullmatch(text or ""))


def check_entry_point(entry_point: str) -> str:
    """A plain relative path inside the repository (posix, no `..`, no option-like or odd characters)."""
    if not _PATH.fullmatch(entry_point or "") or ".." in entry_point.split("/"):
        raise ValueError(f"entry point {entry_point!r} is not a plain path relative to the repository root")
    return entry_point


def lineage_tags(entry_point: str, ran: str | os.PathLike | None = None) -> dict[str, str]:
    """The lineage tags of code at `entry_point` (relative to the repository root); `ran` is the file that actually
    ran when it is not the repository's own copy (default: `<root>/<entry_point>`)."""
    entry_point = check_entry_point(entry_point)
    root = repository_root()
    commit = os.environ.get("LAKEGATE_GIT_COMMIT") or os.environ.get("GITHUB_SHA") \
        or os.environ.get("BUILD_SOURCEVERSION") or git(root, "rev-parse", "HEAD")
    top = git(root, "rev-parse", "--show-toplevel")
    repository = os.environ.get("LAKEGATE_GIT_REPOSITORY") or _github_repository() \
        or os.environ.get("BUILD_REPOSITORY_URI") or git(root, "config", "--get", "remote.origin.url") \
        or (f"file://{top}" if top else "")
    author = os.environ.get("LAKEGATE_GIT_AUTHOR") or (
        git(root, "log", "-1", "--format=%ae", commit, "--") if is_commit_id(commit) else "")
    file_digest = _file_sha256(Path(ran) if ran is not None else root / entry_point)
    tags = {GIT_COMMIT: commit, GIT_REPOSITORY: repository}
    if author:
        tags[GIT_AUTHOR] = author
    dirty = _dirty_digest(root) if top else None
    tags[GIT_DIRTY] = "unknown" if top == "" else ("true" if dirty else "false")
    if dirty:
        tags[GIT_DIFF_SHA256] = dirty
    blob = blob_sha256(root, commit, entry_point) if top else None
    tags.update({GIT_ENTRY_POINT: entry_point, GIT_ENTRY_POINT_SHA256: file_digest,
                 GIT_ENTRY_POINT_IN_COMMIT: str(bool(file_digest) and blob == file_digest).lower()})
    return tags


def blob_sha256(root: Path, commit: str, path: str) -> str | None:
    """sha256 of `path` as commit `commit` holds it in the repository at `root`; None when it does not."""
    if not is_commit_id(commit):
        return None
    check_entry_point(path)
    content = _git_bytes(root, "cat-file", "blob", f"{commit}:{path}")
    return hashlib.sha256(content).hexdigest() if content is not None else None


def commit_exists(root: Path, commit: str) -> bool:
    return is_commit_id(commit) and _git_bytes(root, "cat-file", "-e", f"{commit}^{{commit}}") is not None


def is_repository(root: Path) -> bool:
    return bool(git(root, "rev-parse", "--show-toplevel"))


def git(root: Path, *args: str) -> str:
    """git's stdout (stripped text), "" when git fails or is missing."""
    out = _git_bytes(root, *args)
    return out.decode("utf-8", "replace").strip() if out is not None else ""


def _git_bytes(root: Path, *args: str) -> bytes | None:
    # An explicit, minimal environment: nothing of this process (no credential, no GIT_DIR) reaches git.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL") if k in os.environ}
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=30, check=True,
                              env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _dirty_digest(root: Path) -> str:
    """"" for a clean tree; else the sha256 of `git diff HEAD` and the untracked files' names."""
    status = _git_bytes(root, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    if status is None:
        return hashlib.sha256(b"git status failed").hexdigest()  # cannot prove clean: dirty
    if not status:
        return ""
    diff = _git_bytes(root, "diff", "HEAD", "--binary") or b""
    untracked = _git_bytes(root, "ls-files", "--others", "--exclude-standard", "-z") or b""
    return hashlib.sha256(diff + b"\0untracked\0" + untracked).hexdigest()


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _github_repository() -> str:
    name = os.environ.get("GITHUB_REPOSITORY")
    return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{name}" if name else ""
