"""Session-wide fixtures: the example environments, one synth of them (jsii is imported once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "environments"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def envs():
    from infra.loader import load_environments

    return load_environments(EXAMPLES)


@pytest.fixture(scope="session")
def synthesized(envs, tmp_path_factory):
    """The example environments synthesized once: SynthResult(outdir, stacks={name: json})."""
    from infra.synth import synthesize

    return synthesize(envs, tmp_path_factory.mktemp("synth") / "cdktf.out")


@pytest.fixture(scope="session")
def stack(synthesized):
    """stack('prod-azure') -> the synthesized Terraform JSON of that stack."""
    return lambda name: synthesized.stacks[name]
