"""Test helpers: copy the example environments and edit them as text, the way a person would."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "environments"


def copy_examples(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace `old` (literal) in the file; return the 1-based line of the first replacement."""
    text = path.read_text()
    index = text.find(old)
    assert index >= 0, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))
    return text[:index].count("\n") + 1


def line_of(path: Path, pattern: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.search(pattern, line):
            return number
    raise AssertionError(f"{pattern!r} not in {path.name}")
