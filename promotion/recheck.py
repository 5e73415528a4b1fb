"""Recheck a version that is (or is about to become again) champion, from what its log cannot forge.

Used by rollback (the version champion goes back to) and by `audit verify` (the current champion).
A version passes when:
* every gate of the environment has a recorded result on the version, and all passed, and the promote
  entry that made it champion recorded them passed (the two records the promotion wrote);
* a copy still holds exactly its source's files (digest of both, read from the registry now): the
  source was judged, and an approval signs files, so the copy must be those files;
* the gates that judge what the target's principal cannot rewrite without changing the files (which the
  digest check above would see) run again now: required tags, the signature (logged in the files), the
  metric thresholds (as the metric gate computes them: promotion/gates/metric_threshold.py), and, where the
  environment requires one, the approval: signature (or CI evidence) verified against the recomputed
  digest, approver allowed, four eyes.
No-regression (relative to the champion of that moment) and smoke inference (the files are the
source's, which passed it) are not re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from lakegate.infra.model import Environment, Environments

from . import registry_tags
from .approval import promoters_of
from .gates import GateContext, gates_for, run_gate
from .promote import recorded_gates
from .registry import ModelVersion, NotFound, PermissionRefused, RegistryAdapter, RegistryError

RERUN = ("required_tags", "signature", "metric_threshold", "approval")


@dataclass(frozen=True)
class RecheckProblem:
    kind: str            # GATE_FAILED | APPROVAL_MISSING
    message: str

    def __str__(self) -> str:
        return self.message


def recheck(envs: Environments, env: Environment, registry: RegistryAdapter, version: ModelVersion,
            entries: Iterable[dict[str, Any]]) -> list[RecheckProblem]:
    entries = list(entries)
    problems: list[RecheckProblem] = []
    gates = gates_for(env, version.name)
    recorded = {g.gate_id: g for g in recorded_gates(version, [g.gate_id for g in gates])}
    for gate in gates:
        result = recorded.get(gate.gate_id)
        kind = "APPROVAL_MISSING" if gate.type == "approval" else "GATE_FAILED"
        if result is None:
            problems.append(RecheckProblem(kind, f"gate {gate.gate_id} has no recorded result on v{version.version}"))
        elif not result.passed:
            problems.append(RecheckProblem(kind, f"gate {gate.gate_id} failed when v{version.version} was promoted: "
                                                 f"{result.message}"))
    moved = [e for e in entries if e.get("action") == "promote" and e.get("model") == version.name
             and str(e.get("version")) == version.version and (e.get("details") or {}).get("champion_moved")]
    if moved and not all(e.get("passed") and all(g.get("passed") for g in e.get("gates") or []) for e in moved):
        problems.append(RecheckProblem("GATE_FAILED", f"the audit entry that made v{version.version} champion "
                                                      "records failed gates"))
    digests: dict[tuple[str, str], str] = {}
    problems += _copy_problems(registry, version, digests)
    ctx = GateContext(envs, env, registry, version, None,
                      promoters=frozenset(promoters_of(entries, version.name, version.version)), _digests=digests)
    for gate in gates:
        if gate.type not in RERUN:
            continue
        result = run_gate(gate, ctx)
        if not result.passed:
            kind = "APPROVAL_MISSING" if gate.type == "approval" else "GATE_FAILED"
            problems.append(RecheckProblem(kind, f"{gate.gate_id} fails now: {result.message}"))
    return problems


def _copy_problems(registry: RegistryAdapter, version: ModelVersion,
                   digests: dict[tuple[str, str], str]) -> list[RecheckProblem]:
    source, number = version.tags.get(registry_tags.PROMOTED_FROM), version.tags.get(registry_tags.SOURCE_VERSION)
    if not (source and number):
        return []
    try:
        from .promote import copy_digest

        mine = copy_digest(registry, version.name, version.version)
        theirs = copy_digest(registry, source, number)
    except (NotFound, PermissionRefused) as error:
        return [RecheckProblem("GATE_FAILED", f"the source {source} v{number} of v{version.version} cannot be "
                                              f"compared ({error})")]
    except RegistryError as error:
        return [RecheckProblem("GATE_FAILED", f"the files of v{version.version} cannot be read ({error})")]
    if mine != theirs:
        return [RecheckProblem("GATE_FAILED", f"v{version.version}'s files (sha256 {mine[:12]}…) are not those of its "
                                              f"source {source} v{number} ({theirs[:12]}…): changed after the copy")]
    return []
