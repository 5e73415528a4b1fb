"""Recheck a version that is (or is about to become again) champion, from what its log cannot forge.

Used by rollback (the version champion goes back to) and by `audit verify` (the current champion).
A version passes when:
* every gate of the environment has a recorded result on the version, and all passed, and the promote
  entry that made it champion recorded them passed (the two records the promotion wrote);
* a copy still holds exactly its source's files (digest of both, read from the registry now): the
  source was judged, and an approval signs files, so the copy must be those files;
* the gates that judge what the target's principal cannot rewrite without changing the files (which the
  digest check above would see) run again now: required tags, the signature (logged in the files), the
  metric thresholds against the bounds the definitions hold now, and, where the environment requires one, the
  approval: signature (or CI evidence) verified against the recomputed digest, approver allowed, four eyes.
  A metric threshold is judged on the figure the target computed when it promoted these very files: the promote
  entry that made the version champion (chain-verified and anchored by the caller) records each metric gate's
  figure and the digest of the files it judged (`judged_sha256`), and the files' digest now must equal it. Without
  such a record (entries older than the field, or a digest that differs) the figure is computed again, as the
  metric gate computes it (promotion/gates/metric_threshold.py): loading the model and the hold-out. Whoever
  could forge that entry and its anchor holds the target's principal, which may also rewrite the hold-out the
  recomputation reads: recomputing is no stronger against them, and costs a model load.
No-regression (relative to the champion of that moment) and smoke inference (the files are the
source's, which passed it) are not re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from lakegate.infra.model import Environment, Environments

from . import registry_tags
from .approval import promoters_of
from .gates import GateContext, gates_for, metric_threshold, run_gate
from .gate_record import recorded_gates
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
    copy_problems, files = _copy_problems(registry, version, digests)
    problems += copy_problems
    figures = _judged_figures(registry, version, moved[-1] if moved else None, files, problems)
    ctx = GateContext(envs, env, registry, version, None,
                      promoters=frozenset(promoters_of(entries, version.name, version.version)), _digests=digests)
    for gate in gates:
        if gate.type not in RERUN:
            continue
        result = None
        if gate.type == "metric_threshold" and gate.gate_id in figures:
            result = metric_threshold.recorded(gate, *figures[gate.gate_id])
        result = result or run_gate(gate, ctx)
        if not result.passed:
            kind = "APPROVAL_MISSING" if gate.type == "approval" else "GATE_FAILED"
            problems.append(RecheckProblem(kind, f"{gate.gate_id} fails now: {result.message}"))
    return problems


def _copy_problems(registry: RegistryAdapter, version: ModelVersion,
                   digests: dict[tuple[str, str], str]) -> tuple[list[RecheckProblem], str | None]:
    """(problems, the copy's digest now: promote.copy_digest, None when not computed)."""
    source, number = version.tags.get(registry_tags.PROMOTED_FROM), version.tags.get(registry_tags.SOURCE_VERSION)
    if not (source and number):
        return [], None
    try:
        from .promote import copy_digest

        both = getattr(registry, "digests", None)
        if both is not None:  # the local registry: one pass gives the copy digest and the approval gate's digest
            digests[(version.name, version.version)], mine = both(version.name, version.version)
        else:
            mine = copy_digest(registry, version.name, version.version)
        theirs = copy_digest(registry, source, number)
    except (NotFound, PermissionRefused) as error:
        return [RecheckProblem("GATE_FAILED", f"the source {source} v{number} of v{version.version} cannot be "
                                              f"compared ({error})")], None
    except RegistryError as error:
        return [RecheckProblem("GATE_FAILED", f"the files of v{version.version} cannot be read ({error})")], None
    if mine != theirs:
        return [RecheckProblem("GATE_FAILED", f"v{version.version}'s files (sha256 {mine[:12]}…) are not those of its "
                                              f"source {source} v{number} ({theirs[:12]}…): changed after the copy")], mine
    return [], mine


def _judged_figures(registry: RegistryAdapter, version: ModelVersion, entry: dict[str, Any] | None,
                    files: str | None, problems: list[RecheckProblem]) -> dict[str, tuple[dict[str, Any], str]]:
    """{gate id: (the metric gate's recorded details, where they come from)} of the promote entry that made the
    version champion, when that entry recorded the digest of the files it judged and the files are those now, and the
    figure was computed by this environment's principal; {} otherwise (the figures are then computed again)."""
    details = (entry or {}).get("details") or {}
    judged = details.get("judged_sha256")
    if not judged or problems:
        return {}
    if files is None:
        try:
            from .promote import copy_digest

            files = copy_digest(registry, version.name, version.version)
        except RegistryError:
            return {}  # the gates computing again will say what cannot be read
    if files != judged:
        return {}
    figures = {}
    for gate in (entry or {}).get("gates") or []:
        recorded = gate.get("details") if isinstance(gate, dict) else None
        if isinstance(recorded, dict) and recorded.get("computed_by") == registry.principal:
            where = (f"computed by {recorded.get('computed_by')} on {recorded.get('table')}@v{recorded.get('table_version')}"
                     f" ({recorded.get('rows')} rows) when these files (sha256 {judged[:12]}…) were promoted: audit seq "
                     f"{entry.get('seq')}")
            figures[str(gate.get("gate_id"))] = (recorded, where)
    return figures
