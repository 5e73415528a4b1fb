"""What every gate receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    _info: dict[str, dict[str, Any]] = field(default_factory=dict)

    def info(self, version: ModelVersion) -> dict[str, Any]:
        """The version's logged metadata (signature, input example, metrics), fetched once."""
        if version.version not in self._info:
            self._info[version.version] = self.registry.model_info(version.name, version.version) or {}
        return self._info[version.version]

    def metrics(self, version: ModelVersion) -> dict[str, float]:
        """Training metrics: from the run when reachable, else those promotion carried along as tags."""
        carried = {key[len(aliases.METRIC_PREFIX):]: float(value) for key, value in version.tags.items()
                   if key.startswith(aliases.METRIC_PREFIX)}
        return {**carried, **(self.info(version).get("metrics") or {})}
