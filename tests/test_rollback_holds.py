"""A rollback holds, against the REAL local registry (one server for the module).

prod's champion goes v1 -> v2 (each approved), then `rollback` puts v1 back. Promoting v2's files again — as the
same version, or registered again as a new one — is refused (exit 6, saying when and by whom) without
`--allow-rolled-back`; with it, the approval given before the rollback does not count, and a fresh one does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lakegate.infra.loader import load_environments
from lakegate.promotion import registry_tags
from lakegate.promotion.approval import approve
from lakegate.promotion.audit import AuditLog
from lakegate.promotion.holds import parse_time
from lakegate.promotion.local_access import derive_local_plan
from lakegate.promotion.promote import promote
from lakegate.promotion.rollback import rollback

from .helpers import declare_models, clean_lineage, copy_examples, edit, run_in_process
from .local_registry_fixtures import (CHEAP_GATES, new_ssh_key, principal_http, register_sklearn_model,
                                      running_local_registry, set_approval, set_gates)

ROOT = Path(__file__).resolve().parent.parent
HEAD = "head.of.ml@contoso.com"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    env_dir = copy_examples(tmp_path_factory.mktemp("environments"))
    declare_models(env_dir, ["held"])
    set_gates(env_dir, "staging", CHEAP_GATES)
    set_gates(env_dir, "prod", [*CHEAP_GATES, {"type": "approval"}])
    key, public = new_ssh_key(tmp_path_factory.mktemp("keys"))
    set_approval(env_dir, "prod", approvers=["ml-approvers"], signers=[{"identity": HEAD, "key": public}])
    envs = load_environments(env_dir)
    state = tmp_path_factory.mktemp("state")
    with running_local_registry(state, derive_local_plan(envs)) as registry:
        yield World(envs, registry, env_dir, state, key)


class World:
    def __init__(self, envs, registry, env_dir: Path, state: Path, key: Path):
        self.envs, self.registry, self.env_dir, self.state, self.key = envs, registry, env_dir, state, key
        self.audit = state / "audit"   # where the CLI keeps it too

    def adapter(self, env: str):
        return self.registry.adapter(self.envs[env].service_principal)

    def staged(self, seed: int) -> str:
        """A code-built version that passed staging (registered there, as in tests/test_approvals.py)."""
        tags = {**clean_lineage(f"run-held-{seed}"), registry_tags.GATES_SUMMARY: "passed"}
        return register_sklearn_model(self.registry, self.envs["staging"].service_principal, "staging.ml.held",
                                      tags=tags, seed=seed).version

    def to_prod(self, staging_version: str) -> str:
        waiting = promote(self.envs, "held", "prod", version=staging_version, adapter_factory=self.adapter,
                          audit_dir=self.audit)
        assert waiting.outcome == "approval_missing", [g.message for g in waiting.failed_gates]
        approve(self.envs, "held", "prod", waiting.version, adapter_factory=self.adapter, audit_dir=self.audit,
                key=self.key)
        assert promote(self.envs, "held", "prod", version=staging_version, adapter_factory=self.adapter,
                       audit_dir=self.audit).outcome == "champion"
        return waiting.version

    def cli(self, *args: str):
        return run_in_process(*args, "--environments", str(self.env_dir), "--state-dir", str(self.state))

    def champion(self) -> str:
        return self.adapter("prod").get_version_by_alias("prod.ml.held", registry_tags.CHAMPION).version


def test_a_rolled_back_version_does_not_return_silently(world):
    first, second = world.staged(1), world.staged(2)
    v1, v2 = world.to_prod(first), world.to_prod(second)
    back = rollback(world.envs, "held", "prod", adapter_factory=world.adapter, audit_dir=world.audit)
    assert (back.from_version, back.to_version, world.champion()) == (v2, v1, v1)
    [entry] = [e for e in AuditLog(world.audit, "prod").entries() if e["action"] == "rollback"]
    digest = world.adapter("prod").content_digest("prod.ml.held", v2)
    assert entry["details"]["rolled_back"] == {"version": v2, "artifacts_sha256": digest}
    assert back.rolled_back == {"model": "prod.ml.held", "version": v2, "at": entry["time"], "by": entry["actor"],
                                "seq": entry["seq"], "artifacts_sha256": digest}
    tag = world.adapter("prod").get_version("prod.ml.held", v2).tags[registry_tags.ROLLED_BACK]
    assert tag == f"{entry['time']} by {entry['actor']} (audit seq {entry['seq']})"

    # The same version again: refused before anything moves, saying when and by whom.
    refused = world.cli("promote", "held", "--to", "prod", "--version", second)
    assert refused.returncode == 6, refused.stderr
    assert (f"staging.ml.held v{second} will not return to prod silently: its files (sha256 {digest[:12]}…) were "
            f"rolled back out of champion as prod.ml.held v{v2} at {entry['time']} by {entry['actor']} (audit seq "
            f"{entry['seq']}); promoting it again needs --allow-rolled-back and a fresh approval (given after the "
            "rollback)") in refused.stderr
    assert world.champion() == v1 and AuditLog(world.audit, "prod").entries()[-1]["action"] == "promote_refused"

    # Allowed: the approval signed before the rollback does not count.
    stale = world.cli("promote", "held", "--to", "prod", "--version", second, "--allow-rolled-back", "--json")
    assert stale.returncode == 7, stale.stderr
    result = json.loads(stale.stdout)
    assert result["rolled_back"]["seq"] == entry["seq"] and result["outcome"] == "approval_missing"
    assert "before these files were rolled back at" in result["gates"][-1]["message"]
    assert "a rolled-back version needs a fresh approval" in stale.stderr and world.champion() == v1

    # A fresh approval (after the rollback's second: approvals are stamped in whole seconds) counts.
    time.sleep(max(0.0, int(parse_time(entry["time"]).timestamp()) + 1 - time.time()))
    approve(world.envs, "held", "prod", v2, adapter_factory=world.adapter, audit_dir=world.audit, key=world.key)
    again = world.cli("promote", "held", "--to", "prod", "--version", second, "--allow-rolled-back")
    assert again.returncode == 0, again.stderr
    assert f"note: prod.ml.held v{v2} was rolled back at {entry['time']} by {entry['actor']}" in again.stdout
    assert world.champion() == v2
    promoted = AuditLog(world.audit, "prod").entries()[-1]
    assert promoted["details"]["champion_moved"] and promoted["details"]["rolled_back"]["seq"] == entry["seq"]
    # Back as champion by a person's decision, the hold is lifted: re-running the promotion changes nothing.
    rerun = world.cli("promote", "held", "--to", "prod", "--version", second, "--json")
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["outcome"] == "already_champion", rerun.stderr
    the_same_files_registered_again_as_a_new_version_are_held_too(world)


def the_same_files_registered_again_as_a_new_version_are_held_too(world):
    """Continues the test above (it needs its rollback): v2's files, registered in staging again (a new version of the
    same artifacts)."""
    log = AuditLog(world.audit, "prod")
    rollback(world.envs, "held", "prod", adapter_factory=world.adapter, audit_dir=world.audit)  # v2 out again
    held = world.adapter("prod").get_version("prod.ml.held", world.champion())  # v1 now; v2 is the held one
    rolled = [e for e in log.entries() if e["action"] == "rollback"][-1]["details"]["rolled_back"]
    old = world.adapter("staging").get_version("staging.ml.held", "2")
    principal = world.envs["staging"].service_principal
    http = principal_http(world.registry, principal)
    from lakegate.promotion.local.workspaces import mlflow_address

    workspace, name = mlflow_address("staging.ml.held")
    again = http.call("POST", "/api/2.0/mlflow/model-versions/create", workspace=workspace, json={
        "name": name, "source": old.source, "run_id": old.run_id,
        "tags": [{"key": k, "value": v} for k, v in {**clean_lineage("run-held-again"),
                                                       registry_tags.GATES_SUMMARY: "passed"}.items()]})
    number = again["model_version"]["version"]
    assert number != "2" and held.version != rolled["version"]
    refused = world.cli("promote", "held", "--to", "prod", "--version", number)
    assert refused.returncode == 6, refused.stderr
    assert f"were rolled back out of champion as prod.ml.held v{rolled['version']}" in refused.stderr


def test_nothing_in_ci_promotes_past_a_hold():
    for path in [*(ROOT / "ci").glob("*.py"), *(ROOT / ".github").rglob("*.yml"), *ROOT.glob("*pipelines*.yml")]:
        assert "allow-rolled-back" not in path.read_text() and "allow_rolled_back" not in path.read_text(), path
