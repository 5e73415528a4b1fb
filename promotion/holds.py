"""Rollback holds: files rolled back out of champion stay out until someone says otherwise, with a fresh approval.

A rollback records, in its audit entry, the version it moved champion away from and that version's artifact digest
(`details.rolled_back`), and tags the version (`lakegate.rolled_back`, for people). Promotion looks the digest of what
it is about to judge up in the target's audit log, so the same files come back neither as the same version nor as the
same artifacts registered again as a new one: the log (chained and anchored) is what holds, not the tag, which any
principal with write access could remove. Promoting held files needs `allow_rolled_back` (`--allow-rolled-back`;
never passed by CI) and, where approval is required, an approval signed after the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from .registry import ModelVersion, RegistryAdapter


@dataclass(frozen=True)
class RollbackHold:
    model: str            # the target model whose champion was rolled back
    version: str          # the version champion moved away from
    at: str               # when (the audit entry's time, UTC)
    by: str               # the actor who rolled back
    seq: int              # the audit entry
    artifacts_sha256: str

    def describe(self) -> str:
        return (f"its files (sha256 {self.artifacts_sha256[:12]}…) were rolled back out of champion as {self.model} "
                f"v{self.version} at {self.at} by {self.by} (audit seq {self.seq})")

    def tag_value(self) -> str:
        return f"{self.at} by {self.by} (audit seq {self.seq})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rolled_back_record(version: str, digest: str) -> dict[str, str]:
    """What a rollback entry's details record about the version champion moved away from."""
    return {"version": str(version), "artifacts_sha256": digest}


def holds_in(entries: Iterable[dict[str, Any]], model: str) -> list[RollbackHold]:
    """Every rollback of `model` the log records and no allowed promotion has lifted since (one that made the files
    champion again), oldest first; entries without the record are older lakegate's."""
    found, lifted = [], set()
    for entry in entries:
        if entry.get("model") != model:
            continue
        details = entry.get("details") or {}
        record = details.get("rolled_back")
        if not isinstance(record, dict):
            continue
        if entry.get("action") == "rollback" and record.get("artifacts_sha256"):
            found.append(RollbackHold(model, str(record.get("version")), str(entry.get("time")),
                                      str(entry.get("actor")), int(entry.get("seq") or 0),
                                      str(record["artifacts_sha256"])))
        elif entry.get("action") == "promote" and details.get("champion_moved"):
            lifted.add(record.get("seq"))
    return [hold for hold in found if hold.seq not in lifted]


def hold_on(registry: RegistryAdapter, entries: Iterable[dict[str, Any]], model: str,
            version: ModelVersion) -> RollbackHold | None:
    """The latest rollback of `model` whose files are `version`'s (by digest); None when none, without reading the
    files when the log records no rollback of `model`."""
    holds = holds_in(entries, model)
    if not holds:
        return None
    digest = files_digest(registry, version.name, version.version)
    matching = [h for h in holds if h.artifacts_sha256 == digest]
    return matching[-1] if matching else None


def files_digest(registry: RegistryAdapter, name: str, version: str) -> str:
    """The digest a copy and its source share (promote.copy_digest: location fields of the local registry's MLmodel
    left out; Unity Catalog's copies are byte for byte)."""
    digest = getattr(registry, "content_digest", None) or registry.artifact_digest
    return digest(name, version)


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 date and time with a zone (`Z` or an offset), as UTC; None when it is not one."""
    if not isinstance(text, str) or len(text) < 20 or text[10:11] != "T" or not (
            text.endswith("Z") or text[-6:-5] in ("+", "-")):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else None


def approved_after(approved_at: str, hold: RollbackHold) -> bool:
    """An approval counts for held files only when given after the rollback. Approvals are stamped in whole
    seconds, so one given in the rollback's own second does not count (approve again a second later)."""
    approved, rolled = parse_time(approved_at), parse_time(hold.at)
    return approved is not None and rolled is not None and approved > rolled
