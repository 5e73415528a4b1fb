"""Snapshots of every synthesized stack (cdk.tf.json without cdktn's `//` metadata).

A change to what we synthesize shows up here as a readable diff. After an intended change, refresh:
    LAKEGATE_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_snapshots.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
ROOT = Path(__file__).resolve().parent.parent
UPDATE = os.environ.get("LAKEGATE_UPDATE_SNAPSHOTS") == "1"


def strip_metadata(document):
    """Drop cdktn's `//` blocks (construct paths, version) and machine-specific absolute paths."""
    if isinstance(document, dict):
        return {key: strip_metadata(value) for key, value in document.items() if key != "//"}
    if isinstance(document, list):
        return [strip_metadata(value) for value in document]
    if isinstance(document, str):
        for prefix in {str(ROOT), str(Path.cwd())}:
            document = document.replace(prefix, "<root>")
    return document


def render(stack_json: dict) -> str:
    return json.dumps(strip_metadata(stack_json), indent=2, sort_keys=True) + "\n"


def test_strip_metadata_keeps_everything_else():
    document = {"//": {"metadata": 1}, "resource": {"t": {"a": {"//": {"path": "x"}, "name": f"{ROOT}/state"}}}}
    assert strip_metadata(document) == {"resource": {"t": {"a": {"name": "<root>/state"}}}}


def test_every_stack_matches_its_snapshot(synthesized):
    assert synthesized.stacks, "nothing was synthesized"
    rendered = {name: render(body) for name, body in synthesized.stacks.items()}
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        for stale in SNAPSHOTS.glob("*.json"):
            if stale.stem not in rendered:
                stale.unlink()
        for name, text in rendered.items():
            (SNAPSHOTS / f"{name}.json").write_text(text)

    problems = []
    stored = {path.stem for path in SNAPSHOTS.glob("*.json")}
    for name in sorted(stored - set(rendered)):
        problems.append(f"{name}: snapshot of a stack that is no longer synthesized")
    for name, text in sorted(rendered.items()):
        path = SNAPSHOTS / f"{name}.json"
        if not path.exists():
            problems.append(f"{name}: no snapshot")
            continue
        expected = path.read_text()
        if expected != text:
            diff = difflib.unified_diff(expected.splitlines(), text.splitlines(),
                                        f"snapshots/{name}.json", f"synthesized {name}", lineterm="", n=2)
            problems.append("\n".join(list(diff)[:60]))
    assert not problems, ("\n\n".join(problems)
                          + "\n\nIf the change is intended: LAKEGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py")
