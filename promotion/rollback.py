"""Rollback: champion goes back to the version that was champion before it, as the audit log recorded.

The audit log, not the registry, is the memory of who was champion when: the chain is verified first
(a tampered log must not steer production), then the champion history is replayed (a promotion that
moved champion pushes, a rollback pops), and the registry's champion must be the top of that history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from infra.model import Environments

from . import aliases, naming
from .audit import AuditLog, current_actor
from .claim import local_lock
from .errors import InvalidRequest, ServingUpdateFailed
from .promote import AdapterFactory, ServingHook, update_serving
from .registry import NotFound


@dataclass(frozen=True)
class RollbackResult:
    env: str
    model: str
    from_version: str
    to_version: str
    audit_seq: int

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
    env = naming.environment(envs, env_name)
    full = naming.full_name_in(env, model)
    log = AuditLog(audit_dir, env.name)
    registry = adapter_factory(env.name)
    with local_lock(lock_dir or Path(audit_dir).parent / "locks", full):
        current, previous = _current_and_previous(registry, log, full)
        try:
            target = registry.get_version(full, previous)
        except NotFound:
            raise InvalidRequest(f"{full} v{previous} (the previous champion) no longer exists") from None
        registry.set_alias(full, aliases.CHAMPION, previous)
        serving_error = update_serving(serving_hook, env, full, previous)
        entry = log.append("rollback", model=full, version=previous, actor=current_actor(), principal=registry.principal,
                           git_commit=target.tags.get(aliases.GIT_COMMIT), previous_champion=current,
                           champion=previous, passed=True,
                           details={"serving_error": serving_error})
    if serving_error:
        raise ServingUpdateFailed(f"{full} rolled back to v{previous} but the serving endpoint was not updated: {serving_error}")
    return RollbackResult(env.name, full, current, previous, entry["seq"])


def _current_and_previous(registry, log: AuditLog, full: str) -> tuple[str, str]:
    champion = registry.get_version_by_alias(full, aliases.CHAMPION)
    if champion is None:
        raise InvalidRequest(f"{full} has no champion to roll back")
    history = champion_history(log.trusted_entries(), full)
    if not history or history[-1] != champion.version:
        recorded = f"v{history[-1]}" if history else "none"
        raise InvalidRequest(f"{full}: champion is v{champion.version} in the registry but the audit log "
                             f"({log.path}) records {recorded}; refusing to roll back past a change it did not see")
    if len(history) < 2:
        raise InvalidRequest(f"{full}: v{champion.version} is the first champion recorded; nothing to roll back to")
    return champion.version, history[-2]

