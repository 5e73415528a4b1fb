"""Synthesize environments into cdktf.out/ atomically: a failed run leaves the previous output as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .model import Environment, Environments
from .preload import wait_for_bindings



@dataclass(frozen=True)
class SynthResult:
    outdir: Path
    stacks: dict[str, dict]      # stack name -> synthesized Terraform JSON


def build_app(envs: Environments, selected: list[Environment], outdir: Path):
    """An App holding `<env>-azure` and `<env>-databricks` for each selected environment."""
    wait_for_bindings()
    from cdktn import App  # jsii starts a Node process on first import: import late, once

    from .stacks.azure import AzureStack
    from .stacks.databricks import DatabricksStack

    app = App(outdir=str(outdir), skip_validation=False)
    # Every azure stack first, even for a single selected environment: a databricks stack also references
    # its peers' workspaces and principals (catalog bindings and grants along the promotion path) as
    # cross-stack references, so `--env prod` produces exactly what a full synth does for prod.
    foundations = {env.name: AzureStack(app, f"{env.name}-azure", env=env, envs=envs).foundation for env in envs}
    for env in selected:
        DatabricksStack(app, f"{env.name}-databricks", env=env, envs=envs, foundation=foundations[env.name],
                        peers={name: foundation for name, foundation in foundations.items() if name != env.name})
    return app


def _read_stacks(outdir: Path) -> dict[str, dict]:
    import json

    stacks = {}
    for path in sorted((outdir / "stacks").glob("*/cdk.tf.json")):
        stacks[path.parent.name] = json.loads(path.read_text())
    return stacks


def synthesize(envs: Environments, outdir: Path | str = "cdktf.out", only: list[str] | None = None) -> SynthResult:
    """Synthesize into a sibling temp folder, then swap it into place in one rename.

    With `only`, the other environments' stacks already in outdir are kept as they were.
    """
    outdir = Path(outdir).resolve()
    selected = [envs[name] for name in only] if only else list(envs)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        build_app(envs, selected, staging).synth()
        if only and (outdir / "stacks").is_dir():
            fresh = {p.name for p in (staging / "stacks").iterdir()}
            for previous in (outdir / "stacks").iterdir():
                if previous.name not in fresh:
                    shutil.copytree(previous, staging / "stacks" / previous.name)
            _merge_manifest(outdir, staging)
        stacks = _read_stacks(staging)
        _swap(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SynthResult(outdir, stacks)


def _merge_manifest(previous: Path, fresh: Path) -> None:
    import json

    old, new = previous / "manifest.json", fresh / "manifest.json"
    if old.exists() and new.exists():
        merged = json.loads(old.read_text())
        merged.setdefault("stacks", {}).update(json.loads(new.read_text()).get("stacks", {}))
        new.write_text(json.dumps(merged, indent=2))


def _swap(staging: Path, outdir: Path) -> None:
    # rename() is atomic per path; the old tree is moved aside first and removed only after the swap.
    retired = None
    if outdir.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old.", dir=outdir.parent))
        os.rename(outdir, retired / outdir.name)
    os.rename(staging, outdir)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
