"""The audit log: chained appends, and verify() naming the first edited, reordered or removed entry."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from lakegate.promotion.audit import GENESIS, AuditLog, entry_hash, verify
from lakegate.promotion.errors import AuditTampered
from lakegate.promotion.rollback import champion_history


def filled(tmp_path, count=4, env="staging") -> AuditLog:
    log = AuditLog(tmp_path, env)
    for number in range(1, count + 1):
        log.append("promote", model="staging.ml.churn", version=str(number), actor="ci",
                   details={"champion_moved": True})
    return log


def rewrite(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines))


def test_entries_are_chained_and_carry_one_schema(tmp_path):
    log = filled(tmp_path, 3)
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert all(entry_hash(e) == e["hash"] for e in entries)
    assert set(entries[0]) == {"seq", "time", "env", "action", "model", "version", "actor", "principal",
                               "git_commit", "gates", "passed", "previous_champion", "champion", "source",
                               "details", "prev_hash", "hash"}
    assert verify(tmp_path).ok and verify(tmp_path).checked == {"staging": 3}


def test_unknown_fields_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown audit field"):
        AuditLog(tmp_path, "dev").append("promote", colour="blue")


def test_an_edited_entry_is_named_with_its_line(tmp_path):
    log = filled(tmp_path)
    lines = log.path.read_text().splitlines()
    lines[1] = lines[1].replace('"version":"2"', '"version":"9"')
    rewrite(log, lines)
    [problem] = verify(tmp_path).problems
    assert (problem.env, problem.line, problem.seq) == ("staging", 2, 2)
    assert problem.problem == "entry seq 2 was edited (its hash does not match its content)"


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_chain_after_it(tmp_path):
    log = filled(tmp_path)
    entries = log.entries()
    entries[1]["version"] = "9"
    entries[1]["hash"] = entry_hash(entries[1])
    rewrite(log, [json.dumps(e) for e in entries])
    [problem] = verify(tmp_path).problems
    assert problem.line == 3 and "does not chain" in problem.problem


def test_reordered_entries_are_named(tmp_path):
    log = filled(tmp_path)
    lines = log.path.read_text().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(log, lines)
    [problem] = verify(tmp_path).problems
    assert problem.line == 2
    assert problem.problem == "entries reordered: line 2 holds seq 3, expected seq 2 (seq 2 is at line 3)"


def test_a_removed_entry_is_named(tmp_path):
    log = filled(tmp_path)
    lines = log.path.read_text().splitlines()
    del lines[1]
    rewrite(log, lines)
    [problem] = verify(tmp_path).problems
    assert problem.line == 2 and problem.problem == "entry seq 2 removed before this line (line 2 holds seq 3)"


def test_removing_the_last_entries_is_caught_by_the_head(tmp_path):
    log = filled(tmp_path)
    rewrite(log, log.path.read_text().splitlines()[:2])
    [problem] = verify(tmp_path).problems
    assert problem.line == 3 and problem.problem == "entry seq 3..4 removed from the end of the log"


def test_a_torn_last_line_is_reported_and_blocks_appends(tmp_path):
    log = filled(tmp_path, 2)
    with open(log.path, "ab") as handle:
        handle.write(b'{"seq": 3, "hash"')
    assert verify(tmp_path).problems[0].problem == "the last line is incomplete (torn write)"
    with pytest.raises(AuditTampered, match="incomplete"):
        log.append("promote")


def test_only_the_tampered_environment_is_reported(tmp_path):
    filled(tmp_path, 2, "dev")
    prod = filled(tmp_path, 2, "prod")
    rewrite(prod, prod.path.read_text().splitlines()[1:])
    result = verify(tmp_path)
    assert result.checked == {"dev": 2} and [p.env for p in result.problems] == ["prod"]
    assert result.as_dict()["ok"] is False


def _append_many(directory, count):
    log = AuditLog(directory, "staging")
    for _ in range(count):
        log.append("promote", model="m")


def test_concurrent_appends_from_processes_stay_chained(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(tmp_path, 25)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert verify(tmp_path).ok
    assert [e["seq"] for e in AuditLog(tmp_path, "staging").entries()] == list(range(1, 101))


def test_champion_history_replays_promotions_and_rollbacks():
    def entry(action, version, moved=True):
        return {"model": "m", "action": action, "version": version, "details": {"champion_moved": moved}}

    entries = [entry("promote", "1"), entry("promote", "2", moved=False), entry("promote", "3"),
               entry("rollback", "1"), entry("promote", "4"), {"model": "other", "action": "promote",
                                                                "version": "7", "details": {"champion_moved": True}}]
    assert champion_history(entries, "m") == ["1", "4"]
