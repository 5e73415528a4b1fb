"""What every gate receives and returns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from infra.model import Environment, Environments

from .. import aliases
from ..registry import ModelVersion, RegistryAdapter


@dataclass(frozen=True)
class GateResult:
    gate_id: str
    passed: bool
    message: str                              # one line: what was checked and the finding
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"gate_id": self.gate_id, "passed": self.passed, "message": self.message, "details": self.details}


@dataclass
class GateContext:
    """The candidate, the current champion and read access to the target registry, for one gate run."""

    envs: Environments
    env: Environment                          # the target environment whose gates run
    registry: RegistryAdapter                 # acting as the target's service principal
    candidate: ModelVersion
    champion: ModelVersion | None             # None when the target has no champion yet
    _info: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _models: dict[tuple[str, str], Any] = field(default_factory=dict)

    def prefetch(self, gate_types: set[str]) -> None:
        """Fetch what the gates will read, concurrently: registry round trips dominate a gate run.
        A failed fetch is not cached: the gate that needs it fetches again and fails with the error."""
        jobs: list[Callable[[], Any]] = [lambda: self.info(self.candidate)]
        if self.champion is not None:
            jobs.append(lambda: self.info(self.champion))
        if "smoke_inference" in gate_types:
            jobs.append(lambda: self.model(self.candidate))
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="lakegate-gates") as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.exception()

    def model(self, version: ModelVersion) -> Any:
        """The version loaded as a pyfunc model, loaded once."""
        key = (version.name, version.version)
        if key not in self._models:
            self._models[key] = self.registry.load_pyfunc(version.name, version.version)
        return self._models[key]

    def info(self, version: ModelVersion) -> dict[str, Any]:
        """The version's logged metadata (signature, input example, metrics), fetched once."""
        return self._info_of(version.name, version.version)

    def _info_of(self, name: str, number: str) -> dict[str, Any]:
        if (name, number) not in self._info:
            self._info[(name, number)] = self.registry.model_info(name, number) or {}
        return self._info[(name, number)]

    def metrics(self, version: ModelVersion) -> dict[str, float]:
        """Training metrics: the version's own run, else (a copy whose run the registry cannot reach,
        e.g. Unity Catalog across workspaces) the run of the version it was promoted from."""
        own = self.info(version).get("metrics") or {}
        source, number = version.tags.get(aliases.PROMOTED_FROM), version.tags.get(aliases.SOURCE_VERSION)
        if own or not (source and number):
            return dict(own)
        return dict(self._info_of(source, number).get("metrics") or {})
