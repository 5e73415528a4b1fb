"""Private temporary folders for model files, named after the process that owns them.

Copies kept for the gates (copy_cache.py) and models loaded for smoke inference live in folders of
the system temp directory (mode 0700, from mkdtemp) that their process removes when done or at exit.
A process killed with SIGKILL cannot, so each folder name carries its owner's pid, and the first
folder a process makes sweeps away those of processes that no longer exist (only folders of our
own user; a live or unknown pid is left alone).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

COPIES = "lakegate-copies-"
MODEL = "lakegate-model-"
_OWNED = re.compile(rf"^(?:{re.escape(COPIES)}|{re.escape(MODEL)})(\d+)-")
_swept = False
_sweep_lock = threading.Lock()


def make(prefix: str) -> Path:
    """A new private folder `<tmp>/<prefix><pid>-XXXX`."""
    _sweep_once()
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def sweep_orphans(directory: str | Path | None = None) -> list[Path]:
    """Remove the folders left by dead processes in `directory` (the temp dir by default)."""
    removed = []
    base = Path(directory or tempfile.gettempdir())
    try:
        candidates = list(base.iterdir())
    except OSError:
        return removed
    for path in candidates:
        match = _OWNED.match(path.name)
        if not match or _alive(int(match.group(1))):
            continue
        try:
            if path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _sweep_once() -> None:
    global _swept
    with _sweep_lock:
        if _swept:
            return
        _swept = True
    sweep_orphans()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid we wrote: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
