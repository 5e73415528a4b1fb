"""What an approval is, as data: the statement a person signs (canonical bytes over env, model, version, artifact
digest, approver and time) and the record a version carries in its tags. promotion/approval.py verifies them;
it re-exports these names."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from . import ci_approvals, registry_tags
from .errors import ApprovalMissing, InvalidRequest
from .holds import parse_time
from .registry import RegistryAdapter

STATEMENT_VERSION = 1
SSH = "ssh"
KINDS = (SSH, ci_approvals.GITHUB, ci_approvals.AZURE_DEVOPS)
_CHUNK = 240  # characters per tag value (Unity Catalog allows 250)


# --------------------------------------------------------------------------------- the statement


def statement(env: str, model: str, version: str, digest: str, approver: str, approved_at: str) -> bytes:
    """The exact bytes an approver signs."""
    body = {"lakegate_approval": STATEMENT_VERSION, "env": env, "model": model, "version": str(version),
            "artifacts_sha256": digest, "approver": approver, "approved_at": approved_at}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def parse_statement(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidRequest("the statement file is not JSON (use the one `approve --print-statement` wrote)") from None
    fields = {"lakegate_approval", "env", "model", "version", "artifacts_sha256", "approver", "approved_at"}
    if not isinstance(data, dict) or set(data) != fields or data["lakegate_approval"] != STATEMENT_VERSION:
        raise InvalidRequest("the statement file is not a lakegate approval statement (version 1)")
    if parse_time(data["approved_at"]) is None:
        raise ApprovalMissing(f"approval refused: the statement's approved_at {str(data['approved_at'])[:40]!r} is not an "
                              "ISO-8601 time with a zone (e.g. 2026-05-01T09:30:00Z)")
    if statement(**{k: str(data[k]) for k in ("env", "model", "version")}, digest=str(data["artifacts_sha256"]),
                 approver=str(data["approver"]), approved_at=str(data["approved_at"])) != raw:
        raise InvalidRequest("the statement file is not in canonical form (sign the file `approve --print-statement` "
                             "wrote, unchanged)")
    return data


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ the record


@dataclass(frozen=True)
class ApprovalRecord:
    kind: str                         # ssh | github | azure-devops
    by: str                           # the enrolled identity
    at: str                           # when (UTC), part of the signed statement
    digest: str                       # the artifacts digest the approval is for
    signature: str = ""               # ssh: the signature, one line of base64
    evidence: dict[str, Any] = field(default_factory=dict)   # CI: what the platform's API confirmed

    def to_json(self) -> str:
        return json.dumps({"v": STATEMENT_VERSION, **asdict(self)}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ApprovalRecord":
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != STATEMENT_VERSION or data.get("kind") not in KINDS:
            raise ValueError("not a version-1 approval record")
        return cls(kind=data["kind"], by=str(data["by"]), at=str(data["at"]), digest=str(data["digest"]),
                   signature=str(data.get("signature") or ""), evidence=dict(data.get("evidence") or {}))


def record_tags(record: ApprovalRecord) -> dict[str, str]:
    text = record.to_json()
    chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)]
    tags = {f"{registry_tags.APPROVAL_RECORD}.{n}": chunk for n, chunk in enumerate(chunks, start=1)}
    tags[f"{registry_tags.APPROVAL_RECORD}.n"] = str(len(chunks))
    return tags


def read_record(tags: Mapping[str, str]) -> ApprovalRecord | None:
    """The approval record a version carries; None when there is none; ValueError when unreadable."""
    count = tags.get(f"{registry_tags.APPROVAL_RECORD}.n")
    if count is None:
        return None
    if not count.isdigit() or not 0 < int(count) < 100:
        raise ValueError("its chunk count is not a number")
    try:
        text = "".join(tags[f"{registry_tags.APPROVAL_RECORD}.{n}"] for n in range(1, int(count) + 1))
    except KeyError as missing:
        raise ValueError(f"tag {missing} is missing") from None
    try:
        return ApprovalRecord.from_json(text)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"it is not an approval record ({type(error).__name__})") from None


def write_record(registry: RegistryAdapter, name: str, version: str, record: ApprovalRecord) -> None:
    tags = record_tags(record)
    count_key = f"{registry_tags.APPROVAL_RECORD}.n"
    for key, value in tags.items():  # the count last: a half-written record is unreadable, not mixed
        if key != count_key:
            registry.set_version_tag(name, version, key, value)
    registry.set_version_tag(name, version, count_key, tags[count_key])
    registry.set_version_tag(name, version, registry_tags.APPROVED_BY, record.by)
    registry.set_version_tag(name, version, registry_tags.APPROVED_AT, record.at)
