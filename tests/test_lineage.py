"""Truthful lineage (pipelines/lineage.py) and the lineage gate (promotion/gates/lineage.py).

Each unit test builds a throwaway git repository of its own (LAKEGATE_LINEAGE_ROOT points at it) and trains "from"
it clean, dirty, from a commit without the code, or with forged tags; the end-to-end test trains the real churn model
from a dirty copy of the project's training code and promotes it through the CLI against a real local registry.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from lakegate.infra.loader import load_environments
from lakegate.pipelines.lineage import lineage_tags
from lakegate.promotion.gates import gates_for, lineage as lineage_gate
from lakegate.promotion.registry import ModelVersion

from .helpers import declare_models, clean_lineage, copy_examples, edit, run_in_process, variant

CODE = "pipelines/train.py"
CI_VARIABLES = ("LAKEGATE_GIT_COMMIT", "LAKEGATE_GIT_REPOSITORY", "LAKEGATE_GIT_AUTHOR", "GITHUB_SHA",
                "BUILD_SOURCEVERSION", "GITHUB_REPOSITORY", "BUILD_REPOSITORY_URI")


def git(repository: Path, *args: str) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(repository), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Ana", "GIT_AUTHOR_EMAIL": "ana.silva@contoso.com",
           "GIT_COMMITTER_NAME": "Ana", "GIT_COMMITTER_EMAIL": "ana.silva@contoso.com"}
    return subprocess.run(["git", "-C", str(repository), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch) -> SimpleNamespace:
    """A repository whose first commit has only a README and whose second adds the training code; lineage is read
    from it with no CI variable set (git itself answers)."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "README.md").write_text("readme\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "readme")
    before = git(root, "rev-parse", "HEAD")
    (root / "pipelines").mkdir()
    (root / CODE).write_text("print('training')\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "training code")
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEGATE_LINEAGE_ROOT", str(root))
    return SimpleNamespace(root=root, before=before, head=git(root, "rev-parse", "HEAD"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def judge(tags: dict[str, str]):
    return lineage_gate.check(lineage_gate.LineageGate(type="lineage"),
                              SimpleNamespace(candidate=ModelVersion("staging.ml.churn", "2", tags=tags)))


# -- what training records ------------------------------------------------------------------------------------


def test_a_clean_tree_records_the_commit_that_holds_the_code_as_it_ran(repo):
    tags = lineage_tags(CODE)
    assert tags == {"git_commit": repo.head, "git_repository": f"file://{repo.root}",
                    "git_author": "ana.silva@contoso.com", "git_dirty": "false", "git_entry_point": CODE,
                    "git_entry_point_sha256": sha256(repo.root / CODE), "git_entry_point_in_commit": "true"}
    assert judge({**tags}).passed and "verified in git" in judge(tags).message


def test_a_dirty_tree_is_tagged_with_a_digest_of_its_difference_and_the_code_is_not_in_the_commit(repo):
    (repo.root / CODE).write_text("print('training, changed')\n")
    first = lineage_tags(CODE)
    assert (first["git_commit"], first["git_dirty"], first["git_entry_point_in_commit"]) == (repo.head, "true", "false")
    assert first["git_entry_point_sha256"] == sha256(repo.root / CODE) and len(first["git_diff_sha256"]) == 64
    (repo.root / CODE).write_text("print('training, changed otherwise')\n")
    assert lineage_tags(CODE)["git_diff_sha256"] != first["git_diff_sha256"]  # another difference, another digest
    result = judge(first)
    assert not result.passed and result.message.startswith(f"trained with uncommitted changes (diff sha256 "
                                                           f"{first['git_diff_sha256'][:12]}…): commit {repo.head[:12]}")


def test_an_untracked_file_makes_the_tree_dirty_though_the_entry_point_is_committed(repo):
    (repo.root / "pipelines" / "helper.py").write_text("WEIGHTS = 3\n")  # imported by the training, say
    tags = lineage_tags(CODE)
    assert (tags["git_dirty"], tags["git_entry_point_in_commit"]) == ("true", "true")
    assert not judge(tags).passed


def test_a_recorded_commit_without_the_entry_point_is_said_so(repo, monkeypatch):
    monkeypatch.setenv("LAKEGATE_GIT_COMMIT", repo.before)  # CI says it built the commit before the code existed
    tags = lineage_tags(CODE)
    assert (tags["git_commit"], tags["git_dirty"], tags["git_entry_point_in_commit"]) == (repo.before, "false", "false")
    assert judge(tags).message == (f"commit {repo.before[:12]} does not hold {CODE} as it ran (sha256 "
                                   f"{tags['git_entry_point_sha256'][:12]}…); commit, then train again")


def test_a_file_that_ran_elsewhere_is_compared_byte_for_byte(repo, tmp_path):
    ran = tmp_path / "copy.py"
    ran.write_text("print('training')  # not quite\n")
    assert lineage_tags(CODE, ran=ran)["git_entry_point_in_commit"] == "false"
    ran.write_bytes((repo.root / CODE).read_bytes())
    assert lineage_tags(CODE, ran=ran)["git_entry_point_in_commit"] == "true"


def test_only_a_commit_id_and_a_plain_path_reach_git(repo, monkeypatch, tmp_path):
    target = tmp_path / "written-by-git"
    monkeypatch.setenv("LAKEGATE_GIT_COMMIT", f"--output={target}")
    tags = lineage_tags(CODE)
    assert not target.exists() and "git_author" not in tags and tags["git_entry_point_in_commit"] == "false"
    for bad in ("../outside.py", "/etc/passwd", "-p", "pipelines/../../x.py", "a b.py", ""):
        with pytest.raises(ValueError, match="is not a plain path relative to the repository root"):
            lineage_tags(bad)


def test_without_a_repository_nothing_is_claimed(tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text("print(1)\n")
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEGATE_LINEAGE_ROOT", str(tmp_path))
    tags = lineage_tags("train.py")
    assert (tags["git_commit"], tags["git_dirty"], tags["git_entry_point_in_commit"]) == ("", "unknown", "false")
    assert not judge(tags).passed


# -- the gate ---------------------------------------------------------------------------------------------------


def test_the_gate_refuses_missing_tags_and_forged_claims_it_can_verify(repo, monkeypatch):
    clean = lineage_tags(CODE)
    missing = judge({"git_commit": repo.head})
    assert not missing.passed and missing.message.startswith(
        "missing lineage tag(s) git_dirty, git_entry_point, git_entry_point_sha256, git_entry_point_in_commit")
    forged = judge({**clean, "git_entry_point_sha256": "ab" * 32})  # "in commit: true", but not these bytes
    assert not forged.passed and "but that commit holds it as sha256" in forged.message and "forged" in forged.message
    elsewhere = judge({**clean, "git_commit": "0123456789abcdef0123456789abcdef01234567"})
    assert not elsewhere.passed and "is not in the checkout at repo" in elsewhere.message
    moved = judge({**clean, "git_entry_point": "pipelines/other.py"})
    assert not moved.passed and "does not hold it" in moved.message
    assert not judge({**clean, "git_entry_point": "../x.py"}).passed
    monkeypatch.setenv("LAKEGATE_LINEAGE_ROOT", str(repo.root.parent / "no-checkout-here"))
    unverified = judge(clean)
    assert unverified.passed and "no git checkout at no-checkout-here to verify it" in unverified.message


def test_the_lineage_gate_is_on_wherever_models_are_promoted_into(envs):
    assert "lineage" not in [g.type for g in gates_for(envs["dev"], "churn")]  # where models are trained: nothing to judge
    assert [g.type for g in gates_for(envs["staging"], "churn")][0] == "lineage"
    assert [g.type for g in gates_for(envs["prod"], "churn")].count("lineage") == 1
    listed = variant(envs, "staging", promotion={"from": "dev", "gates": [{"type": "signature"}, {"type": "lineage"}]})
    assert [g.type for g in gates_for(listed["staging"], "churn")] == ["signature", "lineage"]  # listed: placed, not doubled


# -- end to end: trained from a dirty tree, refused by the lineage gate -----------------------------------------


def test_a_version_trained_from_a_dirty_tree_is_refused_and_a_clean_one_passes(tmp_path, monkeypatch, lineage):
    from lakegate.pipelines.training import train as train_churn
    from lakegate.promotion.local import secret_file
    from lakegate.promotion.local_access import derive_local_plan

    from .local_registry_fixtures import CHEAP_GATES, running_local_registry, set_gates

    env_dir = copy_examples(tmp_path / "environments")
    set_gates(env_dir, "staging", CHEAP_GATES)
    declare_models(env_dir, ["dirty"], environments=("dev", "staging"))
    envs = load_environments(env_dir)
    # A copy of the session's clean repository, with an uncommitted change next to the training code.
    dirty = tmp_path / "dirty-checkout"
    subprocess.run(["git", "clone", "-q", str(lineage.repository), str(dirty)], check=True, capture_output=True)
    (dirty / "models" / "tweak.py").write_text("LEARNING_RATE = 0.3\n")
    with running_local_registry(tmp_path / "state", derive_local_plan(envs)) as registry:
        principal = envs["dev"].service_principal
        password = secret_file.user_password(registry.state_dir, principal)

        def promote(model: str, version: str):
            return run_in_process("promote", model, "--to", "staging", "--version", version, "--json",
                                  "--environments", str(env_dir), "--state-dir", str(registry.state_dir))

        monkeypatch.setenv("LAKEGATE_LINEAGE_ROOT", str(dirty))
        trained = train_churn.train_and_register(registry.url, principal, password, "dev.ml.dirty", epochs=2)
        monkeypatch.setenv("LAKEGATE_LINEAGE_ROOT", str(lineage.repository))
        tags = registry.adapter(principal).get_version("dev.ml.dirty", trained.version).tags
        assert (tags["git_dirty"], tags["git_entry_point"]) == ("true", "models/churn.py")
        refused = promote("dirty", trained.version)
        assert refused.returncode == 5, refused.stderr
        assert "lineage: trained with uncommitted changes (diff sha256" in refused.stderr
        clean = train_churn.train_and_register(registry.url, principal, password, "dev.ml.churn", epochs=2)
        passed = promote("churn", clean.version)
        assert passed.returncode == 0, passed.stderr
        assert '"gate_id": "lineage"' in passed.stdout and "(verified in git)" in passed.stdout
    assert clean_lineage()["git_dirty"] == "false"  # the session's repository stayed clean
