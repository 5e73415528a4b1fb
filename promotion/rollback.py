"""Rollback: champion goes back to the version that was champion before it, as the audit log recorded.

The audit log, not the registry, is the memory of who was champion when: the chain and its registry
anchors are verified first (a tampered or forged log must not steer production), then the champion
history is replayed (a promotion that moved champion pushes, a rollback pops), and the registry's
champion must be the top of that history. The log is never trusted alone to say the previous
champion is fit to serve: that version is rechecked (promotion/recheck.py: gates recorded passed,
its files are its source's, metric thresholds and, where required, the approval verified now), and
a version that fails is refused (exit 5, or 7 for the approval) with the reason.

The version champion moves away from is held (promotion/holds.py): the rollback entry records its artifact digest
and the version is tagged `lakegate.rolled_back`, so promoting the same files again needs `--allow-rolled-back` and,
where approval is required, an approval given after the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from lakegate.infra.model import Environments

from . import naming, registry_tags
from .anchor import Anchor
from .audit import AuditLog, current_actor
from .claim import local_lock
from .errors import ApprovalMissing, GateFailed, InvalidRequest, ServingUpdateFailed
from .holds import RollbackHold, files_digest, rolled_back_record
from .promote import AdapterFactory, ServingHook, update_serving
from .registry import NotFound, PermissionRefused, RegistryError


@dataclass(frozen=True)
class RollbackResult:
    env: str
    model: str
    from_version: str
    to_version: str
    audit_seq: int
    rolled_back: dict[str, Any] | None = None   # the hold now on from_version's files (holds.RollbackHold)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def champion_history(entries: Iterable[dict[str, Any]], model: str) -> list[str]:
    """Versions that were champion of `model`, oldest first, with rolled-back ones removed."""
    history: list[str] = []
    for entry in entries:
        if entry.get("model") != model:
            continue
        if entry.get("action") == "promote" and (entry.get("details") or {}).get("champion_moved"):
            history.append(entry["version"])
        elif entry.get("action") == "rollback" and history:
            history.pop()
    return history


def rollback(envs: Environments, model: str, env_name: str, *, adapter_factory: AdapterFactory,
             audit_dir: str | Path, serving_hook: ServingHook | None = None,
             lock_dir: str | Path | None = None) -> RollbackResult:
    from .recheck import recheck

    env = naming.environment(envs, env_name)
    full = naming.full_name_in(env, model)
    registry = adapter_factory(env.name)
    log = AuditLog(audit_dir, env.name, anchor=Anchor(registry, env))
    with local_lock(lock_dir or Path(audit_dir).parent / "locks", full):
        current, previous, entries = _current_and_previous(registry, log, full)
        try:
            target = registry.get_version(full, previous)
        except NotFound:
            raise InvalidRequest(f"{full} v{previous} (the previous champion) no longer exists") from None
        problems = recheck(envs, env, registry, target, entries)
        if problems:
            kind = ApprovalMissing if all(p.kind == "APPROVAL_MISSING" for p in problems) else GateFailed
            reason = "; ".join(str(p) for p in problems)
            log.append("rollback_refused", model=full, version=previous, actor=current_actor(),
                       principal=registry.principal, passed=False, details={"reason": reason})
            raise kind(f"refusing to roll back {full} to v{previous}: {reason}")
        digest = files_digest(registry, full, current)  # before anything moves: the hold must be recordable
        registry.set_alias(full, registry_tags.CHAMPION, previous)
        serving_error = update_serving(serving_hook, env, full, previous)
        entry = log.append("rollback", model=full, version=previous, actor=current_actor(), principal=registry.principal,
                           git_commit=target.tags.get(registry_tags.GIT_COMMIT), previous_champion=current,
                           champion=previous, passed=True,
                           details={"serving_error": serving_error, "rolled_back": rolled_back_record(current, digest)})
        hold = RollbackHold(full, current, entry["time"], entry["actor"], entry["seq"], digest)
        _tag_rolled_back(registry, full, current, hold)
    if serving_error:
        raise ServingUpdateFailed(f"{full} rolled back to v{previous} but the serving endpoint was not updated: {serving_error}")
    return RollbackResult(env.name, full, current, previous, entry["seq"], hold.as_dict())


def _tag_rolled_back(registry, full: str, version: str, hold: RollbackHold) -> None:
    # For people (status, the registry's UI); the audit entry is what holds, so a failed tag write is not a failure.
    try:
        registry.set_version_tag(full, version, registry_tags.ROLLED_BACK, registry_tags.fit_tag_value(hold.tag_value()))
    except (RegistryError, PermissionRefused, NotFound, ConnectionError):
        pass


def _current_and_previous(registry, log: AuditLog, full: str) -> tuple[str, str, list[dict[str, Any]]]:
    champion = registry.get_version_by_alias(full, registry_tags.CHAMPION)
    if champion is None:
        raise InvalidRequest(f"{full} has no champion to roll back")
    entries = log.entries_for(full)  # chain intact, and the model's registry anchor names its last entry
    history = champion_history(entries, full)
    if not history or history[-1] != champion.version:
        recorded = f"v{history[-1]}" if history else "none"
        raise InvalidRequest(f"{full}: champion is v{champion.version} in the registry but the audit log "
                             f"({log.path}) records {recorded}; refusing to roll back past a change it did not see")
    if len(history) < 2:
        raise InvalidRequest(f"{full}: v{champion.version} is the first champion recorded; nothing to roll back to")
    return champion.version, history[-2], entries

