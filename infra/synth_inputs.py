"""What a synth's output depends on, as digests, so an unchanged environment is not synthesized again.

Imports nothing heavy (no pydantic, no jsii): the no-change check runs before either is loaded.

* `raw_digest`: every input file as bytes (the environment and account YAML, the infra code, the lock
  file). Equal digests and a guardrail verdict that is still valid today mean the previous output is the
  output: nothing is imported, nothing is written.
* `environment_fingerprints`: per environment, its own YAML, the account YAML, the code and the lock
  file, plus the *peer view* of every other environment: the few facts one environment's stacks read of
  another (names, catalog, service principal, workspace id, promotion path). A change to dev's clusters
  leaves staging's and prod's fingerprints, hence their stacks, as they were.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

STATE_FILE = "lakegate-synth.json"
FORMAT = 1
_ROOT = Path(__file__).resolve().parent.parent
# The code whose change changes the synthesized JSON, and the pinned versions of the bindings; pyproject.toml
# holds lakegate's own version, which every job pins on its clusters (job_plan.py).
_CODE_GLOBS = ("infra/**/*.py",)
_LOCK_FILES = ("requirements.lock", "cdktf.json", "pyproject.toml")


def _sha(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def code_digest(root: Path = _ROOT) -> str:
    files = sorted(path for pattern in _CODE_GLOBS for path in root.glob(pattern) if "__pycache__" not in path.parts)
    files += [root / name for name in _LOCK_FILES if (root / name).exists()]
    return _sha(*(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() for path in files))


def definition_files(directory: Path) -> list[Path]:
    """Every YAML file of the definitions folder, environments and `_account.yaml` alike."""
    return sorted(p for p in Path(directory).glob("*.y*ml") if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def _named_content(path: Path) -> bytes:
    # A folder (or FIFO, ...) named like a file is never read: the loader reports it (located, exit 2); its name
    # still counts, so adding one is a change and the definitions are loaded again.
    return path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"\0not a file")


def raw_digest(directory: Path, root: Path = _ROOT) -> str:
    files = definition_files(directory)
    return _sha(code_digest(root).encode(), *(_named_content(p) for p in files))


def peer_view(env) -> dict:
    """What the stacks of one environment read of another (infra/stacks, infra/access.py)."""
    sp = env.principals.service_principal
    return {"name": env.name, "catalog": env.unity_catalog.catalog, "model_schema": env.unity_catalog.model_schema,
            "service_principal": sp.name, "application_id": sp.application_id, "workspace_id": env.workspace.id,
            "promotion_from": env.promotion.from_env}


def environment_fingerprints(envs, directory: Path, root: Path = _ROOT) -> dict[str, str]:
    """Stack name -> fingerprint of what it was synthesized from, for both stacks of every environment."""
    directory = Path(directory)
    account = directory / "_account.yaml"
    shared = [code_digest(root).encode(), account.read_bytes() if account.exists() else b""]
    fingerprints = {}
    for env in envs:
        own = next((directory / f"{env.name}{suffix}" for suffix in (".yaml", ".yml")
                    if (directory / f"{env.name}{suffix}").exists()), directory / f"{env.name}.yaml")
        peers = json.dumps([peer_view(other) for other in envs if other.name != env.name], sort_keys=True)
        value = _sha(*shared, own.read_bytes() if own.exists() else b"", peers.encode())
        fingerprints[f"{env.name}-azure"] = fingerprints[f"{env.name}-databricks"] = value
    # The account stack reads nearly everything of every environment (identities, groups, tags, state).
    fingerprints["account"] = _sha(shared[0], *(_named_content(p) for p in definition_files(directory)))
    return fingerprints


def read_state(outdir: Path) -> dict:
    try:
        state = json.loads((Path(outdir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("format") == FORMAT else {}


def write_state(outdir: Path, state: dict) -> None:
    (Path(outdir) / STATE_FILE).write_text(json.dumps({"format": FORMAT, **state}, indent=2, sort_keys=True) + "\n")
