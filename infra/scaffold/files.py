"""Write a scaffold's files all or nothing: everything is written, then checked by the caller; `restore` puts back
every file exactly as it was (created ones removed) when the check fails or a write does."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    # Beside the target, then renamed over it: a file is never seen half-written. A fresh name (O_EXCL, no symlink
    # followed): a planted `.prod.yaml.lakegate-new -> ~/somefile` must not be written through. The file keeps its mode.
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".lakegate-new")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Transaction:
    def __init__(self, files: dict[Path, str]):
        self.files = files
        self.saved: dict[Path, bytes | None] = {}
        self.folders: list[Path] = []  # created for a new file (models/): removed again on restore

    def write(self) -> None:
        try:
            for path, text in self.files.items():
                self.saved[path] = path.read_bytes() if path.exists() else None
                missing = [f for f in (path.parent, *path.parent.parents) if not f.exists()]
                path.parent.mkdir(parents=True, exist_ok=True)
                self.folders += missing
                _write(path, text)
        except BaseException:
            self.restore()
            raise

    def restore(self) -> None:
        for path, before in self.saved.items():
            if before is None:
                path.unlink(missing_ok=True)
            else:
                _write_bytes(path, before)
        for folder in self.folders:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: something else was put there meanwhile
        self.saved, self.folders = {}, []
