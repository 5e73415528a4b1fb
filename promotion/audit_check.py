"""`audit verify` with the registry: every log against its anchors, and the registry against every log.

File-only checks (promotion/audit.py) prove the chain is internally consistent. Compared with the
registry, as each environment's principal, this module also proves:

* anchors: every model's anchor (`lakegate.audit_head`, promotion/anchor.py) names an entry the log
  holds, with the same hash; nothing touching that model was appended after its anchor; a model the
  log promoted, approved or rolled back carries an anchor. This catches what a chain cannot: entries
  deleted from the end together with the head file, a forged well-chained append, a full rewrite with
  recomputed hashes, a deleted log;
* state: the registry's champion is the one the log replays to; every version carrying lakegate's
  promotion tags has its promote entry (a promotion hidden from the log); every promoted version still
  exists (a promotion hidden by deleting the version: the environment's principal owns its models and
  may delete versions, so deletion is detected rather than prevented);
* the champion itself passes recheck.py (gates recorded passed, the copy is its source's files, metric
  thresholds on the source run, the approval verifies now where required), and the approval entry that counts for
  it (the champion's latest) was verified against the signer list these definitions hold (`signers_sha256`, with
  the key's fingerprint): an approval checked against an edited copy of the definitions shows in the log alone.
  Entries written before lakegate recorded it say so ("not recorded"); older approvals of other versions checked
  against another signer list (enrolments change) are listed as notes.

Environments are taken from the definitions, not from the files present, so a log deleted outright is
still examined (its models' anchors name entries that are gone).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from lakegate.infra.model import Environment, Environments

from . import registry_tags
from .anchor import Anchor, check_anchors, concurrently
from .audit import AuditLog, AuditProblem, VerifyResult, log_names, verify_log
from .claim import DUPLICATE_OF
from .recheck import recheck
from .signing import signers_digest
from .registry import NotFound, RegistryAdapter
from .rollback import champion_history

def cross_check(envs: Environments, directory: str | Path,
                adapter_factory: Callable[[str], RegistryAdapter]) -> VerifyResult:
    """Every environment's log: chain, anchors, registry state. The first problem of each is named. The logs are
    checked at once (each as its own environment's principal, whose adapters are made first, in order): the time
    is registry round trips and file digests, which overlap."""
    directory = Path(directory)
    names = [env.name for env in envs] + [n for n in log_names(directory) if n not in envs]
    registries = {name: adapter_factory(name) for name in names if name in envs}
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names))), thread_name_prefix="lakegate-audit") as pool:
        outcomes = list(pool.map(lambda name: _check_one(envs, directory, name, registries.get(name)), names))
    checked: dict[str, int] = {}
    problems: list[AuditProblem] = []
    notes: dict[str, list[str]] = {}
    for name, (count, problem, found) in zip(names, outcomes):
        if found is not None:
            notes[name] = found
        if problem is not None:
            problems.append(problem)
        elif count is not None:
            checked[name] = count
    return VerifyResult(checked, problems, cross_checked=True, notes=notes)


def _check_one(envs: Environments, directory: Path, name: str, registry: RegistryAdapter | None
               ) -> tuple[int | None, AuditProblem | None, list[str] | None]:
    """(entries checked or None, the first problem, notes or None) of one environment's log."""
    log = AuditLog(directory, name)
    problem = verify_log(log)
    if problem is None and registry is None:
        return len(log.entries()), None, ["not an environment in the definitions: only its chain was checked"]
    notes = None
    if problem is None:
        env = envs[name]
        anchor = Anchor(registry, env)
        problem, newest = check_anchors(log, anchor)
        if problem is None:
            entries = log.entries() if log.path.is_file() else []
            problem, notes = _state_problem(envs, env, registry, log, entries, anchor)
            tail = sum(1 for e in entries if e["seq"] > newest)
            if tail:
                notes.append(f"{tail} refusal(s) after the newest anchor (seq {newest}) concern no "
                             "registered model and are not anchored")
    if problem is not None:
        return None, problem, notes
    if log.path.is_file() or notes:
        return (len(log.entries()) if log.path.is_file() else 0), None, notes
    return None, None, notes


def _state_problem(envs: Environments, env: Environment, registry: RegistryAdapter, log: AuditLog,
                   entries: list[dict[str, Any]], anchor: Anchor) -> tuple[AuditProblem | None, list[str]]:
    notes, unregistered = [], []
    line_of = {e["seq"]: number for number, e in enumerate(entries, start=1)}
    declared = [env.unity_catalog.model_full_name(m) for m in env.models]

    def listed(model: str):
        try:
            return registry.list_versions(model)
        except NotFound:
            return []
        except Exception as error:  # noqa: BLE001 -- raised below, at this model's turn, as the loop would have
            return error

    listings = dict(zip(declared, concurrently(listed, declared)))
    for model in declared:
        versions = listings[model]
        if isinstance(versions, Exception):
            raise versions
        promotes = [e for e in entries if e.get("action") == "promote" and e.get("model") == model]
        if not versions and not promotes:
            if not anchor.registered(model):
                unregistered.append(model)
            continue
        existing = {v.version: v for v in versions}
        for entry in promotes:
            if str(entry.get("version")) not in existing:
                return log.problem(line_of[entry["seq"]], entry["seq"],
                                f"{model} v{entry.get('version')}, promoted at seq {entry['seq']}, no longer exists "
                                "in the registry (deleted)"), notes
        recorded = {str(e.get("version")) for e in promotes}
        for version in versions:
            if version.tags.get(registry_tags.IDEMPOTENCY_KEY) and not version.tags.get(DUPLICATE_OF) \
                    and version.version not in recorded:
                return log.problem(len(entries) + 1, None,
                                f"{model} v{version.version} carries lakegate's promotion tags but no promote entry "
                                "records it (a promotion hidden from the log, or one that never finished: re-run it)"), notes
        history = champion_history(entries, model)
        champion = next((v for v in versions if registry_tags.CHAMPION in v.aliases), None)
        expected = history[-1] if history else None
        if (champion.version if champion else None) != expected:
            return log.problem(len(entries) + 1, None,
                            f"{model}: the registry's champion is {'v' + champion.version if champion else 'unset'} but "
                            f"the audit log's is {'v' + expected if expected else 'unset'} (moved outside lakegate)"), notes
        if champion is not None:
            found = recheck(envs, env, registry, champion, entries)
            if found:
                return log.problem(len(entries) + 1, None,
                                f"{model}: champion v{champion.version} does not pass its recheck: "
                                + "; ".join(str(p) for p in found)), notes
            notes.append(f"{model}: champion v{champion.version} rechecked")
            problem = signer_list_problem(env, log, entries, line_of, model, champion.version, notes)
            if problem is not None:
                return problem, notes
        else:
            notes.append(f"{model}: no champion")
    if unregistered:
        notes.append(f"not registered: {', '.join(unregistered)} (never promoted here, or deleted together with its "
                     "anchor: only the registry's own audit log can tell)")
    return None, notes


def signer_list_problem(env: Environment, log: AuditLog, entries: list[dict[str, Any]], line_of: dict[int, int],
                          model: str, champion: str, notes: list[str]) -> AuditProblem | None:
    """The champion's latest approval entry must record this environment's signer list (by digest)."""
    name = model.split(".")[-1]
    current = signers_digest((env.policy(name).approval if name in env.models else env.promotion.approval).signers)
    approvals = [e for e in entries if e.get("action") == "approve" and e.get("model") == model]
    others = [e for e in approvals if str(e.get("version")) != champion
              and (e.get("details") or {}).get("signers_sha256") not in (None, current)]
    if others:
        notes.append(f"{model}: {len(others)} approval(s) of other versions were verified against another signer list "
                     f"(seq {', '.join(str(e['seq']) for e in others[:5])}; enrolments changed since?)")
    latest = next((e for e in reversed(approvals) if str(e.get("version")) == champion), None)
    if latest is None:
        return None
    details = latest.get("details") or {}
    recorded = details.get("signers_sha256")
    if not recorded:
        notes.append(f"{model}: the approval of champion v{champion} (seq {latest['seq']}): signer list not recorded "
                     "(an entry older than the field)")
        return None
    if recorded != current:
        return log.problem(line_of[latest["seq"]], latest["seq"],
                           f"{model}: the approval of champion v{champion} by {details.get('approved_by')} (key "
                           f"{details.get('key_fingerprint') or 'not recorded'}) was verified against signer list sha256 "
                           f"{str(recorded)[:12]}…, but these definitions' promotion.approval.signers are {current[:12]}…: "
                           "it was approved against definitions that are not the reviewed ones (approve it again)")
    notes.append(f"{model}: the approval of champion v{champion} was verified against these definitions' signers")
    return None
