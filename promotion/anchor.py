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

from infra.model import Environment

from . import registry_tags
from .registry import NotFound, RegistryAdapter

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
        self.models = [env.unity_catalog.model_full_name(m.name) for m in env.unity_catalog.models]

    def anchorable(self, model: str | None) -> bool:
        return model in self.models

    def read(self, model: str) -> AnchorValue | None:
        """The model's anchor; None when the model is not registered or carries none.
        MalformedAnchor when the tag is there but not an anchor."""
        try:
            return parse(self.registry.get_model_tag(model, registry_tags.AUDIT_ANCHOR))
        except NotFound:
            return None

    def registered(self, model: str) -> bool:
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
