"""The audit anchor: the chain head kept where the audit files cannot reach it.

After every append that touches a model of the environment's catalog, the environment's principal
writes `lakegate.audit_head = <seq>:<hash>` (that entry's) as a tag on the registered model, in the
local registry and in Unity Catalog alike. Whoever can rewrite the audit folder cannot write that tag
(only the environment's principal can: it owns its models), so `audit verify` compares the log with
every anchor and catches what a hash chain alone cannot: the last entries deleted together with the
head file, a well-chained forged entry appended at the end, a whole log rewritten with recomputed
hashes, a log deleted outright.

Before appending, the log is checked against the model's anchor: a log that lost or changed the
anchored entry (a restored old copy, a rewrite, a fresh folder on another machine) refuses further
appends, so a new entry can never paper over a hole by moving the anchor past it.

Entries about a model that is not registered (yet), or not declared in the environment, cannot be
anchored (refusals before the first promotion); `audit verify` says how many there are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathlib import Path
from typing import Any, Protocol

from lakegate.infra.model import Environment

from . import registry_tags
from .registry import NotFound, RegistryAdapter



class CheckedLog(Protocol):
    """What the anchor check reads of an audit log (promotion/audit.py's AuditLog): the log asks its anchor,
    the anchor never imports the log."""

    path: Path

    def entries(self) -> list[dict[str, Any]]: ...

    def problem(self, line: int, seq: int | None, text: str) -> Any: ...

_VALUE = re.compile(r"([0-9]{1,12}):([0-9a-f]{64})")


@dataclass(frozen=True)
class AnchorValue:
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


class MalformedAnchor(ValueError):
    pass


def parse(raw: str | None) -> AnchorValue | None:
    if raw is None:
        return None
    match = _VALUE.fullmatch(raw.strip())
    if not match:
        raise MalformedAnchor(f"the anchor {raw[:80]!r} is not <seq>:<sha256>")
    return AnchorValue(int(match.group(1)), match.group(2))


class Anchor:
    """Reads and writes the anchors of one environment's models, as that environment's principal."""

    def __init__(self, registry: RegistryAdapter, env: Environment):
        self.registry, self.env = registry, env
        self.models = [env.unity_catalog.model_full_name(m) for m in env.models]
        self._registered: dict[str, bool] = {}  # what the last read of each model's anchor found out

    def anchorable(self, model: str | None) -> bool:
        return model in self.models

    def read(self, model: str) -> AnchorValue | None:
        """The model's anchor; None when the model is not registered or carries none.
        MalformedAnchor when the tag is there but not an anchor."""
        try:
            raw = self.registry.get_model_tag(model, registry_tags.AUDIT_ANCHOR)
        except NotFound:
            self._registered[model] = False
            return None
        self._registered[model] = True
        return parse(raw)

    def read_all(self) -> dict[str, "AnchorValue | None | MalformedAnchor"]:
        """Every model's anchor, read at once (a damaged one as its MalformedAnchor, raised where it is judged)."""
        def one(model: str):
            try:
                return self.read(model)
            except MalformedAnchor as error:
                return error

        return dict(zip(self.models, concurrently(one, self.models)))

    def registered(self, model: str) -> bool:
        """Whether the model exists; answered by this anchor's last read of it when there was one (`audit verify`
        asks right after reading every anchor: one registry round trip less per model)."""
        if model in self._registered:
            return self._registered[model]
        try:
            self.registry.get_model_tag(model, registry_tags.AUDIT_ANCHOR)
            return True
        except NotFound:
            return False

    def write(self, model: str, seq: int, entry_hash: str) -> bool:
        """Move the model's anchor to this entry; False when the model is not registered (yet)."""
        try:
            self.registry.set_model_tag(model, registry_tags.AUDIT_ANCHOR, str(AnchorValue(seq, entry_hash)))
            return True
        except NotFound:
            return False


_ANCHORED_ACTIONS = ("promote", "approve", "rollback")


def concurrently(function, items: list) -> list:
    """[function(item) for item in items], the calls overlapping (registry round trips): results in order, and an
    exception raised by a call is raised here, as the loop would have."""
    if len(items) < 2:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(items)), thread_name_prefix="lakegate-reads") as pool:
        return list(pool.map(function, items))


def anchor_problem(log: CheckedLog, anchor: Anchor) -> Any:
    """The first disagreement between the log (whose chain verified) and its models' anchors."""
    return check_anchors(log, anchor)[0]


def check_anchors(log: CheckedLog, anchor: Anchor) -> tuple[Any, int]:
    """(first disagreement between the log and its models' anchors, newest anchored seq)."""
    newest = 0
    entries = log.entries() if log.path.is_file() else []
    line_of = {e["seq"]: number for number, e in enumerate(entries, start=1)}
    by_seq = {e["seq"]: e for e in entries}
    last_seq = entries[-1]["seq"] if entries else 0
    values = anchor.read_all()
    for model in anchor.models:
        value = values[model]
        if isinstance(value, MalformedAnchor):
            return log.problem(0, None, f"the registry's anchor on {model} is damaged: {value}"), newest
        if value is None:
            touched = [e for e in entries if e.get("model") == model and e.get("action") in _ANCHORED_ACTIONS]
            if touched and anchor.registered(model):
                first = touched[-1]
                return log.problem(line_of[first["seq"]], first["seq"],
                                f"the log records {first['action']} of {model} (seq {first['seq']}) but the registry "
                                "holds no anchor for it (the anchor tag was removed, or the model re-created)"), newest
            continue
        if value.seq > last_seq:
            if not entries:
                return log.problem(1, None, f"the log is missing or empty, but the registry's anchor on {model} "
                                              f"names entry seq {value.seq}"), newest
            gone = f"seq {value.seq}" if value.seq == last_seq + 1 else f"seq {last_seq + 1}..{value.seq}"
            return log.problem(len(entries) + 1, None, f"entry {gone} removed from the end of the log (the "
                                                         f"registry's anchor on {model} names seq {value.seq})"), newest
        entry = by_seq.get(value.seq)
        if entry is None or entry.get("hash") != value.hash:
            line = line_of.get(value.seq, 0)
            return log.problem(line, value.seq, f"entry seq {value.seq} is not the one anchored in the registry on "
                                                  f"{model}: the log was rewritten at or before this line"), newest
        later = [e for e in entries if e.get("model") == model and e["seq"] > value.seq]
        if later:
            forged = later[0]
            return log.problem(line_of[forged["seq"]], forged["seq"],
                            f"entry seq {forged['seq']} ({forged.get('action')} of {model}) comes after the registry's "
                            f"anchor on {model} (seq {value.seq}): appended without the registry (forged), or its "
                            "anchor write failed"), newest
        newest = max(newest, value.seq)
    for entry in entries:
        if entry["seq"] > newest and entry.get("action") in _ANCHORED_ACTIONS:
            return log.problem(line_of[entry["seq"]], entry["seq"],
                            f"entry seq {entry['seq']} ({entry.get('action')} of {entry.get('model')}) is not covered "
                            "by any anchor in the registry (appended without the registry: forged)"), newest
    return None, newest
