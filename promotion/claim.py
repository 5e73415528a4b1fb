"""Exactly one copy per promotion, whatever crashes or races: the idempotency key and the claim.

Two layers:
- Same machine: an exclusive flock per target model (`<lock_dir>/<model>.lock`) serialises promotions,
  so the second run finds the first run's copy by its idempotency key and reuses it. The kernel drops
  the lock when a process dies, even by kill -9.
- Across machines, through the registry itself: each copy carries the key from the moment it exists
  (adapters create the version *with* its tags, in one call). After copying, every run lists the
  versions with its key; the oldest (lowest version number) wins, because version numbers are handed
  out in creation order, so a run that sees no older copy is the winner and every later run sees it.
  Younger copies are discarded (deleted, or marked `lakegate.duplicate_of` when the adapter cannot
  delete) and every run carries on with the winner, so all runs converge on one version and champion.
- After a crash: a finished copy is found by its key and reused; an unfinished one (the registry
  created the version but the files are not all there: Unity Catalog's PENDING_REGISTRATION) is
  resumed by the adapter; a crash before the version exists leaves only an orphaned upload, and the
  re-run copies again. Tags are never set after creation, so no version exists without its key.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import registry_tags
from .errors import PromotionError
from .registry import ModelVersion, NotFound, PermissionRefused, ProgressCallback, RegistryAdapter, RegistryError

DUPLICATE_OF = "lakegate.duplicate_of"
READY, FAILED = "READY", "FAILED_REGISTRATION"
LOCK_TIMEOUT_S = float(os.environ.get("LAKEGATE_LOCK_TIMEOUT", "900"))


class LockTimeout(PromotionError):
    kind = "REGISTRY_UNAVAILABLE"


@contextmanager
def local_lock(lock_dir: str | Path, target_name: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Hold the same-machine lock of one target model for the duration of a promotion."""
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", target_name) + ".lock")
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"another promotion of {target_name} has held {path} for {timeout_s:.0f} s") from None
                time.sleep(0.05)
        try:
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class Copy:
    version: ModelVersion                 # the one copy (the winner)
    reused: bool                          # it existed before this run
    champion: ModelVersion | None         # the target's champion, as listed while settling


def live_versions(registry: RegistryAdapter, target_name: str) -> list[ModelVersion]:
    """The target's versions, oldest first, without failed registrations and discarded duplicates."""
    try:
        versions = registry.list_versions(target_name)
    except NotFound:
        return []
    return sorted((v for v in versions if not v.tags.get(DUPLICATE_OF) and v.status != FAILED),
                  key=lambda v: int(v.version))


def with_key(versions: list[ModelVersion], key: str) -> list[ModelVersion]:
    return [v for v in versions if v.tags.get(registry_tags.IDEMPOTENCY_KEY) == key]


def copy_once(registry: RegistryAdapter, source: ModelVersion, target_name: str, tags: dict[str, str],
              progress: ProgressCallback | None = None) -> Copy:
    """The one copy of source in target; copies only when no finished copy carries the idempotency key.

    A copy left unfinished by a crash (Unity Catalog: a version still PENDING_REGISTRATION) is handed
    back to `copy_version`, whose contract is to resume a pending copy carrying the same tags."""
    key = tags[registry_tags.IDEMPOTENCY_KEY]
    listing = live_versions(registry, target_name)
    reused = any(v.status == READY for v in with_key(listing, key))
    if not reused:
        mine = registry.copy_version(source, target_name, tags, progress)
        listing = [v for v in live_versions(registry, target_name) if v.version != mine.version] + [mine]
    winner = settle(registry, with_key(listing, key))
    if winner.status != READY:
        raise RegistryError(f"{target_name} version {winner.version} (an earlier copy of {source.name} "
                            f"v{source.version}) is still {winner.status}; re-run once its copy has finished")
    champion = next((v for v in listing if registry_tags.CHAMPION in v.aliases), None)
    return Copy(winner, reused, champion)


def settle(registry: RegistryAdapter, copies: list[ModelVersion]) -> ModelVersion:
    """The oldest copy wins; every younger copy with the same key is discarded. Returns the winner."""
    winner, *losers = sorted(copies, key=lambda v: int(v.version))
    for loser in losers:
        discard(registry, loser, winner)
    return winner


def discard(registry: RegistryAdapter, loser: ModelVersion, winner: ModelVersion) -> None:
    """Delete a duplicate copy; where the principal may edit but not delete versions, mark it as ignored."""
    try:
        try:
            registry.delete_version(loser.name, loser.version)
        except PermissionRefused:
            registry.set_version_tag(loser.name, loser.version, DUPLICATE_OF, winner.version)
    except NotFound:
        pass  # the racing run that made it already discarded it
