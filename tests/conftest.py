"""Session-wide fixtures: the example environments, one synth of them (jsii is imported once per session)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

# jsii's Node and runtime as the CLI has them (.tools' supported Node, the runtime extracted once), whichever test
# module imports the bindings first.
from lakegate.infra.preload import use_persistent_jsii_runtime  # noqa: E402

use_persistent_jsii_runtime()

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "environments"


@dataclass(frozen=True)
class Lineage:
    """The code a test "trains from": a commit in a git repository of its own, so the suite needs no `.git`."""

    repository: Path
    commit: str
    author: str

    @property
    def url(self) -> str:
        return f"file://{self.repository}"

    def tags(self, training_run: str, entry_point: str = "train.py") -> dict[str, str]:
        """The lineage tags of a version "trained" from `entry_point` at this clean commit (pipelines/lineage.py)."""
        from lakegate.pipelines.lineage import lineage_tags

        return {**lineage_tags(entry_point), "training_run": training_run}


LINEAGE_VARIABLES = ("LAKEGATE_GIT_COMMIT", "LAKEGATE_GIT_REPOSITORY", "LAKEGATE_GIT_AUTHOR", "LAKEGATE_LINEAGE_ROOT")
# The code tests train from, committed in the throwaway repository at the paths the project has them, so lineage
# finds each entry point in the recorded commit with the bytes that ran.
TRAINING_CODE = ("pipelines", "models")   # the framework and the project's model code, as committed


@pytest.fixture(scope="session", autouse=True)
def lineage(tmp_path_factory) -> Lineage:
    """One clean commit in a throwaway repository (a train.py and a copy of the project's training code); its
    commit, URL and author are the lineage variables every training run (in-process or a CLI child) reads first, as
    CI's GITHUB_SHA would be, and LAKEGATE_LINEAGE_ROOT points lineage (and the lineage gate) at it."""
    repository = tmp_path_factory.mktemp("lineage-repo")
    author = "ml.builder@contoso.com"
    git_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(repository), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "ML Builder", "GIT_AUTHOR_EMAIL": author,
               "GIT_COMMITTER_NAME": "ML Builder", "GIT_COMMITTER_EMAIL": author}

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repository), *args], env=git_env, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (repository / "train.py").write_text("# the training code\n")
    for folder in TRAINING_CODE:
        for source in sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).is_dir() else []:
            if "__pycache__" not in source.parts:
                copy = repository / source.relative_to(ROOT)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(source.read_bytes())
    git("add", "-A")
    git("commit", "-q", "-m", "training code")
    found = Lineage(repository, git("rev-parse", "HEAD"), author)
    saved = {name: os.environ.get(name) for name in LINEAGE_VARIABLES}
    os.environ.update({"LAKEGATE_GIT_COMMIT": found.commit, "LAKEGATE_GIT_REPOSITORY": found.url,
                       "LAKEGATE_GIT_AUTHOR": found.author, "LAKEGATE_LINEAGE_ROOT": str(repository)})
    yield found
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def defs(tmp_path, monkeypatch):
    """A copy of the example environments to edit, with the working directory beside it."""
    from .helpers import copy_examples

    monkeypatch.chdir(tmp_path)
    return copy_examples(tmp_path / "environments")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def envs():
    from lakegate.infra.loader import load_environments

    return load_environments(EXAMPLES)


@pytest.fixture(scope="session")
def synthesized(envs, tmp_path_factory):
    """The example environments synthesized once: SynthResult(outdir, stacks={name: json})."""
    from lakegate.infra.synth import synthesize

    return synthesize(envs, tmp_path_factory.mktemp("synth") / "cdktf.out")


@pytest.fixture(scope="session")
def stack(synthesized):
    """stack('prod-azure') -> the synthesized Terraform JSON of that stack."""
    return lambda name: synthesized.stacks[name]


# The longest files first (each file runs on one worker: --dist loadfile hands files out in collection order, and a
# long file that starts late sets the suite's end). From `--durations`; the rest keep their order.
LONGEST_FIRST = ("test_spark_engine.py", "test_docs_walk.py", "test_package_py313.py", "test_ci_simulate.py",
                 "test_output_ux.py", "test_audit_anchor.py", "test_cli_promotion.py", "test_lifecycle.py",
                 "test_package_py311.py", "test_promotion.py", "test_serving_registry.py", "test_terraform_cli.py",
                 "test_checkov.py", "test_model_stack.py", "test_lineage.py", "test_report_evidence.py",
                 "test_approvals.py", "test_recheck_recorded.py", "test_serving_by_key.py", "test_local_registry.py")


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
