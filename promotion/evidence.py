"""Evidence packs: everything that decided one promotion, frozen when it was decided, and bound to the audit log.

At promotion time (promotion/promote.py, right before the promote entry is appended) `build_pack` gathers:

* lineage: the commit, repository and training run that built the model, and the version in each environment it
  went through (origin -> source -> candidate);
* every gate: its configuration as the reviewed YAML wrote it (and where), its inputs and its result: the metric
  values the target computed on its own table, the champion they were compared with, the signature diff;
* the approval: the record the version carries, what the approval gate's verification found, and the `approve`
  audit entry;
* the access in force for the target's principal at that moment (infra/access.py `access_matrix`: Unity
  Catalog grants, Azure roles, metastore privileges, catalog bindings) and a digest of the target's definition;
* the waivers in force for the target and the findings they cover (infra/guardrails).

`pack_digest` is the SHA-256 of the pack's canonical JSON (promotion/audit.py `canonical`: sorted keys, no
spaces). The promote entry records both, `details.evidence` and `details.evidence_sha256`, so the pack is part of
a hash-chained entry whose head is anchored in the registry: editing the pack in the log breaks the chain
(`audit verify`), and a pack exported by `report evidence` is checked against that entry by
`report evidence --verify DIR` (reports/evidence.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import date, datetime, timezone
from typing import Any

from lakegate.infra.model import Environment, Environments

from .audit import canonical, current_actor

PACK_VERSION = 1


# --------------------------------------------------------------------------------------------- the pack


def pack_digest(pack: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(pack)).hexdigest()


def normalised(value: Any) -> Any:
    """The value exactly as the audit log will store and read it back (JSON, odd types as their text)."""
    return json.loads(canonical(value))


def build_pack(*, envs: Environments, target: Environment, registry: Any, candidate: Any, champion: Any,
               source: Any, gates: list, results: list, context: Any, entries: list[dict[str, Any]], result: Any,
               today: date | None = None) -> dict[str, Any]:
    """The evidence of one promotion decision (see the module docstring); plain JSON data."""
    from . import registry_tags

    results_by_id = {r.gate_id: r for r in results}
    pack = {
        "lakegate_evidence": PACK_VERSION,
        "env": target.name, "production": target.production,
        "model": result.model, "version": str(result.version),
        "decided_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "actor": current_actor(), "principal": getattr(registry, "principal", None),
        "outcome": result.outcome, "champion_moved": result.outcome == "champion",
        "previous_champion": result.previous_champion, "champion": result.champion, "reused_copy": result.reused,
        "lineage": _lineage(envs, target, candidate, source, registry_tags),
        "definition": {"file": target.locate(), "sha256": hashlib.sha256(canonical(
            target.model_dump(mode="json", by_alias=True))).hexdigest(),
            "promotion_from": target.promotion.from_env, "promotion_from_at": target.locate("promotion", "from")},
        "gates": [_gate(target, index, gate, results_by_id.get(gate.gate_id)) for index, gate in enumerate(gates)],
        "evaluation": {"candidate": _evaluation(context, candidate), "champion": _evaluation(context, champion)},
        "champion_compared": None if champion is None else {
            "model": champion.name, "version": champion.version, "lineage": registry_tags.lineage_of(champion.tags)},
        "signature": _signature(context, candidate, champion),
        "approval": _approval(target, candidate, gates, results_by_id, entries),
        "access": access_in_force(envs, target),
        "waivers": waivers_in_force(envs, target, today),
    }
    return normalised(pack)


def _lineage(envs, target, candidate, source, registry_tags) -> dict[str, Any]:
    tags = dict(source.tags)
    tags.update({k: v for k, v in candidate.tags.items() if k not in tags})
    versions = [{"env": target.name, "model": candidate.name, "version": str(candidate.version), "role": "candidate"}]
    if (source.name, str(source.version)) != (candidate.name, str(candidate.version)):
        versions.insert(0, {"env": _env_of(envs, source.name), "model": source.name, "version": str(source.version),
                            "role": "source"})
    upstream, number = source.tags.get(registry_tags.PROMOTED_FROM), source.tags.get(registry_tags.SOURCE_VERSION)
    if upstream and number and (upstream, number) != (source.name, str(source.version)):
        versions.insert(0, {"env": _env_of(envs, upstream), "model": upstream, "version": str(number), "role": "origin"})
    return {"git_commit": tags.get(registry_tags.GIT_COMMIT), "git_repository": tags.get(registry_tags.GIT_REPOSITORY),
            "training_run": tags.get(registry_tags.TRAINING_RUN), "git_author": tags.get(registry_tags.GIT_AUTHOR),
            "versions": versions}


def _env_of(envs: Environments, full_name: str) -> str | None:
    env = envs.by_catalog(str(full_name).split(".", 1)[0])
    return env.name if env else None


def _gate(target: Environment, index: int, gate: Any, outcome: Any) -> dict[str, Any]:
    declared = index < len(target.promotion.gates) and target.promotion.gates[index] is gate
    where = target.locate("promotion", "gates", index) if declared else \
        f"derived: approval required ({target.locate('promotion', 'approval')})"
    return {"gate_id": gate.gate_id, "type": gate.type, "defined_at": where,
            "config": gate.model_dump(mode="json", by_alias=True, exclude_none=True),
            "passed": outcome.passed if outcome else False,
            "message": outcome.message if outcome else "no result recorded",
            "details": outcome.details if outcome else {}}


def _evaluation(context: Any, version: Any) -> dict[str, str]:
    if version is None or context is None:
        return {}
    try:
        return dict(context.evaluation_tags(version))
    except Exception:  # noqa: BLE001 -- no evaluation of this version in this run
        return {}


def _signature_columns(signature: Any, side: str) -> dict[str, str]:
    value = (signature or {}).get(side)
    try:
        specs = json.loads(value) if isinstance(value, str) else (value or [])
    except ValueError:
        return {}
    columns = {}
    for index, spec in enumerate(specs if isinstance(specs, list) else []):
        if isinstance(spec, dict):
            kind = spec.get("tensor-spec") or spec.get("type")
            columns[str(spec.get("name", f"#{index}"))] = kind if isinstance(kind, str) else json.dumps(kind, sort_keys=True)
    return columns


def _signature(context: Any, candidate: Any, champion: Any) -> dict[str, Any]:
    def info(version):
        if version is None or context is None:
            return None
        try:
            return context.info(version).get("signature")
        except Exception:  # noqa: BLE001 -- shown as unknown
            return None

    mine, theirs = info(candidate), info(champion)
    new, old = _signature_columns(mine, "inputs"), _signature_columns(theirs, "inputs")
    diff = {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
            "changed": sorted(n for n in set(new) & set(old) if new[n] != old[n])} if theirs else None
    return {"candidate_inputs": new, "champion_inputs": old if theirs else None,
            "candidate_outputs": _signature_columns(mine, "outputs"), "diff": diff}


def _approval(target: Environment, candidate: Any, gates: list, results_by_id: dict[str, Any],
              entries: list[dict[str, Any]]) -> dict[str, Any]:
    from .approval import read_record

    try:
        record = read_record(candidate.tags)
        record_data = asdict(record) if record else None
    except ValueError as error:
        record_data = {"unreadable": str(error)}
    gate = next((results_by_id.get(g.gate_id) for g in gates if g.type == "approval"), None)
    approves = [e for e in entries if e.get("action") == "approve" and e.get("model") == candidate.name
                and str(e.get("version")) == str(candidate.version)]
    refused = [e for e in entries if e.get("action") == "approval_refused" and e.get("model") == candidate.name
               and str(e.get("version")) == str(candidate.version)]
    entry = approves[-1] if approves else None
    policy = target.policy(candidate.name.split(".")[-1])
    return {
        "required": policy.approval.required, "required_at": policy.origins["approval"],
        "approver_groups": list(policy.approval.approvers),
        "enrolled": [s.identity for s in policy.approval.signers],
        "policy": policy.as_dict(),
        "record": record_data,
        "verification": None if gate is None else {"passed": gate.passed, "message": gate.message, "details": gate.details},
        "audit_entry": None if entry is None else {
            "seq": entry.get("seq"), "hash": entry.get("hash"), "time": entry.get("time"), "actor": entry.get("actor"),
            **{k: (entry.get("details") or {}).get(k) for k in ("approved_by", "kind", "artifacts_sha256")}},
        "refusals": [{"seq": e.get("seq"), "time": e.get("time"), "reason": (e.get("details") or {}).get("reason")}
                     for e in refused],
    }


def access_in_force(envs: Environments, target: Environment) -> dict[str, Any]:
    """What the target's principal may do, as derived (infra/access.py)."""
    from lakegate.infra.access import access_matrix

    principal = target.service_principal
    matrix = access_matrix(envs)
    return {"principal": principal,
            "unity_catalog_grants": [g for g in matrix["grants"] if g["principal"] == principal],
            "azure_roles": [r for r in matrix["azure_roles"] if r["principal"] == principal],
            "metastore_privileges": [m for m in matrix["metastore_privileges"] if m["principal"] == principal],
            "catalog_bindings": [b for b in matrix["bindings"] if b["workspace_of"] == target.name],
            "model_owner_of": [o["model"] for o in matrix["model_owners"] if o["owner"] == principal]}


def waivers_in_force(envs: Environments, target: Environment, today: date | None = None) -> dict[str, Any]:
    from lakegate.infra.guardrails.runner import check_environments

    today = today or date.today()
    report = check_environments(envs, today=today, only=[target.name])
    covered: dict[int, list[str]] = {}
    for finding in report.waived:
        index = next((i for i, w in enumerate(target.waivers) if w is finding.waiver), None)
        if index is not None:
            covered.setdefault(index, []).append(finding.tag)
    declared = []
    for index, waiver in enumerate(target.waivers):
        expired = waiver.expires is not None and waiver.expires < today
        declared.append({**waiver.model_dump(mode="json"), "location": target.locate("waivers", index),
                         "in_force": not expired, "covers": covered.get(index, [])})
    return {"today": today.isoformat(), "declared": declared,
            "rules_run": report.rules_run,
            "waived_findings": [f.as_dict() for f in report.waived],
            "violations": [f.tag for f in report.violations], "warnings": [f.tag for f in report.warnings]}


# --------------------------------------------------------------------------------- reading it back
