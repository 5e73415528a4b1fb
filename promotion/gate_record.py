"""What a version carries of its gates: one registry tag per gate result, the target's evaluation figures and a
summary (written when a promotion judges it), read back for `status`, rechecks and a version already champion."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from . import registry_tags
from .gates import GateResult
from .registry import ModelVersion, RegistryAdapter


def record_gate_results(registry: RegistryAdapter, version: ModelVersion, results: list[GateResult],
                        evaluation: dict[str, str] | None = None) -> None:
    """One tag per gate and a summary, so the version itself says why it is (not) champion, and the figures the
    target computed on it (`lakegate.eval.*`). Written concurrently: each is an independent registry round trip."""
    failed = [r.gate_id for r in results if not r.passed]
    tags = {registry_tags.gate_tag(r.gate_id): f"{'passed' if r.passed else 'failed'}: {r.message}" for r in results}
    tags.update(evaluation or {})
    tags[registry_tags.GATES_SUMMARY] = "passed" if not failed else "failed: " + ", ".join(failed)
    tags[registry_tags.GATES_AT] = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="lakegate-tags") as pool:
        futures = [pool.submit(registry.set_version_tag, version.name, version.version, key, registry_tags.fit_tag_value(value))
                   for key, value in tags.items()]
        for future in futures:
            future.result()


def recorded_gates(version: ModelVersion, gate_ids: list[str] | tuple[str, ...] = ()) -> list[GateResult]:
    """The gate results a version carries, in the order of `gate_ids` (the environment's gates, whose
    ids the tag keys spell with `.` for `:`), then any others."""
    recorded = {key[len(registry_tags.GATE_PREFIX):]: value for key, value in version.tags.items()
                if key.startswith(registry_tags.GATE_PREFIX)}
    by_tag = {registry_tags.gate_tag(gate_id)[len(registry_tags.GATE_PREFIX):]: gate_id for gate_id in gate_ids}
    order = [t for t in by_tag if t in recorded] + sorted(t for t in recorded if t not in by_tag)
    results = []
    for tag in order:
        verdict, _, message = recorded[tag].partition(": ")
        results.append(GateResult(by_tag.get(tag, tag), verdict == "passed", message, {"recorded": True}))
    return results
