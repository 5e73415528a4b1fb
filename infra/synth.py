"""Synthesize environments into cdktf.out/ atomically, rebuilding only what changed.

* Atomic: the output is built in a sibling temp folder and swapped in with one rename, so a failed run
  leaves the previous output exactly as it was.
* Never destructive: an output path that exists and is not a previous synth output (the environments
  folder, `.`, a file, a folder with other content) is refused before anything is touched.
* Incremental: a stack whose inputs did not change (synth_inputs.py) is copied byte-identical from the
  previous output; the account stack is rebuilt whenever anything is (it is small and must list every
  environment). Terraform's working files in stack folders (`.terraform/`, `.terraform.lock.hcl`) survive.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .model import Environment, Environments
from .model.account import ACCOUNT_STACK
from .preload import wait_for_bindings
from .synth_inputs import environment_fingerprints, read_state, write_state
from .synth_output import OutputRefused, check_output_dir, read_json as _read_json

__all__ = ["OutputRefused", "SynthResult", "build_app", "check_output_dir", "synthesize"]

# Preconditions and the azurerm backend's OIDC need 1.5+; the JSON is tested with 1.11. Written beside
# cdk.tf.json (Terraform reads every *.tf.json of the folder; checkov's JSON parser refuses it inside).
REQUIRED_TERRAFORM = ">= 1.5.0, < 2.0.0"
VERSIONS_FILE = "versions.tf.json"
# Terraform's own files in a stack folder, kept across synths (providers, lock file, local plans).
_TERRAFORM_FILES = (".terraform", ".terraform.lock.hcl", ".terraform.tfstate.lock.info")


@dataclass(frozen=True)
class SynthResult:
    outdir: Path
    stacks: dict[str, dict]                 # stack name -> synthesized Terraform JSON
    rebuilt: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def build_app(envs: Environments, selected: list[Environment], outdir: Path):
    """An App holding the account stack and `<env>-azure` + `<env>-databricks` of each selected environment.

    An environment's stacks reference nothing of another environment, so `--env prod` builds prod alone and
    produces exactly what a full synth does for prod.
    """
    wait_for_bindings()
    from cdktn import App  # jsii starts a Node process on first import: import late, once

    from .stacks.account import AccountStack
    from .stacks.azure import AzureStack
    from .stacks.databricks import DatabricksStack

    app = App(outdir=str(outdir), skip_validation=False)
    account = AccountStack(app, envs=envs) if envs.account is not None else None
    for env in selected:
        azure = AzureStack(app, f"{env.name}-azure", env=env, envs=envs, account=account)
        DatabricksStack(app, f"{env.name}-databricks", env=env, envs=envs, foundation=azure.foundation, account=account)
    return app


def _read_stacks(outdir: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text()) for path in sorted((outdir / "stacks").glob("*/cdk.tf.json"))}


def synthesize(envs: Environments, outdir: Path | str = "cdktf.out", only: list[str] | None = None,
               definitions: Path | str | None = None, state: dict | None = None) -> SynthResult:
    """Synthesize into a sibling temp folder, then swap it into place in one rename.

    `only`: synthesize these environments; the others' stacks in outdir stay as they were.
    `definitions`: the folder the environments were loaded from; with it, stacks whose inputs did not change
    since the previous synth are reused byte-identical (without it everything is rebuilt). `state`: extra
    facts kept beside the output (the CLI keeps its guardrail verdict there).
    """
    outdir = Path(outdir).absolute()
    check_output_dir(outdir)
    previous = read_state(outdir) if (outdir / "manifest.json").is_file() else {}
    old_stacks = {p.name for p in (outdir / "stacks").iterdir()} \
        if (outdir / "manifest.json").is_file() and (outdir / "stacks").is_dir() else set()
    fingerprints = environment_fingerprints(envs, Path(definitions)) if definitions is not None else {}
    known = previous.get("fingerprints", {})
    selected = [envs[name] for name in only] if only else list(envs)
    rebuild = [env for env in selected
               if not fingerprints or any(known.get(s) != fingerprints.get(s) or s not in old_stacks for s in _stacks_of(env))]
    account_changed = not fingerprints or known.get(ACCOUNT_STACK) != fingerprints.get(ACCOUNT_STACK) \
        or ACCOUNT_STACK not in old_stacks
    if not rebuild and not account_changed and (only or old_stacks == _all_stacks(envs)):
        # Nothing changed: the stacks are not touched; only the facts kept beside them are refreshed.
        if state is not None and {**previous, **state} != previous:
            write_state(outdir, {**{k: v for k, v in previous.items() if k != "format"}, **state})
        return SynthResult(outdir, _read_stacks(outdir), [], sorted(old_stacks))

    rebuilt = {ACCOUNT_STACK} | {s for env in rebuild for s in _stacks_of(env)}
    wanted = _all_stacks(envs) | (old_stacks if only else set())  # a selection keeps the others as they were
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; the output is not secret
        build_app(envs, rebuild, staging).synth()
        for stack in (staging / "stacks").iterdir():
            (stack / VERSIONS_FILE).write_text(json.dumps({"terraform": {"required_version": REQUIRED_TERRAFORM}},
                                                          indent=2) + "\n")
        for name in sorted((wanted & old_stacks) - rebuilt):
            shutil.copytree(outdir / "stacks" / name, staging / "stacks" / name)
        _merge_manifest(outdir, staging, _stack_order(envs, wanted), rebuilt)
        stacks = _read_stacks(staging)
        kept = {s: v for s, v in known.items() if s in stacks and s not in rebuilt}
        write_state(staging, {**(state or {}),
                              "fingerprints": {**kept, **{s: fingerprints[s] for s in rebuilt if s in fingerprints}}})
        moved = _keep_terraform_files(outdir, staging)  # last, right before the swap: nothing can fail between
        try:
            _swap(staging, outdir)
        except BaseException:
            for old, new in moved:
                os.rename(new, old)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SynthResult(outdir, stacks, sorted(rebuilt & set(stacks)), sorted(set(stacks) - rebuilt))


def _stacks_of(env: Environment) -> tuple[str, str]:
    return f"{env.name}-azure", f"{env.name}-databricks"


def _all_stacks(envs: Environments) -> set[str]:
    return {ACCOUNT_STACK} | {s for env in envs for s in _stacks_of(env)}


def _stack_order(envs: Environments, wanted: set[str]) -> list[str]:
    """The order a full synth writes the manifest in (account, then each environment's two stacks)."""
    order = [ACCOUNT_STACK] + [s for env in envs for s in _stacks_of(env)]
    return [s for s in order if s in wanted] + sorted(wanted - set(order))


def _merge_manifest(previous: Path, fresh: Path, order: list[str], rebuilt: set[str]) -> None:
    """The manifest lists every stack in the output: rebuilt ones as just written, kept ones as before."""
    new = _read_json(fresh / "manifest.json") or {}
    old = (_read_json(previous / "manifest.json") or {}).get("stacks", {})
    built = new.get("stacks", {})
    stacks = {name: built[name] if name in rebuilt else old[name] for name in order if name in built or name in old}
    (fresh / "manifest.json").write_text(json.dumps({**new, "stacks": stacks}, indent=2))


def _keep_terraform_files(previous: Path, fresh: Path) -> list[tuple[Path, Path]]:
    """Move Terraform's working files (providers, lock file) of each stack folder into the new output;
    returns what moved, so a failed swap can put it back."""
    moved = []
    for stack in sorted((fresh / "stacks").iterdir()) if (fresh / "stacks").is_dir() else []:
        for name in _TERRAFORM_FILES:
            old = previous / "stacks" / stack.name / name
            if old.exists() and not (stack / name).exists():
                os.rename(old, stack / name)  # same file system (a sibling folder): a rename, not a copy
                moved.append((old, stack / name))
    return moved


def _swap(staging: Path, outdir: Path) -> None:
    # rename() is atomic per path; the old tree is moved aside first and removed only after the swap.
    retired = None
    if outdir.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old.", dir=outdir.parent))
        os.rename(outdir, retired / outdir.name)
    os.rename(staging, outdir)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
