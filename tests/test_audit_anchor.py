"""The audit trail its own files cannot rewrite, against the REAL local registry (one server for the module).

A real history is made once (staging: champion v1, a gate-failed v2, champion v3; prod: an approved
champion); every tampering case works on a copy of that audit folder, so the registry's anchors
(`lakegate.audit_head` on each registered model, written by the environment's principal) stay those of
the genuine history. Then the insider attacks: the audit folder alone, and the audit folder plus the
target environment's own password (anchors, aliases, tags rewritten too).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakegate.infra.loader import load_environments
from lakegate.promotion import registry_tags
from lakegate.promotion.anchor import AnchorValue
from lakegate.promotion.approval import approve
from lakegate.promotion.audit import GENESIS, AuditLog, canonical, entry_hash, verify
from lakegate.promotion.audit_check import cross_check
from lakegate.promotion.errors import AuditTampered, GateFailed
from lakegate.promotion.local_access import derive_local_plan
from lakegate.promotion.promote import promote
from lakegate.promotion.rollback import rollback

from .helpers import clean_lineage, copy_examples, declare_models, edit, run_in_process
from .local_registry_fixtures import (CHEAP_GATES, new_ssh_key, register_sklearn_model, running_local_registry,
                                      set_approval, set_gates)

MODELS = ["churn", "chain", "rb", "hide", "prodm"]
LINEAGE = {"git_repository": "https://example.com/ml", "git_author": "ana.silva@contoso.com"}
HEAD = "head.of.ml@contoso.com"


@dataclass
class World:
    envs: object
    registry: object
    env_dir: Path
    state: Path          # the registry's state folder; the genuine history is in <state>/audit
    key: Path

    @property
    def audit(self) -> Path:
        return self.state / "audit"

    def adapter(self, env: str):
        return self.registry.adapter(self.envs[env].service_principal)

    def dev_version(self, model: str, good: bool, seed: int) -> str:
        """A code-built version in dev; a bad one has no signature, so staging's `signature` gate fails it."""
        return register_sklearn_model(self.registry, self.envs["dev"].service_principal, f"dev.ml.{model}", seed=seed,
                                      signature=good, tags={**clean_lineage(f"run-{model}-{seed}"), **LINEAGE}).version

    def promote(self, model: str, to: str, audit: Path | None = None, **kwargs):
        return promote(self.envs, model, to, adapter_factory=self.adapter, audit_dir=audit or self.audit, **kwargs)

    def champion(self, full: str) -> str | None:
        found = self.adapter(full.split(".")[0]).get_version_by_alias(full, registry_tags.CHAMPION)
        return found.version if found else None

    def verify(self, audit: Path):
        return cross_check(self.envs, audit, self.adapter)

    def copy(self, tmp_path: Path) -> Path:
        target = tmp_path / "audit"
        shutil.copytree(self.audit, target)
        return target


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    env_dir = copy_examples(tmp_path_factory.mktemp("environments"))
    declare_models(env_dir, MODELS)
    set_gates(env_dir, "staging", CHEAP_GATES)
    set_gates(env_dir, "prod", [*CHEAP_GATES, {"type": "approval"}])
    key, public = new_ssh_key(tmp_path_factory.mktemp("keys"))
    set_approval(env_dir, "prod", approvers=["ml-approvers"], signers=[{"identity": HEAD, "key": public}])
    envs = load_environments(env_dir)
    state = tmp_path_factory.mktemp("state")
    with running_local_registry(state, derive_local_plan(envs)) as registry:
        world = World(envs, registry, env_dir, state, key)
        # The genuine history: staging.ml.chain v1 champion, v2 fails its gates, v3 champion.
        for good, seed, outcome in ((True, 1, "champion"), (False, 2, "gate_failed"), (True, 3, "champion")):
            version = world.dev_version("chain", good, seed)
            assert world.promote("chain", "staging", version=version).outcome == outcome
        # prod.ml.prodm: v1 approved champion; v2 waits for an approval that never comes.
        for seed in (4, 5):
            version = world.dev_version("prodm", True, seed)
            assert world.promote("prodm", "staging", version=version).outcome == "champion"
            waiting = world.promote("prodm", "prod")
            assert waiting.outcome == "approval_missing"
            if seed == 4:
                approve(envs, "prodm", "prod", waiting.version, adapter_factory=world.adapter, audit_dir=world.audit, key=key)
                assert world.promote("prodm", "prod").outcome == "champion"
        assert world.verify(world.audit).ok, world.verify(world.audit).problems
        yield world


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines()


def write(log: Path, rows: list[str]) -> None:
    log.write_text("".join(row + "\n" for row in rows))


def rechain(entries: list[dict]) -> list[dict]:
    """What an attacker with the audit folder does: re-number, re-link and re-hash every entry."""
    previous = GENESIS
    for number, entry in enumerate(entries, start=1):
        entry["seq"], entry["prev_hash"] = number, previous
        entry["hash"] = entry_hash(entry)
        previous = entry["hash"]
    return entries


def forge(audit: Path, env: str, entries: list[dict]) -> dict:
    """Write a well-chained log and a matching head file; returns the last entry."""
    entries = rechain(entries)
    (audit / f"{env}.jsonl").write_bytes(b"".join(canonical(e) + b"\n" for e in entries))
    (audit / f"{env}.head").write_text(json.dumps({"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}) + "\n")
    return entries[-1]


def problem_of(result) -> str:
    [problem] = result.problems
    return str(problem)


# -- what the chain alone catches, and what only the anchor catches ---------------------------------------


def test_edits_reorders_and_removals_inside_the_log_are_named_with_their_line(world, tmp_path):
    cases = {
        "edit": (lambda rows: rows.__setitem__(1, rows[1].replace('"actor":', '"actor":"x","was":')),
                 "staging.jsonl:2: entry seq 2 was edited (its hash does not match its content)"),
        "reorder": (lambda rows: rows.insert(1, rows.pop(2)),
                    "staging.jsonl:2: entries reordered: line 2 holds seq 3, expected seq 2 (seq 2 is at line 3)"),
        "remove": (lambda rows: rows.pop(1), "staging.jsonl:2: entry seq 2 removed before this line (line 2 holds seq 3)"),
    }
    for name, (change, message) in cases.items():
        audit = world.copy(tmp_path / name)
        rows = lines(audit / "staging.jsonl")
        change(rows)
        write(audit / "staging.jsonl", rows)
        assert problem_of(verify(audit)).endswith(message), name
        assert problem_of(world.verify(audit)).endswith(message), name


def test_tail_deletion_with_the_head_a_forged_append_a_full_rewrite_and_a_deleted_log_are_caught_by_the_anchor(world, tmp_path):
    def drop_tail(audit):
        write(audit / "staging.jsonl", lines(audit / "staging.jsonl")[:2])
        (audit / "staging.head").unlink()

    def rewrite_head(audit):
        rows = lines(audit / "staging.jsonl")[:2]
        write(audit / "staging.jsonl", rows)
        last = json.loads(rows[-1])
        (audit / "staging.head").write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))

    def forged_append(audit):
        entries = [json.loads(row) for row in lines(audit / "staging.jsonl")]
        forge(audit, "staging", [*entries, {**entries[1], "details": {**entries[1]["details"], "champion_moved": True},
                                            "passed": True}])

    def full_rewrite(audit):
        entries = [json.loads(row) for row in lines(audit / "staging.jsonl")]
        entries[1].update(passed=True, champion="2", details={**entries[1]["details"], "champion_moved": True})
        forge(audit, "staging", entries)

    def deleted(audit):
        (audit / "staging.jsonl").unlink()
        (audit / "staging.head").unlink()

    log = "staging.jsonl"
    cases = {
        drop_tail: f"{log}:3: entry seq 3 removed from the end of the log (the registry's anchor on staging.ml.chain names seq 3)",
        rewrite_head: f"{log}:3: entry seq 3 removed from the end of the log (the registry's anchor on staging.ml.chain names seq 3)",
        forged_append: f"{log}:6: entry seq 6 (promote of staging.ml.chain) comes after the registry's anchor on "
                       "staging.ml.chain (seq 3): appended without the registry (forged), or its anchor write failed",
        full_rewrite: f"{log}:3: entry seq 3 is not the one anchored in the registry on staging.ml.chain: the log was "
                      "rewritten at or before this line",
        deleted: f"{log}:1: the log is missing or empty, but the registry's anchor on staging.ml.chain names entry seq 3",
    }
    for change, message in cases.items():
        audit = world.copy(tmp_path / change.__name__)
        change(audit)
        assert verify(audit).ok  # the files agree with themselves: only the anchor can tell
        assert problem_of(world.verify(audit)).endswith(message), change.__name__
        # and nothing more can be recorded on top of it, so the hole is never papered over
        with pytest.raises(AuditTampered):
            world.promote("chain", "staging", audit, version="1")


def test_a_malformed_head_or_a_log_that_is_a_folder_is_a_one_line_problem_never_a_crash(world, tmp_path):
    heads = {"not json": ("{seq: 3", "the head file is not valid JSON"),
             "no seq": ('{"hash": "ab"}', "the head file has no whole-number seq"),
             "a list": ("[3, 4]", "the head file is not a JSON object"),
             "string seq": ('{"seq": "3", "hash": "ab"}', "the head file has no whole-number seq")}
    for name, (text, message) in heads.items():
        audit = world.copy(tmp_path / name.replace(" ", "-"))
        (audit / "staging.head").write_text(text)
        for result in (verify(audit), world.verify(audit)):
            assert problem_of(result) == f"{audit / 'staging.head'}:1: {message}", name
    audit = world.copy(tmp_path / "folder")
    (audit / "staging.jsonl").unlink()
    (audit / "staging.jsonl").mkdir()
    assert problem_of(verify(audit)) == f"{audit / 'staging.jsonl'}:0: is a directory, not an audit log"
    assert problem_of(world.verify(audit)) == f"{audit / 'staging.jsonl'}:0: is a directory, not an audit log"


def test_audit_verify_on_the_command_line(world, tmp_path):
    """Exit codes and one-line messages, with the registry (the default) and --offline (the CLI in this
    process: tests/test_cli.py runs the real one)."""
    pristine = tmp_path / "pristine"
    shutil.copytree(world.audit, pristine)
    args = ("audit", "verify", "--environments", str(world.env_dir), "--state-dir", str(world.state))
    try:
        ok = run_in_process(*args)
        assert ok.returncode == 0, ok.stderr
        assert "staging: 5 entries, chain intact, anchors and registry state match (staging.ml.chain: champion v3 " \
               "rechecked" in ok.stdout.replace("\n", " ")
        write(world.audit / "staging.jsonl", lines(world.audit / "staging.jsonl")[:-1])
        (world.audit / "staging.head").unlink()
        offline = run_in_process(*args, "--offline")
        assert offline.returncode == 0 and "NOT cross-checked with the registry (--offline)" in offline.stdout.replace("\n", " ")
        caught = run_in_process(*args)
        assert caught.returncode == 8 and "Traceback" not in caught.stderr
        assert "staging.jsonl:5: entry seq 5 removed from the end of the log (the registry's anchor on staging.ml.prodm " \
               "names seq 5)" in caught.stderr.replace("\n", " ")
        (world.audit / "staging.head").write_text("[]")
        malformed = run_in_process(*args, "--offline")
        assert malformed.returncode == 8 and "staging.head:1: the head file is not a JSON object" in malformed.stderr
        assert "Traceback" not in malformed.stderr and len(malformed.stderr.strip().splitlines()) == 1
        missing = run_in_process("audit", "verify", "--offline", "--environments", str(world.env_dir), "--state-dir", str(tmp_path / "missing"))
        assert missing.returncode == 6 and f"--state-dir {tmp_path / 'missing'} does not exist" in missing.stderr
    finally:
        shutil.rmtree(world.audit)
        shutil.copytree(pristine, world.audit)
    assert world.verify(world.audit).ok


def test_an_approval_verified_against_other_definitions_shows_in_the_log(world, tmp_path):
    """The prod champion's approval entry records the signer list it was verified against: definitions that enrol
    anyone else (an edited copy) are named by `audit verify` (exit 8); entries from before the field say so."""
    from lakegate.promotion.audit_check import signer_list_problem
    from lakegate.promotion.signing import key_fingerprint, signers_digest

    prod = world.envs["prod"]
    entries = AuditLog(world.audit, "prod").entries()
    [approval] = [e for e in entries if e["action"] == "approve"]
    assert approval["details"]["key_fingerprint"] == key_fingerprint(prod.promotion.approval.signers[0].key)
    assert approval["details"]["signers_sha256"] == signers_digest(prod.promotion.approval.signers)
    edited = tmp_path / "environments"
    shutil.copytree(world.env_dir, edited)
    _, other = new_ssh_key(tmp_path / "keys", "sam")
    set_approval(edited, "prod", approvers=["ml-approvers"], signers=[{"identity": HEAD, "key": prod.promotion.approval
                                                                        .signers[0].key},
                                                                       {"identity": "sam.okafor@contoso.com", "key": other}])
    caught = run_in_process("audit", "verify", "--environments", str(edited), "--state-dir", str(world.state))
    assert caught.returncode == 8, caught.stdout + caught.stderr
    message = " ".join(caught.stderr.split())
    assert (f"prod.ml.prodm: the approval of champion v{approval['version']} by {HEAD} (key "
            f"{approval['details']['key_fingerprint']}) was verified against signer list sha256 "
            f"{approval['details']['signers_sha256'][:12]}…, but these definitions' promotion.approval.signers are "
            f"{signers_digest(load_environments(edited)['prod'].promotion.approval.signers)[:12]}…: it was approved "
            "against definitions that are not the reviewed ones") in message
    assert run_in_process("audit", "verify", "--environments", str(world.env_dir), "--state-dir",
                          str(world.state)).returncode == 0
    # An entry written before lakegate recorded the field: said, not failed.
    older = [{**e, "details": {k: v for k, v in e["details"].items() if k != "signers_sha256"}}
             if e["action"] == "approve" else e for e in entries]
    notes: list[str] = []
    line_of = {e["seq"]: n for n, e in enumerate(older, start=1)}
    assert signer_list_problem(prod, AuditLog(world.audit, "prod"), older, line_of, "prod.ml.prodm",
                               approval["version"], notes) is None
    assert notes == [f"prod.ml.prodm: the approval of champion v{approval['version']} (seq {approval['seq']}): signer "
                     "list not recorded (an entry older than the field)"]


# -- rollback never restores a gate-failed version ----------------------------------------------------------


def test_rollback_onto_a_gate_failed_version_through_a_forged_history_is_refused(world, tmp_path):
    full = "staging.ml.rb"
    for good, seed, outcome in ((True, 11, "champion"), (False, 12, "gate_failed"), (True, 13, "champion")):
        assert world.promote("rb", "staging", version=world.dev_version("rb", good, seed)).outcome == outcome
    audit = world.copy(tmp_path)
    entries = [json.loads(row) for row in lines(audit / "staging.jsonl")]
    mine = [e for e in entries if e["model"] == full]
    genuine = AnchorValue(mine[-1]["seq"], mine[-1]["hash"])
    # The forged history: v2 (whose gates failed) became champion, then v3. Rollback would pick v2.
    failed = mine[1]
    failed.update(passed=True, champion="2", gates=[{**g, "passed": True} for g in failed["gates"]],
                  details={**failed["details"], "champion_moved": True})
    last = forge(audit, "staging", entries)
    staging = world.adapter("staging")
    try:
        # (a) the audit folder alone: the anchor gives the forgery away
        with pytest.raises(AuditTampered, match=f"holds a different entry seq {genuine.seq}, which the registry's anchor "
                                                f"on {full} names"):
            rollback(world.envs, "rb", "staging", adapter_factory=world.adapter, audit_dir=audit)
        assert world.champion(full) == "3"
        # (b) plus staging's own password: the anchor and v2's gate tags rewritten too; the recheck still refuses
        staging.set_model_tag(full, registry_tags.AUDIT_ANCHOR, str(AnchorValue(mine[-1]["seq"], mine[-1]["hash"])))
        for tag in ("lakegate.gate.signature", "lakegate.gate.required_tags"):
            staging.set_version_tag(full, "2", tag, "passed: forged")
        staging.set_version_tag(full, "2", registry_tags.GATES_SUMMARY, "passed")
        with pytest.raises(GateFailed) as refused:
            rollback(world.envs, "rb", "staging", adapter_factory=world.adapter, audit_dir=audit)
        assert str(refused.value) == ("refusing to roll back staging.ml.rb to v2: signature fails now: the candidate has "
                                      "no signature (log one with the model)")
        assert world.champion(full) == "3"
        assert AuditLog(audit, "staging").entries()[-1]["action"] == "rollback_refused"
        assert last["seq"] == len(entries)
    finally:
        staging.set_model_tag(full, registry_tags.AUDIT_ANCHOR, str(genuine))
    assert world.verify(world.audit).ok


# -- with the target's own password: moved, unapproved, hidden, deleted -- audit verify says so ----------


def test_with_the_targets_password_a_gate_failed_or_unapproved_champion_or_a_hidden_promotion_is_reported(world, tmp_path):
    audit = world.copy(tmp_path)
    staging, prod = world.adapter("staging"), world.adapter("prod")
    try:
        staging.set_alias("staging.ml.chain", registry_tags.CHAMPION, "2")  # the gate-failed version, behind lakegate's back
        assert problem_of(world.verify(audit)).endswith(
            "staging.ml.chain: the registry's champion is v2 but the audit log's is v3 (moved outside lakegate)")
        # ... and the log and anchor forged to agree: the champion's recheck still fails
        entries = [json.loads(row) for row in lines(audit / "staging.jsonl")]
        forged = {**entries[1], "passed": True, "champion": "2", "details": {**entries[1]["details"], "champion_moved": True}}
        last = forge(audit, "staging", [*entries, forged])
        for model in ("staging.ml.chain", "staging.ml.prodm"):
            staging.set_model_tag(model, registry_tags.AUDIT_ANCHOR, str(AnchorValue(last["seq"], last["hash"])))
        message = problem_of(world.verify(audit))
        assert "staging.ml.chain: champion v2 does not pass its recheck: gate signature failed when v2 was promoted" \
            in message and "signature fails now: the candidate has no signature" in message
    finally:
        staging.set_alias("staging.ml.chain", registry_tags.CHAMPION, "3")
        genuine = [json.loads(row) for row in lines(world.audit / "staging.jsonl")]
        for model in ("staging.ml.chain", "staging.ml.prodm"):
            newest = max(e["seq"] for e in genuine if e["model"] == model)
            staging.set_model_tag(model, registry_tags.AUDIT_ANCHOR, str(AnchorValue(newest, genuine[newest - 1]["hash"])))
    assert world.verify(world.audit).ok

    # prod: the unapproved challenger made champion, with a name in the approval tag, log and anchor forged
    audit = world.copy(tmp_path / "prod")
    entries = [json.loads(row) for row in lines(audit / "prod.jsonl")]
    waiting = entries[-1]
    assert (waiting["action"], waiting["details"]["outcome"]) == ("promote", "approval_missing")
    last = forge(audit, "prod", [*entries, {**waiting, "passed": True, "champion": waiting["version"],
                                            "details": {**waiting["details"], "champion_moved": True}}])
    try:
        prod.set_model_tag("prod.ml.prodm", registry_tags.AUDIT_ANCHOR, str(AnchorValue(last["seq"], last["hash"])))
        prod.set_alias("prod.ml.prodm", registry_tags.CHAMPION, waiting["version"])
        prod.set_version_tag("prod.ml.prodm", waiting["version"], registry_tags.APPROVED_BY, HEAD)
        message = problem_of(world.verify(audit))
        assert f"prod.ml.prodm: champion v{waiting['version']} does not pass its recheck" in message
        assert f"approval fails now: no approval recorded for v{waiting['version']}; a lakegate.approved_by tag naming " \
               f"{HEAD} is not an approval" in message
    finally:
        prod.set_alias("prod.ml.prodm", registry_tags.CHAMPION, "1")
        genuine = [json.loads(row) for row in lines(world.audit / "prod.jsonl")]
        prod.set_model_tag("prod.ml.prodm", registry_tags.AUDIT_ANCHOR, str(AnchorValue(genuine[-1]["seq"], genuine[-1]["hash"])))
    assert world.verify(world.audit).ok


def test_a_promotion_hidden_by_deleting_its_version_or_its_entry_is_reported(world):
    """Last in the module: it leaves the genuine history broken on purpose."""
    assert world.promote("hide", "staging", version=world.dev_version("hide", True, 21)).outcome == "champion"
    assert world.promote("hide", "staging", version=world.dev_version("hide", True, 22)).outcome == "champion"
    staging = world.adapter("staging")
    # A copy made behind lakegate's back carries the promotion tags but has no promote entry.
    source = staging.get_version("dev.ml.hide", "1")
    extra = staging.copy_version(source, "staging.ml.hide", {registry_tags.IDEMPOTENCY_KEY: "f" * 32})
    assert problem_of(world.verify(world.audit)).endswith(
        f"staging.ml.hide v{extra.version} carries lakegate's promotion tags but no promote entry records it (a promotion "
        "hidden from the log, or one that never finished: re-run it)")
    staging.delete_version("staging.ml.hide", extra.version)
    assert world.verify(world.audit).ok
    # The environment's principal owns its models: it may delete a promoted version. That is reported, not hidden.
    staging.delete_version("staging.ml.hide", "1")
    entries = AuditLog(world.audit, "staging").entries()
    first = next(number for number, e in enumerate(entries, start=1) if e["model"] == "staging.ml.hide")
    assert problem_of(world.verify(world.audit)).endswith(
        f"staging.jsonl:{first}: staging.ml.hide v1, promoted at seq {first}, no longer exists in the registry (deleted)")
