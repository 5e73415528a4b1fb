"""Gated promotion of one model version into the next environment, as the target's service principal.

resolve source -> check path and lineage -> rollback hold (holds.py) -> copy once (idempotency key, see claim.py) -> challenger
-> gates -> record results (tags + audit) -> champion only if every gate passed -> serving hook.

Every step is idempotent, so re-running the same promotion after any crash completes it without a
second copy; a re-run of a finished promotion changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lakegate.infra.model import Environment, Environments

from . import naming, registry_tags
from .anchor import Anchor
from .approval import promoters_of
from .audit import AuditLog, current_actor
from .claim import copy_once, local_lock
from .errors import (ApprovalMissing, AuditTampered, GateFailed, InvalidRequest, PromotionError, ServingUpdateFailed,
                     failure_kind, missing_from_registry)
from .gate_record import record_gate_results, recorded_gates
from .gates import GateContext, GateResult, gates_for, run_gates
from .holds import RollbackHold, hold_on
from .registry import ModelVersion, NotFound, PermissionRefused, ProgressCallback, RegistryAdapter
from .validation import check_alias, check_version

AdapterFactory = Callable[[str], RegistryAdapter]
# Points the environment's serving endpoint at the new champion: (env, model full name, version).
ServingHook = Callable[[Environment, str, str], None]

@dataclass
class PromotionResult:
    env: str
    model: str                                  # target full name
    version: str                                # target version
    source_model: str
    source_version: str
    reused: bool                                # an earlier run's copy was found and reused
    outcome: str                                # champion | already_champion | gate_failed | approval_missing
    gates: list[GateResult] = field(default_factory=list)
    previous_champion: str | None = None
    champion: str | None = None
    audit_seq: int | None = None
    seconds: float = 0.0
    rolled_back: dict[str, Any] | None = None   # these files were rolled back here before (holds.RollbackHold)

    @property
    def passed(self) -> bool:
        return self.outcome in ("champion", "already_champion")

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    @property
    def failure_kind(self) -> str | None:
        """None on success, else the exit-code name (GATE_FAILED / APPROVAL_MISSING)."""
        return {"gate_failed": "GATE_FAILED", "approval_missing": "APPROVAL_MISSING"}.get(self.outcome)

    def refusal(self) -> PromotionError | None:
        """The error to report when champion did not move (None on success): names each failed gate and why."""
        if self.passed:
            return None
        reasons = "; ".join(f"{g.gate_id}: {g.message}" for g in self.failed_gates)
        kind = ApprovalMissing if self.outcome == "approval_missing" else GateFailed
        return kind(f"{self.model} v{self.version} stays challenger; champion is "
                    f"{'v' + self.champion if self.champion else 'unset'}. Failed: {reasons}")

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "gates"}
        return {**data, "passed": self.passed, "gates": [g.as_dict() for g in self.gates]}


def promote(envs: Environments, model: str, to_env: str, *, adapter_factory: AdapterFactory,
            audit_dir: str | Path, version: str | None = None, alias: str | None = None,
            from_env: str | None = None, progress: ProgressCallback | None = None,
            serving_hook: ServingHook | None = None, lock_dir: str | Path | None = None,
            allow_rolled_back: bool = False) -> PromotionResult:
    """Promote MODEL into `to_env` from its `promotion.from`. Refusals raise (see errors.py). Files rolled back out
    of the target's champion before are refused unless `allow_rolled_back` (a person's decision: CI never passes
    it); then, where approval is required, only an approval given after the rollback counts."""
    started = time.perf_counter()
    target = naming.environment(envs, to_env)
    log = AuditLog(audit_dir, target.name)
    try:
        if version is not None and alias is not None:
            raise InvalidRequest("give --version or --alias, not both")
        version = check_version(version) if version is not None else None
        alias = check_alias(alias) if alias is not None else None
        source_env, source_name, target_name = check_path(envs, target, model, from_env)
        registry = adapter_factory(target.name)
        log.anchor = Anchor(registry, target)
        entries = log.entries_for(target_name)  # chain and anchor intact, before anything changes
        source = resolve_source(registry, source_env, source_name, version, alias)
        check_lineage(source)
        check_source_passed(source_env, source, target)
        hold = check_hold(registry, entries, target, target_name, source, allow_rolled_back)
        with local_lock(lock_dir or Path(audit_dir).parent / "locks", target_name):
            result = _promote_locked(envs, target, registry, source, target_name, log, progress, serving_hook,
                                     entries, hold)
    except (PromotionError, PermissionRefused, NotFound) as error:
        if not isinstance(error, (ServingUpdateFailed, AuditTampered)):
            _audit_refusal(log, model, version or alias, error)
        raise
    result.seconds = time.perf_counter() - started
    return result


def _promote_locked(envs, target, registry, source, target_name, log, progress, serving_hook,
                    entries, hold: RollbackHold | None = None) -> PromotionResult:
    copy = copy_once(registry, source, target_name, copy_tags(registry, source, target_name),
                     progress)
    candidate, champion = copy.version, copy.champion
    if copy.reused:
        check_copy_is_source(registry, source, candidate)
    base = dict(env=target.name, model=target_name, version=candidate.version, source_model=source.name,
                source_version=source.version, reused=copy.reused, rolled_back=hold.as_dict() if hold else None)
    if champion is not None and champion.version == candidate.version:
        gate_ids = [gate.gate_id for gate in gates_for(target, target_name)]
        return PromotionResult(**base, outcome="already_champion", gates=recorded_gates(candidate, gate_ids),
                               previous_champion=champion.version, champion=champion.version)
    return _judge(envs, target, registry, candidate, champion, base, source, log, serving_hook, entries, hold)


def _judge(envs, target, registry, candidate, champion, base, source, log, serving_hook, entries,
           hold: RollbackHold | None = None) -> PromotionResult:
    """challenger -> the target's gates (figures computed by the target) -> record -> champion if all passed."""
    # The candidate's tags are fresh: the caller listed them a moment ago (approvals included).
    registry.set_alias(candidate.name, registry_tags.CHALLENGER, candidate.version)
    gates = gates_for(target, candidate.name)
    promoters = frozenset(promoters_of(entries, candidate.name, candidate.version) | {current_actor()})
    context = GateContext(envs, target, registry, candidate, champion, promoters=promoters, rolled_back=hold)
    results = run_gates(gates, context)
    judged = judged_digest(registry, candidate, gates, context)
    record_gate_results(registry, candidate, results, context.evaluation_tags(candidate))
    passed = all(r.passed for r in results)
    if passed:
        move_champion(registry, candidate.name, candidate.version)
    serving_error = update_serving(serving_hook, target, candidate.name, candidate.version) if passed else None
    result = PromotionResult(**base, outcome=_outcome(gates, results), gates=results,
                             previous_champion=champion.version if champion else None,
                             champion=candidate.version if passed else (champion.version if champion else None))
    evidence = _evidence(envs, target, registry, candidate, champion, source, gates, results, context, entries, result)
    result.audit_seq = _audit_promotion(log, registry, source, result, serving_error,
                                        {**evidence, **({"judged_sha256": judged} if judged else {})})["seq"]
    if serving_error:
        raise ServingUpdateFailed(f"{candidate.name} v{candidate.version} is champion but the serving endpoint "
                                  f"was not updated: {serving_error}")
    return result


def judge_in_place(envs: Environments, env_name: str, model: str, version: str, *, registry: RegistryAdapter,
                   audit_dir: str | Path, serving_hook: ServingHook | None = None,
                   lock_dir: str | Path | None = None, allow_rolled_back: bool = False) -> PromotionResult:
    """A version trained in `env_name` itself (retraining on drift) goes through the same gates as a promoted
    copy: challenger, the environment's gates (its own figures; its approval where required), champion only if
    every gate passed, an audit entry. Re-running it after an approval moves champion."""
    started = time.perf_counter()
    target = naming.environment(envs, env_name)
    full = naming.full_name_in(target, model)
    log = AuditLog(audit_dir, target.name)
    log.anchor = Anchor(registry, target)
    try:
        version = check_version(version)
        entries = log.entries_for(full)
        candidate = registry.get_version(full, version)
        check_lineage(candidate)
        if candidate.tags.get(registry_tags.PROMOTED_FROM):
            raise InvalidRequest(f"{full} v{version} was promoted from {candidate.tags[registry_tags.PROMOTED_FROM]}: "
                                 f"promote it again (promote {naming.bare_name(full)} --to {target.name})")
        hold = check_hold(registry, entries, target, full, candidate, allow_rolled_back)
        with local_lock(lock_dir or Path(audit_dir).parent / "locks", full):
            champion = registry.get_version_by_alias(full, registry_tags.CHAMPION)
            base = dict(env=target.name, model=full, version=candidate.version, source_model=full,
                        source_version=candidate.version, reused=False, rolled_back=hold.as_dict() if hold else None)
            if champion is not None and champion.version == candidate.version:
                gate_ids = [gate.gate_id for gate in gates_for(target, full)]
                return PromotionResult(**base, outcome="already_champion", gates=recorded_gates(candidate, gate_ids),
                                       previous_champion=champion.version, champion=champion.version)
            result = _judge(envs, target, registry, candidate, champion, base, candidate, log, serving_hook, entries,
                            hold)
    except (PromotionError, PermissionRefused, NotFound) as error:
        if not isinstance(error, (ServingUpdateFailed, AuditTampered)):
            _audit_refusal(log, full, version, error)
        raise
    result.seconds = time.perf_counter() - started
    return result


def check_path(envs: Environments, target: Environment, model: str,
               from_env: str | None) -> tuple[Environment, str, str]:
    """(source env, source full name, target full name); only the target's promotion.from may be the source."""
    allowed = target.promotion.from_env
    if allowed is None:
        raise InvalidRequest(f"{target.name} is not a promotion target: {target.locate('promotion')} has no `from`")
    asked = _asked_source(envs, model, from_env)
    if asked is not None and asked != allowed:
        raise InvalidRequest(f"{target.name} accepts models only from {allowed} ({target.locate('promotion', 'from')}); "
                             f"{asked} is not on the promotion path")
    source_env = envs[allowed]
    return source_env, naming.full_name_in(source_env, model), naming.full_name_in(target, naming.bare_name(model))


def _asked_source(envs: Environments, model: str, from_env: str | None) -> str | None:
    """The source the caller named (--from, or the catalog of a full model name), if any."""
    if from_env is not None or "." not in model:
        return from_env
    env = naming.environment_of(envs, model)
    if env is None:
        raise InvalidRequest(f"{model} is in no known environment's catalog")
    return env.name


def resolve_source(registry: RegistryAdapter, source_env: Environment, name: str,
                   version: str | None, alias: str | None) -> ModelVersion:
    """--version N, --alias A, or by default the source's champion (the latest version in a root env)."""
    if version is not None and alias is not None:
        raise InvalidRequest("give --version or --alias, not both")
    try:
        if version is not None:
            return registry.get_version(name, str(version))
        found = registry.get_version_by_alias(name, alias or registry_tags.CHAMPION)
    except NotFound:
        raise missing_from_registry(registry, name, version) from None
    if found is not None:
        return found
    if alias is not None:
        raise InvalidRequest(f"{name} has no alias '{alias}'")
    return _latest_in_root(registry, source_env, name)


def _latest_in_root(registry: RegistryAdapter, source_env: Environment, name: str) -> ModelVersion:
    # Where models are trained (no promotion.from) "the newest" is meaningful; elsewhere the newest may
    # be a version that failed its gates, so a person must say which one.
    if source_env.promotion.from_env is not None:
        if not registry.list_versions(name):
            raise missing_from_registry(registry, name, hint=f": promote it into {source_env.name} first")
        raise InvalidRequest(f"{name} has no champion; give --version or --alias")
    every = registry.list_versions(name)
    versions = [v for v in every if v.status == "READY"]
    if not every:
        raise missing_from_registry(registry, name, hint=f": train it first (python main.py train "
                                    f"{naming.bare_name(name)} --env {source_env.name})")
    if not versions:
        raise InvalidRequest(f"{name} has no version ready to promote ({len(every)} registered, none READY)")
    return max(versions, key=lambda v: int(v.version))


def check_copy_is_source(registry: RegistryAdapter, source: ModelVersion, candidate: ModelVersion) -> None:
    """A copy found again (by its idempotency key, a tag) must still hold exactly the source's files:
    the gates judge the source's figures, so a copy changed since (or a key copied onto another
    version) must not ride on them."""
    mine, theirs = copy_digest(registry, candidate.name, candidate.version), copy_digest(registry, source.name, source.version)
    if mine != theirs:
        raise GateFailed(f"{candidate.name} v{candidate.version} claims to be the copy of {source.name} v{source.version}, "
                         f"but its files (sha256 {mine[:12]}…) are not the source's ({theirs[:12]}…); champion was not moved")


def copy_digest(registry: RegistryAdapter, name: str, version: str) -> str:
    """The digest a copy and its source share: the local registry rewrites the location fields of a copy's
    MLmodel (run id, artifact path: a copy points into the target only), so it compares files with those
    fields left out (`content_digest`); Unity Catalog's copies are byte for byte (`artifact_digest`)."""
    digest = getattr(registry, "content_digest", None) or registry.artifact_digest
    return digest(name, version)


def judged_digest(registry: RegistryAdapter, candidate: ModelVersion, gates: list, context: GateContext) -> str | None:
    """The digest (copy_digest) of the files the metric gates judged, for the promote entry: a recheck (rollback,
    `audit verify`) of these same files judges their thresholds on the recorded figures instead of loading the model
    again (promotion/recheck.py). Taken only where it is cheap (the local registry's copy cache, a digest the approval
    gate computed); None otherwise, and the recheck then computes the figures again."""
    if not any(gate.type == "metric_threshold" for gate in gates):
        return None
    try:
        if getattr(registry, "content_digest", None) is not None:
            return copy_digest(registry, candidate.name, candidate.version)
        return context._digests.get((candidate.name, candidate.version))
    except Exception:  # noqa: BLE001 -- only an optimisation of later rechecks: the promotion does not depend on it
        return None


def check_source_passed(source_env: Environment, source: ModelVersion, target: Environment) -> None:
    """A version that failed its own environment's gates goes no further (`--version N` of a staging
    version whose gates failed is refused, exit 5): only what its environment accepted is promoted on."""
    if source_env.promotion.from_env is None or not gates_for(source_env, source.name):
        return  # where models are trained nothing has judged them yet: the target's gates do
    summary = source.tags.get(registry_tags.GATES_SUMMARY, "")
    if summary != "passed":
        verdict = summary or "no recorded gate results"
        raise GateFailed(f"{source.name} v{source.version} did not pass {source_env.name}'s gates ({verdict}); only a "
                         f"version that passed them may be promoted to {target.name}")


def check_hold(registry: RegistryAdapter, entries: list[dict[str, Any]], target: Environment, target_name: str,
               version: ModelVersion, allow_rolled_back: bool) -> RollbackHold | None:
    """The rollback hold on `version`'s files in the target (None when none); refused (exit 6) without
    `allow_rolled_back`, before anything is copied or moved."""
    hold = hold_on(registry, entries, target_name, version)
    if hold is not None and not allow_rolled_back:
        fresh = " and a fresh approval (given after the rollback)" if target.promotion.approval.required else ""
        raise InvalidRequest(f"{version.name} v{version.version} will not return to {target.name} silently: "
                             f"{hold.describe()}; promoting it again needs --allow-rolled-back{fresh}")
    return hold


def check_lineage(source: ModelVersion) -> None:
    missing = [tag for tag in registry_tags.LINEAGE_TAGS if not source.tags.get(tag, "").strip()]
    if missing:
        raise InvalidRequest(f"{source.name} v{source.version} lacks lineage tag(s) {', '.join(missing)}: "
                             "only a model built from code (commit, repository, training run) may be promoted")


def copy_tags(registry: RegistryAdapter, source: ModelVersion, target_name: str) -> dict[str, str]:
    """The copy's tags: the source's own (not its bookkeeping or approvals), lineage and the key."""
    carried = {k: v for k, v in source.tags.items() if not k.startswith("lakegate.")}
    return {**carried, registry_tags.PROMOTED_FROM: source.name, registry_tags.SOURCE_VERSION: source.version,
            registry_tags.PROMOTED_BY: registry.principal, registry_tags.PROMOTER: registry_tags.fit_tag_value(current_actor()),
            registry_tags.IDEMPOTENCY_KEY: registry_tags.idempotency_key(source.name, source.version, target_name)}


def move_champion(registry: RegistryAdapter, name: str, version: str) -> None:
    registry.set_alias(name, registry_tags.CHAMPION, version)
    try:
        registry.delete_alias(name, registry_tags.CHALLENGER)  # the challenger won: it is no longer "under evaluation"
    except NotFound:
        pass


def _outcome(gates: list, results: list[GateResult]) -> str:
    failed_types = {gate.type for gate, result in zip(gates, results) if not result.passed}
    if not failed_types:
        return "champion"
    return "approval_missing" if failed_types == {"approval"} else "gate_failed"


def update_serving(hook: ServingHook | None, env: Environment, name: str, version: str) -> str | None:
    if hook is None:
        return None
    try:
        hook(env, name, version)
        return None
    except Exception as error:  # noqa: BLE001 -- recorded in the audit log, then raised as ServingUpdateFailed
        return f"{type(error).__name__}: {error}"


def _evidence(envs, target, registry, candidate, champion, source, gates, results, context, entries,
              result) -> dict[str, Any]:
    """The evidence pack of this decision and its digest (promotion/evidence.py), for the promote entry; a pack that
    cannot be built is recorded as `evidence_error` (shown by `report history|site`), never silently left out."""
    from .evidence import build_pack, pack_digest

    try:
        pack = build_pack(envs=envs, target=target, registry=registry, candidate=candidate, champion=champion,
                          source=source, gates=gates, results=results, context=context, entries=entries, result=result)
    except Exception as error:  # noqa: BLE001 -- the decision stands; the entry says why it has no pack
        return {"evidence_error": f"{type(error).__name__}: {error}"}
    return {"evidence": pack, "evidence_sha256": pack_digest(pack)}


def _audit_promotion(log: AuditLog, registry: RegistryAdapter, source: ModelVersion, result: PromotionResult,
                     serving_error: str | None, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    return log.append(
        "promote", model=result.model, version=result.version, actor=current_actor(), principal=registry.principal,
        git_commit=source.tags.get(registry_tags.GIT_COMMIT), gates=[g.as_dict() for g in result.gates],
        passed=result.passed, previous_champion=result.previous_champion, champion=result.champion,
        source={"model": source.name, "version": source.version},
        details={"outcome": result.outcome, "reused": result.reused, "champion_moved": result.outcome == "champion",
                 "serving_error": serving_error, **({"rolled_back": result.rolled_back} if result.rolled_back else {}),
                 **(evidence or {})})


def _audit_refusal(log: AuditLog, model: str, asked: str | None, error: Exception) -> None:
    try:
        log.append("promote_refused", model=model, version=asked, actor=current_actor(), passed=False,
                   details={"kind": failure_kind(error), "reason": str(error)})
    except AuditTampered:
        pass  # a log that cannot take entries is reported by the refusal itself and by `audit verify`
