"""What every gate receives and returns."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from lakegate.infra.model import Environment, Environments

from .. import registry_tags
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
    # Who promoted the candidate (audit log actors, and whoever promotes now): four eyes for approvals.
    promoters: frozenset[str] = frozenset()
    # The target's tables as its principal (pipelines/tables.py); None: reached through the registry adapter.
    tables: Any = None
    # The rollback hold on the candidate's files (promotion/holds.py), when promoting them again was allowed: the
    # approval gate then counts only an approval given after the rollback.
    rolled_back: Any = None
    _info: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _models: dict[tuple[str, str], Any] = field(default_factory=dict)
    _digests: dict[tuple[str, str], str] = field(default_factory=dict)
    _evaluations: dict[tuple[str, str], Any] = field(default_factory=dict)
    _validation: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prefetch(self, gate_types: set[str]) -> None:
        """Fetch what the gates will read, concurrently: registry round trips dominate a gate run. The registry
        reads start first; the model loads and the hold-out read wait for the model stack's background import
        (promotion/model_stack.py) meanwhile. A failed fetch is not cached: the gate that needs it fetches again
        and fails with the error."""
        from lakegate.promotion import model_stack

        reads: list[Callable[[], Any]] = [lambda: self.info(self.candidate)]
        if self.champion is not None:
            reads.append(lambda: self.info(self.champion))
        for version in (self.candidate, self.champion):
            source = _source_of(version)
            if source is not None:
                reads.append(lambda source=source: self._info_of(*source))
        if "approval" in gate_types:
            reads.append(lambda: self.artifact_digest(self.candidate))
        loads: list[Callable[[], Any]] = []
        if gate_types & {"smoke_inference", "serving_smoke", "metric_threshold", "no_regression"}:
            loads.append(lambda: self.model(self.candidate))
        if "no_regression" in gate_types and self.champion is not None:
            loads.append(lambda: self.model(self.champion))
        if gate_types & {"metric_threshold", "no_regression"}:
            loads.append(self.validation)
        with ThreadPoolExecutor(max_workers=len(reads) + len(loads), thread_name_prefix="lakegate-gates") as pool:
            futures = [pool.submit(job) for job in reads]
            if loads:
                model_stack.import_now()  # one thread imports the stack (the one a promotion started, else now)
            futures += [pool.submit(job) for job in loads]
            for future in futures:
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

    def artifact_digest(self, version: ModelVersion) -> str:
        """The digest of the version's files as the registry serves them now, computed once."""
        key = (version.name, version.version)
        if key not in self._digests:
            self._digests[key] = self.registry.artifact_digest(version.name, version.version)
        return self._digests[key]

    def validation(self):
        """(frame, full table name, Delta version) of the target's labelled hold-out, read once as the target's
        principal. EvaluationUnavailable (saying which job writes it) when it cannot be read."""
        with self._lock:
            if self._validation is None:
                self._validation = _read_validation(self)
            return self._validation

    def evaluate(self, version: ModelVersion):
        """The version's metrics computed now by the target on its validation table (pipelines/evaluation.py):
        what the metric gates decide on. Computed once per gate run; the candidate's are recorded on it."""
        key = (version.name, version.version)
        if key not in self._evaluations:
            from lakegate.pipelines.evaluation import Evaluation, evaluate

            frame, table, table_version = self.validation()
            policy = self.env.policy(self.candidate.name.split(".")[-1])
            try:
                metrics = evaluate(self.model(version), frame, policy.label, task=policy.task, metrics=policy.metrics)
            except ValueError as error:
                raise EvaluationUnavailable(f"v{version.version} cannot be evaluated on {table}: {error}") from None
            self._evaluations[key] = Evaluation(metrics, len(frame), table, table_version, self.registry.principal)
        return self._evaluations[key]

    def evaluation_tags(self, version: ModelVersion) -> dict[str, str]:
        """`lakegate.eval.*` tags: what the target computed on the version, where and as whom."""
        evaluation = self._evaluations.get((version.name, version.version))
        if evaluation is None:
            return {}
        tags = {f"{registry_tags.EVAL_PREFIX}{name}": f"{value:.4f}" for name, value in evaluation.metrics.items()}
        tags[f"{registry_tags.EVAL_PREFIX}table"] = f"{evaluation.table}@v{evaluation.table_version}"
        tags[f"{registry_tags.EVAL_PREFIX}rows"] = str(evaluation.rows)
        tags[f"{registry_tags.EVAL_PREFIX}by"] = evaluation.principal
        return tags

    def claimed(self, version: ModelVersion, metric: str) -> float | None:
        """What the source's training run logged for `metric`: shown beside the target's figure, never decisive."""
        try:
            value = self.metrics(version).get(metric)
        except Exception:  # noqa: BLE001 -- a claim that cannot be read is simply not shown
            return None
        return float(value) if value is not None else None

    def metrics(self, version: ModelVersion) -> dict[str, float]:
        """Training metrics (claims: the metric gates show them, the target's evaluation decides). For a copy: the run of the version it was promoted from, which lives in
        the source environment where this principal may only read (so the target's principal cannot
        improve a copy's figures by logging to its own run); else the version's own run."""
        source, number = version.tags.get(registry_tags.PROMOTED_FROM), version.tags.get(registry_tags.SOURCE_VERSION)
        if source and number:
            upstream = self._info_of(source, number).get("metrics") or {}
            if upstream:
                return dict(upstream)
        return dict(self.info(version).get("metrics") or {})


class EvaluationUnavailable(Exception):
    """The target cannot compute the figures a metric gate needs (the gate then fails closed, saying why)."""


def _read_validation(ctx: "GateContext"):
    from lakegate.pipelines.errors import MissingTable
    from lakegate.pipelines.tables import tables_for

    env = ctx.env
    table = env.policy(ctx.candidate.name.split(".")[-1]).evaluation_table
    tables = ctx.tables if ctx.tables is not None else tables_for(ctx.registry, ctx.envs, env)
    full = tables.full_name(table)
    try:
        version = tables.version(table)
        if version is None:
            raise MissingTable(full)
        frame = tables.to_pandas(tables.read(table))
    except MissingTable:
        raise EvaluationUnavailable(
            f"{env.name} has no validation table {full}: run {env.name}'s feature-refresh job (python main.py run "
            f"feature-refresh --env {env.name}); the metric gates judge only on {env.name}'s own data") from None
    return frame, full, version


def _source_of(version: ModelVersion | None) -> tuple[str, str] | None:
    if version is None:
        return None
    source, number = version.tags.get(registry_tags.PROMOTED_FROM), version.tags.get(registry_tags.SOURCE_VERSION)
    return (source, number) if source and number else None
