"""The form of a guardrail rule: one small pure function over the typed model, with its metadata.

Like cdk-nag and checkov: an id `LG-<AREA>-<NNN>` (never reuse a retired one), a level, a one-line
`info` (what is wrong; findings print as `LG-PROD-002[cluster=adhoc]`) and an `explanation` (why the
rule exists). Rules read the model, never cdktn objects, so they survive any change of synth engine.
`@rule(...)` makes a check a `Rule`; which rules run is listed by the packs (packs.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal

from ..model import Environment, Environments

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Hit:
    """One finding of a check: what is wrong (`cluster=adhoc`) and where it is written, as a field path of the
    environment (`("compute", "clusters", 0)`, mapped to its own YAML line by the loader's line map) or, for what
    another file or the promotion path says (a grant, a derived right), that origin's `file:line`."""
    subject: str
    field: tuple = ()
    origin: str | None = None


def at(subject: str, *field: str | int) -> Hit:
    return Hit(subject, tuple(field))


def at_origin(subject: str, origin: str) -> Hit:
    """A finding located where infra/access.py says the right comes from: `file:line`, or `derived: … (file:line)`."""
    return Hit(subject, (), origin)


# A check yields one finding per offending thing (a Hit; a bare string is located at the environment's file);
# nothing when compliant.
Check = Callable[[Environment, Environments], Iterable[Hit | str]]

# Ids that existed once and must never be given to another rule.
RETIRED_IDS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    info: str
    explanation: str
    check: Check
    production_only: bool = False

    @property
    def area(self) -> str:
        return self.id.split("-")[1]


def rule(id: str, level: Level, info: str, explanation: str, production_only: bool = False) -> Callable[[Check], Rule]:
    """Make the decorated check a `Rule` with this metadata (a pack lists it to run it)."""
    if id in RETIRED_IDS:
        raise ValueError(f"rule id {id} is retired")

    def make(check: Check) -> Rule:
        return Rule(id, level, info, " ".join(explanation.split()), check, production_only)

    return make
