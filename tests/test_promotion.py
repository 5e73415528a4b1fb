"""Promotion end to end against the REAL local MLflow server (one per module, provisioned like `local up`).

Each test uses its own model name (declared in a copy of the example environments), so tests share the
server without sharing state. Crash and race tests run promotions in subprocesses: kill -9 lands
mid-copy deterministically through a pausing progress callback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakegate.pipelines.training.train import train_and_register
from lakegate.infra.loader import load_environments
from lakegate.promotion import registry_tags
from lakegate.promotion.approval import approve
from lakegate.promotion.audit import AuditLog, verify
from lakegate.promotion.claim import copy_once
from lakegate.promotion.errors import ApprovalMissing, AuditTampered, GateFailed, InvalidRequest
from lakegate.promotion.local_access import derive_local_plan
from lakegate.promotion.promote import check_path, copy_tags, promote
from lakegate.promotion.registry import NotFound, PermissionRefused
from lakegate.promotion.rollback import rollback
from lakegate.promotion.status import status

from .helpers import copy_examples, edit
from .helpers import declare_models as declare_test_models
from .local_registry_fixtures import new_ssh_key, register_sklearn_model, running_local_registry, set_approval

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["churn", "flow", "lineage", "gates", "approval", "rollback", "idem", "kill", "race", "queue", "forbid", "statusm",
          "resume", "secrets", "owned", "rechecked"]
# Subprocess promotions use a staging with the cheap gate only: crash and race safety do not depend on
# which gates run, and it keeps each subprocess from importing MLflow's model loaders.
CHEAP_STAGING_GATES = "  gates:\n    - {type: required_tags, tags: [git_commit, git_repository, training_run]}\n"

# A promotion in its own process. With a pause file, its progress callback pauses inside the artifact copy (at
# the first partial report) so the test can kill -9 it mid-copy or let another promotion overtake it,
# deterministically: the file is created when the pause begins; the copy resumes when `<file>.release` appears.
RUNNER = """
import json, os, sys, time
from pathlib import Path
from lakegate.infra.loader import load_environments
from lakegate.promotion.local.server import LocalRegistry
from lakegate.promotion.promote import promote
env_dir, state, model, to_env, version, audit, locks, pause = sys.argv[1:9]

def pause_in_copy(done, total):
    if pause and 0 < done < total and not Path(pause).exists():
        Path(pause + ".part").write_text(f"{done}/{total}\\n")
        os.replace(pause + ".part", pause)  # whole, or not there yet: the test reads it as soon as it exists
        release, deadline = Path(pause + ".release"), time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

envs = load_environments(Path(env_dir))
registry = LocalRegistry(Path(state))
result = promote(envs, model, to_env, version=version, audit_dir=audit, lock_dir=locks, progress=pause_in_copy,
                 adapter_factory=lambda env: registry.adapter(envs[env].service_principal))
print(json.dumps(result.as_dict(), default=str))
"""


def declare_models(directory: Path) -> Path:
    return declare_test_models(directory, MODELS)


@dataclass
class World:
    envs: object
    registry: object
    env_dir: Path
    cheap_env_dir: Path
    keys: dict  # identity -> private key path (enrolled in prod: head.of.ml in ml-approvers, sam.okafor not)

    def adapter(self, env: str):
        return self.registry.adapter(self.envs[env].service_principal)

    def train(self, model: str, quality: str = "good", seed: int = 7, padding_mb: int = 0):
        principal = self.envs["dev"].service_principal
        from lakegate.promotion.local import secret_file

        return train_and_register(self.registry.url, principal, secret_file.user_password(self.registry.state_dir, principal),
                                  f"dev.ml.{model}", quality=quality, seed=seed, padding_mb=padding_mb)

    def promote(self, model: str, to_env: str, audit: Path, **kwargs):
        return promote(self.envs, model, to_env, adapter_factory=self.adapter, audit_dir=audit, **kwargs)

    def versions(self, full_name: str):
        try:
            return self.adapter(full_name.split(".")[0]).list_versions(full_name)
        except NotFound:
            return []

    def champion(self, full_name: str):
        found = self.adapter(full_name.split(".")[0]).get_version_by_alias(full_name, registry_tags.CHAMPION)
        return found.version if found else None

    def run_promotion(self, model: str, version: str, audit: Path, locks: Path, pause: Path | None = None):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(self.cheap_env_dir), str(self.registry.state_dir), model, "staging",
             version, str(audit), str(locks), str(pause or "")], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)


def enrol_approvers(env_dir: Path, key_dir: Path) -> dict:
    keys = {who: new_ssh_key(key_dir, who.split("@")[0].replace(".", "-")) for who in
            ("head.of.ml@contoso.com", "sam.okafor@contoso.com")}
    set_approval(env_dir, "prod", approvers=["ml-approvers"],
                 signers=[{"identity": who, "key": public} for who, (_, public) in keys.items()])
    return {who: private for who, (private, _) in keys.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    env_dir = declare_models(copy_examples(tmp_path_factory.mktemp("environments")))
    keys = enrol_approvers(env_dir, tmp_path_factory.mktemp("keys"))
    cheap = declare_models(copy_examples(tmp_path_factory.mktemp("cheap-environments")))
    staging = (cheap / "staging.yaml").read_text()
    start = staging.index("  gates:\n", staging.index("\npromotion:"))
    end = staging.index("credentials:", start)
    (cheap / "staging.yaml").write_text(staging[:start] + CHEAP_STAGING_GATES + staging[end:])
    envs = load_environments(env_dir)
    with running_local_registry(tmp_path_factory.mktemp("state"), derive_local_plan(envs)) as registry:
        yield World(envs, registry, env_dir, cheap, keys)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"promotion ended before pausing: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def finished(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


# -- the happy path -----------------------------------------------------------------------------------


def test_dev_to_staging_copies_for_real_sets_lineage_runs_gates_and_moves_champion(world, tmp_path):
    trained = world.train("flow")
    result = world.promote("flow", "staging", tmp_path, version=trained.version)

    assert result.outcome == "champion" and not result.reused and result.failure_kind is None
    assert [g.gate_id for g in result.gates if g.passed] == [
        "lineage", "required_tags", "signature", "metric_threshold:accuracy", "no_regression:accuracy", "smoke_inference",
        "serving_smoke"]
    copy = world.adapter("staging").get_version("staging.ml.flow", result.version)
    source = world.adapter("dev").get_version("dev.ml.flow", trained.version)
    # A real copy: its own run and files in the staging workspace, nothing pointing at dev's.
    assert copy.run_id and copy.run_id != source.run_id and copy.source != source.source
    assert source.run_id not in copy.source
    assert {k: copy.tags[k] for k in ("promoted_from", "source_version", "git_commit", "git_repository", "training_run")} \
        == {"promoted_from": "dev.ml.flow", "source_version": trained.version, "git_commit": trained.git_commit,
            "git_repository": trained.git_repository, "training_run": trained.run_id}
    assert copy.tags[registry_tags.GATES_SUMMARY] == "passed"
    # The figure is staging's own, computed on its validation table as its principal (recorded on the copy).
    assert copy.tags["lakegate.gate.metric_threshold.accuracy"].startswith("passed: accuracy 0.9")
    assert "staging.features.churn_validation v0, 2000 rows, computed by sp-lakegate-staging" in \
        copy.tags["lakegate.gate.metric_threshold.accuracy"]
    assert copy.tags["lakegate.eval.table"] == "staging.features.churn_validation@v0"
    assert copy.tags["lakegate.eval.by"] == "sp-lakegate-staging" and float(copy.tags["lakegate.eval.accuracy"]) > 0.85
    assert copy.aliases == ("champion",)  # challenger moved on to champion
    [entry] = AuditLog(tmp_path, "staging").entries()
    assert (entry["action"], entry["version"], entry["champion"], entry["previous_champion"]) == (
        "promote", result.version, result.version, None)
    assert entry["principal"] == "sp-lakegate-staging" and entry["git_commit"] == trained.git_commit
    assert len(entry["gates"]) == 7 and verify(tmp_path).ok


def test_training_script_registers_a_code_built_model_as_devs_principal(world):
    from examples.train import main  # the thin script over the pipeline (python main.py train)

    good = world.train("churn")
    poor = world.train("churn", quality="poor")
    assert good.metrics["accuracy"] >= 0.85 > 0.80 > poor.metrics["accuracy"]
    version = world.adapter("dev").get_version("dev.ml.churn", good.version)
    assert all(version.tags.get(tag) for tag in registry_tags.LINEAGE_TAGS)
    info = world.adapter("dev").model_info("dev.ml.churn", good.version)
    assert info["signature"]["inputs"] and info["input_example"] and info["metrics"]["accuracy"] == good.metrics["accuracy"]
    # Staging's principal may read dev's model but not register in dev.
    with pytest.raises(PermissionRefused, match="principal sp-lakegate-staging may not"):
        train_and_register(world.registry.url, "sp-lakegate-staging",
                           _password(world, "sp-lakegate-staging"), "dev.ml.churn")
    assert main(["--state-dir", str(world.registry.state_dir), "--json"]) == 0


def _password(world, principal):
    from lakegate.promotion.local import secret_file

    return secret_file.user_password(world.registry.state_dir, principal)


def test_status_shows_champion_challenger_versions_lineage_and_last_gates(world, tmp_path):
    good = world.train("statusm")
    world.promote("statusm", "staging", tmp_path, version=good.version)
    poor = world.train("statusm", quality="poor")
    world.promote("statusm", "staging", tmp_path, version=poor.version)
    report = status(world.envs, world.adapter)
    by_env = {e["env"]: e for e in report["environments"]}
    assert list(by_env) == ["dev", "staging", "prod"] and all(e["error"] is None for e in by_env.values())
    model = next(m for m in by_env["staging"]["models"] if m["model"] == "staging.ml.statusm")
    assert (model["champion"], model["challenger"]) == ("1", "2")
    assert [v["gates"] for v in model["versions"]] == ["passed", "failed: metric_threshold:accuracy, no_regression:accuracy"]
    assert model["lineage"]["source_version"] == good.version and model["lineage"]["git_commit"] == good.git_commit
    assert model["last_gates"]["version"] == "2"
    assert [g["gate_id"] for g in model["last_gates"]["results"] if not g["passed"]] == [
        "metric_threshold:accuracy", "no_regression:accuracy"]
    json.dumps(report)  # the CLI's --json twin


# -- refusals -----------------------------------------------------------------------------------------


def test_a_source_other_than_promotion_from_is_refused_and_audited(world, tmp_path):
    with pytest.raises(InvalidRequest, match=r"staging accepts models only from dev \(.*staging.yaml:\d+\); prod is not"):
        world.promote("prod.ml.flow", "staging", tmp_path)
    with pytest.raises(InvalidRequest, match="staging accepts models only from dev"):
        world.promote("flow", "staging", tmp_path, from_env="prod")
    with pytest.raises(InvalidRequest, match="dev is not a promotion target"):
        world.promote("flow", "dev", tmp_path)
    with pytest.raises(InvalidRequest, match="model nosuch is not declared"):
        world.promote("nosuch", "staging", tmp_path)
    source_env, source, target = check_path(world.envs, world.envs["staging"], "dev.ml.flow", None)
    assert (source_env.name, source, target) == ("dev", "dev.ml.flow", "staging.ml.flow")
    refusals = AuditLog(tmp_path, "staging").entries()
    assert [e["action"] for e in refusals] == ["promote_refused"] * 3
    assert refusals[0]["details"]["kind"] == "INVALID_REQUEST"


def test_a_model_without_lineage_is_refused_before_anything_is_copied(world, tmp_path):
    version = register_sklearn_model(world.registry, "sp-lakegate-dev", "dev.ml.lineage", tags={"git_commit": "abc"})
    with pytest.raises(InvalidRequest, match="lacks lineage tag.s. git_repository, training_run"):
        world.promote("lineage", "staging", tmp_path, version=version.version)
    assert world.versions("staging.ml.lineage") == []


def test_forbidden_actions_name_principal_action_and_target(world, tmp_path):
    trained = world.train("forbid")
    with pytest.raises(PermissionRefused) as read_refused:
        world.adapter("prod").get_version("dev.ml.forbid", trained.version)
    assert str(read_refused.value).startswith("principal sp-lakegate-prod may not read on dev.ml.forbid")
    with pytest.raises(PermissionRefused) as write_refused:
        world.adapter("dev").set_alias("staging.ml.flow", registry_tags.CHAMPION, "1")
    assert str(write_refused.value) == "principal sp-lakegate-dev may not set alias champion on staging.ml.flow"
    # A promotion run with dev's credentials (a misconfigured pipeline) cannot write staging.
    with pytest.raises(PermissionRefused, match="principal sp-lakegate-dev may not .* on staging.ml.forbid"):
        promote(world.envs, "forbid", "staging", version=trained.version, audit_dir=tmp_path,
                adapter_factory=lambda env: world.adapter("dev"))
    assert AuditLog(tmp_path, "staging").entries()[-1]["details"]["kind"] == "PERMISSION_REFUSED"
    assert world.versions("staging.ml.forbid") == []


def test_a_failing_gate_leaves_champion_untouched_and_says_which_and_why(world, tmp_path):
    good = world.train("gates")
    assert world.promote("gates", "staging", tmp_path, version=good.version).outcome == "champion"
    poor = world.train("gates", quality="poor")
    result = world.promote("gates", "staging", tmp_path, version=poor.version)

    assert result.outcome == "gate_failed" and result.failure_kind == "GATE_FAILED"
    assert str(result.refusal()).startswith("staging.ml.gates v2 stays challenger; champion is v1. Failed: "
                                            "metric_threshold:accuracy: accuracy 0.6")
    assert {g.gate_id for g in result.failed_gates} == {"metric_threshold:accuracy", "no_regression:accuracy"}
    threshold = next(g for g in result.failed_gates if g.gate_id == "metric_threshold:accuracy")
    assert threshold.message.startswith("accuracy 0.6") and "is below the minimum 0.8 (staging.features" in threshold.message
    assert world.champion("staging.ml.gates") == "1"
    rejected = world.adapter("staging").get_version("staging.ml.gates", result.version)
    assert rejected.aliases == ("challenger",)
    assert rejected.tags[registry_tags.GATES_SUMMARY] == "failed: metric_threshold:accuracy, no_regression:accuracy"
    assert rejected.tags["lakegate.gate.no_regression.accuracy"].startswith("failed: accuracy 0.6")
    entry = AuditLog(tmp_path, "staging").entries()[-1]
    assert (entry["passed"], entry["champion"], entry["previous_champion"]) == (False, "1", "1")
    # ... and the version staging refused goes no further, even when named explicitly
    with pytest.raises(GateFailed, match=r"staging.ml.gates v2 did not pass staging's gates \(failed: "
                                         r"metric_threshold:accuracy, no_regression:accuracy\); only a version that "
                                         "passed them may be promoted to prod"):
        world.promote("gates", "prod", tmp_path, version="2")
    assert world.versions("prod.ml.gates") == []


# -- approval, rollback, idempotency -------------------------------------------------------------------


def test_prod_needs_an_approval_by_a_person_from_the_approver_group(world, tmp_path):
    trained = world.train("approval")
    assert world.promote("approval", "staging", tmp_path, version=trained.version).outcome == "champion"
    waiting = world.promote("approval", "prod", tmp_path)  # default source: staging's champion
    assert waiting.outcome == "approval_missing" and waiting.failure_kind == "APPROVAL_MISSING"
    assert [g.gate_id for g in waiting.failed_gates] == ["approval"]
    assert "no approval recorded for v1" in waiting.failed_gates[0].message
    assert world.champion("prod.ml.approval") is None

    def ask(**how):
        return approve(world.envs, "approval", "prod", waiting.version, adapter_factory=world.adapter,
                       audit_dir=tmp_path, **how)

    with pytest.raises(ApprovalMissing, match="a name given with --by alone proves nothing"):
        ask(by="head.of.ml@contoso.com")
    with pytest.raises(ApprovalMissing, match="sam.okafor@contoso.com is not a member of the approver group.s. ml-approvers"):
        ask(key=world.keys["sam.okafor@contoso.com"])
    # prod's own principal writes the approval tags by hand: the gate is not fooled
    world.adapter("prod").set_version_tag("prod.ml.approval", waiting.version, registry_tags.APPROVED_BY, "head.of.ml@contoso.com")
    still = world.promote("approval", "prod", tmp_path)
    assert still.outcome == "approval_missing" and "is not an approval" in still.failed_gates[0].message
    recorded = ask(key=world.keys["head.of.ml@contoso.com"])
    assert (recorded.approved_by, recorded.kind) == ("head.of.ml@contoso.com", "ssh")
    copy = world.adapter("prod").get_version("prod.ml.approval", waiting.version)
    assert recorded.artifacts_sha256 == world.adapter("prod").artifact_digest("prod.ml.approval", waiting.version)
    assert copy.tags[registry_tags.APPROVED_BY] == "head.of.ml@contoso.com" and copy.tags["lakegate.approval.n"] in ("2", "3")

    done = world.promote("approval", "prod", tmp_path)
    assert (done.outcome, done.reused, done.version) == ("champion", True, waiting.version)
    assert len(world.versions("prod.ml.approval")) == 1 and world.champion("prod.ml.approval") == waiting.version
    assert done.gates[-1].message == "approved by head.of.ml@contoso.com (signature verified)"
    actions = [e["action"] for e in AuditLog(tmp_path, "prod").entries()]
    assert actions == ["promote", "approval_refused", "approval_refused", "promote", "approve", "promote"]


def test_rollback_returns_to_the_previous_champion_recorded_in_the_audit_log(world, tmp_path):
    first = world.train("rollback", seed=7)
    second = world.train("rollback", seed=8)
    assert world.promote("rollback", "staging", tmp_path, version=first.version).champion == "1"
    assert world.promote("rollback", "staging", tmp_path, version=second.version).champion == "2"

    back = rollback(world.envs, "rollback", "staging", adapter_factory=world.adapter, audit_dir=tmp_path)
    assert (back.from_version, back.to_version) == ("2", "1") and world.champion("staging.ml.rollback") == "1"
    entry = AuditLog(tmp_path, "staging").entries()[-1]
    assert (entry["action"], entry["champion"], entry["previous_champion"]) == ("rollback", "1", "2")
    with pytest.raises(InvalidRequest, match="v1 is the first champion recorded"):
        rollback(world.envs, "rollback", "staging", adapter_factory=world.adapter, audit_dir=tmp_path)

    with pytest.raises(InvalidRequest, match="v2 will not return to staging silently: .* rolled back out of champion as "
                                             "staging.ml.rollback v2 at .* needs --allow-rolled-back$"):
        world.promote("rollback", "staging", tmp_path, version=second.version)
    again = world.promote("rollback", "staging", tmp_path, version=second.version, allow_rolled_back=True)  # fixed forward
    assert (again.outcome, again.version, again.reused) == ("champion", "2", True)
    assert again.rolled_back["version"] == "2" and again.rolled_back["seq"] == entry["seq"]

    log = AuditLog(tmp_path, "staging")
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0].replace('"version":"1"', '"version":"9"')] + lines[1:]) + "\n")
    with pytest.raises(AuditTampered, match="entry seq 1 was edited"):
        rollback(world.envs, "rollback", "staging", adapter_factory=world.adapter, audit_dir=tmp_path)
    assert world.champion("staging.ml.rollback") == "2"


def test_rerunning_a_finished_promotion_changes_nothing(world, tmp_path):
    trained = world.train("idem")
    first = world.promote("idem", "staging", tmp_path, version=trained.version)
    second = world.promote("idem", "staging", tmp_path, version=trained.version)
    assert (second.outcome, second.reused, second.version) == ("already_champion", True, first.version)
    assert [(g.gate_id, g.passed) for g in second.gates] == [(g.gate_id, True) for g in first.gates]
    assert len(world.versions("staging.ml.idem")) == 1
    assert [e["action"] for e in AuditLog(tmp_path, "staging").entries()] == ["promote"]


# -- faults ---------------------------------------------------------------------------------------------


def test_a_run_that_died_after_the_copy_is_completed_by_the_rerun_without_a_second_copy(world, tmp_path):
    trained = world.train("resume")
    staging = world.adapter("staging")
    source = staging.get_version("dev.ml.resume", trained.version)
    left = copy_once(staging, source, "staging.ml.resume", copy_tags(staging, source, "staging.ml.resume")).version
    assert left.aliases == () and registry_tags.GATES_SUMMARY not in left.tags  # what a run killed here leaves

    result = world.promote("resume", "staging", tmp_path, version=trained.version)
    assert (result.outcome, result.reused, result.version) == ("champion", True, left.version)
    assert [v.version for v in world.versions("staging.ml.resume")] == [left.version]


def test_kill_9_during_the_artifact_copy_then_rerun_gives_exactly_one_new_version(world, tmp_path):
    trained = world.train("kill", padding_mb=3)
    pause = tmp_path / "paused"
    victim = world.run_promotion("kill", trained.version, tmp_path / "audit", tmp_path / "locks", pause=pause)
    wait_for(pause, victim)
    done, total = map(int, pause.read_text().split("/"))
    assert 0 < done < total  # really in the middle of the copy
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert world.versions("staging.ml.kill") == []

    result = finished(world.run_promotion("kill", trained.version, tmp_path / "audit", tmp_path / "locks"))
    assert result["outcome"] == "champion" and result["reused"] is False
    [version] = world.versions("staging.ml.kill")
    assert version.version == result["version"] and world.champion("staging.ml.kill") == version.version
    assert version.tags[registry_tags.IDEMPOTENCY_KEY] == registry_tags.idempotency_key("dev.ml.kill", trained.version, "staging.ml.kill")
    assert verify(tmp_path / "audit").ok


def test_two_concurrent_promotions_of_one_version_end_with_one_version_and_one_champion(world, tmp_path):
    """Different lock folders = two machines: only the registry claim keeps them apart (they share the
    audit folder, as an environment has one audit log: its anchor in the registry refuses a second,
    divergent one). The first run is held mid-copy while the second copies completely, so both really
    make a copy."""
    trained = world.train("race")
    pause = tmp_path / "first-paused"
    first = world.run_promotion("race", trained.version, tmp_path / "audit", tmp_path / "locks-a", pause=pause)
    wait_for(pause, first)
    second = finished(world.run_promotion("race", trained.version, tmp_path / "audit", tmp_path / "locks-b"))
    Path(str(pause) + ".release").touch()
    first_result = finished(first)

    assert first_result["version"] == second["version"]
    assert {first_result["outcome"], second["outcome"]} <= {"champion", "already_champion"}
    # The losing copy is deleted (the staging principal may delete its own versions), not just marked.
    assert [v.version for v in world.versions("staging.ml.race")] == [second["version"]]
    assert world.champion("staging.ml.race") == second["version"]


def test_promotions_on_one_machine_queue_behind_the_same_lock(world, tmp_path):
    """Same lock folder: the second run waits for the first and then finds its copy; one version."""
    trained = world.train("queue", seed=9)
    pause = tmp_path / "paused"
    first = world.run_promotion("queue", trained.version, tmp_path / "audit", tmp_path / "locks", pause=pause)
    wait_for(pause, first)
    second = world.run_promotion("queue", trained.version, tmp_path / "audit", tmp_path / "locks")
    Path(str(pause) + ".release").touch()
    results = [finished(first), finished(second)]
    assert sorted(r["outcome"] for r in results) == ["already_champion", "champion"]
    assert results[0]["version"] == results[1]["version"]
    key = registry_tags.idempotency_key("dev.ml.queue", trained.version, "staging.ml.queue")
    assert len([v for v in world.versions("staging.ml.queue") if v.tags.get(registry_tags.IDEMPOTENCY_KEY) == key]) == 1


# -- secrets ------------------------------------------------------------------------------------------


SPY = """
import json, os, subprocess, sys
from pathlib import Path
import lakegate.pipelines.mlflow_login as login
import lakegate.pipelines.training.train as train
from lakegate.promotion.local import secret_file
url, state, principal = sys.argv[1:4]
password = secret_file.user_password(Path(state), principal)
seen, original = [], subprocess.Popen.__init__
def spying(self, *args, **kwargs):
    # What the child is given (its `env`, else this process's environment at the moment it starts): read
    # before it runs, so a child that exits at once (`git version`) is checked too; /proc/<pid>/environ after.
    given = " ".join(f"{k}={v}" for k, v in (kwargs.get("env") or os.environ).items()).encode()
    original(self, *args, **kwargs)
    try:
        environ = Path(f"/proc/{self.pid}/environ").read_bytes()
    except OSError:
        environ = b""
    environ = environ or given
    argv = args[0] if args else kwargs.get("args")
    seen.append({"argv": [str(a) for a in argv] if not isinstance(argv, str) else [argv],
                 "during_login": login._login is not None, "password": password.encode() in environ + given,
                 "mlflow_password": b"MLFLOW_TRACKING_PASSWORD" in environ + given, "read": bool(environ)})
subprocess.Popen.__init__ = spying
train.train_and_register(url, principal, password, "dev.ml.secrets")
print(json.dumps(seen))
"""


def test_no_password_reaches_the_environment_of_any_child_process_during_training(world):
    """MLflow (GitPython's `git cat-file`) and the lineage lookup start children while training; none may
    inherit dev's password. A fresh process trains, and reads each child's /proc/<pid>/environ as it starts."""
    principal = world.envs["dev"].service_principal
    run = subprocess.run([sys.executable, "-c", SPY, world.registry.url, str(world.registry.state_dir), principal],
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    children = json.loads(run.stdout.strip().splitlines()[-1])
    during = [c for c in children if c["during_login"]]
    assert during and all(c["read"] for c in during), children  # e.g. git cat-file, started by MLflow
    assert not [c["argv"] for c in children if c["password"] or c["mlflow_password"]]


def test_the_environment_principal_owns_the_models_it_creates_as_in_unity_catalog(world, tmp_path):
    """The derived plan gives EDIT on the environment's workspace, and MLflow makes the creator of a
    registered model its owner (MANAGE on it): like a Unity Catalog owner, the environment's principal
    may tag the model (the audit anchor), move aliases and delete versions -- of its own models only.
    Deletion is therefore detected (audit verify), not prevented."""
    trained = world.train("owned")
    result = world.promote("owned", "staging", tmp_path, version=trained.version)
    staging, dev = world.adapter("staging"), world.adapter("dev")
    [entry] = AuditLog(tmp_path, "staging").entries()
    assert staging.get_model_tag("staging.ml.owned", registry_tags.AUDIT_ANCHOR) == f"{entry['seq']}:{entry['hash']}"
    with pytest.raises(PermissionRefused, match="principal sp-lakegate-dev may not tag registered model"):
        dev.set_model_tag("staging.ml.owned", registry_tags.AUDIT_ANCHOR, "1:" + "0" * 64)
    with pytest.raises(PermissionRefused, match="principal sp-lakegate-staging may not delete version"):
        staging.delete_version("dev.ml.owned", trained.version)
    staging.delete_version("staging.ml.owned", result.version)  # its own: allowed, as for a UC owner
    assert world.versions("staging.ml.owned") == []
