"""What may be replaced by a synth: an absent or empty folder, or a previous synth output. Nothing heavy is
imported here, so `synth` refuses a wrong `--out` (and checks for no change) before loading the model."""

from __future__ import annotations

import json
from pathlib import Path

from .synth_inputs import STATE_FILE

# What may be in a folder for it to count as a previous synth output (anything else: refuse to replace it).
_OUTPUT_ENTRIES = {"manifest.json", "stacks", STATE_FILE}


class OutputRefused(Exception):
    """The output path holds something a synth did not write; it is left untouched."""

    kind = "INVALID_REQUEST"  # the exit code's name (cli/exit_codes.py): the --out asked for is unusable


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_output_dir(outdir: Path) -> None:
    """Raise OutputRefused unless `outdir` is absent, empty, or a previous synth output."""
    if not outdir.exists() and not outdir.is_symlink():
        return
    if not outdir.is_dir():
        raise OutputRefused(f"{outdir} exists and is not a folder; refusing to replace it with a synth output")
    entries = {entry.name for entry in outdir.iterdir()}
    if not entries or not any(path.is_file() or path.is_symlink() for path in outdir.rglob("*")):
        return  # empty, or only empty folders (an interrupted run's `stacks/`): nothing to lose
    foreign = sorted(entries - _OUTPUT_ENTRIES)
    manifest = read_json(outdir / "manifest.json")
    if foreign or not (isinstance(manifest, dict) and "stacks" in manifest and "version" in manifest):
        what = f"holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}" if foreign else "has no cdktf manifest"
        raise OutputRefused(f"{outdir} is not a previous synth output ({what}); refusing to replace it: "
                            "choose an empty or new folder")
