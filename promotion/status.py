"""Where every model stands: per environment, champion, challenger, versions, lineage, last gate results.

Returns plain data (the CLI renders it with rich, or prints it as JSON). Each environment is read as
its own service principal; an environment that cannot be read reports its error instead of failing
the whole status.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lakegate.infra.model import Environment, Environments

from . import registry_tags
from .errors import failure_kind
from .gates import gates_for
from .claim import DUPLICATE_OF
from .gate_record import recorded_gates
from .promote import AdapterFactory
from .registry import ModelVersion, NotFound, RegistryAdapter, RegistryError


def status(envs: Environments, adapter_factory: AdapterFactory) -> dict[str, Any]:
    """{"environments": [{"env", "principal", "models": [...], "error"}]} in promotion order. Every environment is
    read at once (each as its own principal): the time is registry round trips, two per model."""
    environments = list(envs)
    if len(environments) < 2:
        return {"environments": [environment_status(env, adapter_factory) for env in environments]}
    made: dict[str, Any] = {}
    for env in environments:  # in promotion order, one by one: a factory may refuse one environment after another
        try:
            made[env.name] = adapter_factory(env.name)
        except (RegistryError, ConnectionError, OSError) as error:
            made[env.name] = error

    def made_for(name: str) -> RegistryAdapter:
        if isinstance(made[name], BaseException):
            raise made[name]
        return made[name]

    with ThreadPoolExecutor(max_workers=min(8, len(environments)), thread_name_prefix="lakegate-status") as pool:
        return {"environments": list(pool.map(lambda env: environment_status(env, made_for), environments))}


def environment_status(env: Environment, adapter_factory: AdapterFactory) -> dict[str, Any]:
    entry: dict[str, Any] = {"env": env.name, "principal": env.service_principal, "models": [], "error": None}
    try:
        registry = adapter_factory(env.name)
        names = list(env.models)

        def one(name: str) -> dict[str, Any]:
            return {**model_status(registry, env.unity_catalog.model_full_name(name),
                                   [gate.gate_id for gate in gates_for(env, name)]),
                    "policy": env.policy(name).as_dict()["values"]}

        if len(names) < 2:
            entry["models"] = [one(name) for name in names]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(names)), thread_name_prefix="lakegate-status") as pool:
                entry["models"] = list(pool.map(one, names))
    except (RegistryError, ConnectionError, OSError) as error:
        entry["error"] = {"kind": failure_kind(error), "message": str(error)}
    return entry


def model_status(registry: RegistryAdapter, name: str, gate_ids: list[str] = ()) -> dict[str, Any]:
    try:
        versions = sorted(registry.list_versions(name), key=lambda v: int(v.version))
    except NotFound:
        return {"model": name, "registered": False, "champion": None, "challenger": None, "versions": [],
                "lineage": {}, "last_gates": None}
    by_alias = {alias: v for v in versions for alias in v.aliases}
    champion, challenger = by_alias.get(registry_tags.CHAMPION), by_alias.get(registry_tags.CHALLENGER)
    return {
        "model": name, "registered": True,
        "champion": champion.version if champion else None,
        "challenger": challenger.version if challenger else None,
        "versions": [version_status(v) for v in versions],
        "lineage": registry_tags.lineage_of((champion or (versions[-1] if versions else None) or _EMPTY).tags),
        "last_gates": last_gates(versions, gate_ids),
    }


def version_status(version: ModelVersion) -> dict[str, Any]:
    return {"version": version.version, "aliases": list(version.aliases), "status": version.status,
            "created_at_ms": version.created_at_ms, "lineage": registry_tags.lineage_of(version.tags),
            "gates": version.tags.get(registry_tags.GATES_SUMMARY),
            "approved_by": version.tags.get(registry_tags.APPROVED_BY),
            "duplicate_of": version.tags.get(DUPLICATE_OF)}


def last_gates(versions: list[ModelVersion], gate_ids: list[str] = ()) -> dict[str, Any] | None:
    """The gate results of the version whose gates ran last."""
    gated = [v for v in versions if v.tags.get(registry_tags.GATES_AT)]
    if not gated:
        return None
    latest = max(gated, key=lambda v: (v.tags[registry_tags.GATES_AT], int(v.version)))
    return {"version": latest.version, "at": latest.tags[registry_tags.GATES_AT],
            "summary": latest.tags.get(registry_tags.GATES_SUMMARY),
            "results": [g.as_dict() for g in recorded_gates(latest, gate_ids)]}


_EMPTY = ModelVersion(name="", version="0")
