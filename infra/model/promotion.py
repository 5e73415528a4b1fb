"""How models reach this environment: the only allowed source, the gates, approval and credentials."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import EnvName, Strict


class _Gate(Strict):
    id: str | None = Field(None, description="Gate id shown in results; default `<type>` (+ metric).")

    @property
    def gate_id(self) -> str:
        return self.id or self.type  # type: ignore[attr-defined]


class MetricThresholdGate(_Gate):
    type: Literal["metric_threshold"]
    metric: str = Field(description="Training-run metric name.")
    min: float | None = Field(None, description="Lowest accepted value.")
    max: float | None = Field(None, description="Highest accepted value.")

    @model_validator(mode="after")
    def _a_bound(self) -> "MetricThresholdGate":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self

    @property
    def gate_id(self) -> str:
        return self.id or f"metric_threshold:{self.metric}"


class ChampionComparisonGate(_Gate):
    type: Literal["no_regression"]
    metric: str = Field(description="Metric compared with the current champion's.")
    tolerance: float = Field(0.0, ge=0, description="How much worse than the champion is still accepted.")
    higher_is_better: bool = Field(True, description="Direction of the metric.")

    @property
    def gate_id(self) -> str:
        return self.id or f"no_regression:{self.metric}"


class SignatureGate(_Gate):
    type: Literal["signature"]


class RequiredTagsGate(_Gate):
    type: Literal["required_tags"]
    tags: list[str] = Field(min_length=1, description="Tags the version must carry (compliance).")


class SmokeInferenceGate(_Gate):
    type: Literal["smoke_inference"]


class ApprovalGate(_Gate):
    type: Literal["approval"]


Gate = Annotated[
    Union[MetricThresholdGate, ChampionComparisonGate, SignatureGate, RequiredTagsGate, SmokeInferenceGate, ApprovalGate],
    Field(discriminator="type"),
]


class Approval(Strict):
    required: bool = Field(False, description="A person must approve before champion moves.")
    approvers: list[str] = Field(default_factory=list, description="Groups whose members may approve (empty: any person).")


class Promotion(Strict):
    from_env: EnvName | None = Field(None, alias="from", description="The only environment models may come from.")
    gates: list[Gate] = Field(default_factory=list, description="Gates a version must pass to become champion.")
    approval: Approval = Field(default_factory=Approval, description="Manual approval before champion moves.")

    @model_validator(mode="after")
    def _unique_gate_ids(self) -> "Promotion":
        ids = [g.gate_id for g in self.gates]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate gate id {', '.join(duplicates)}")
        return self


class Credentials(Strict):
    strategy: Literal["azure-workload-identity", "azure-client-secret", "azure-cli", "local-password"] | None = Field(
        None, description="Pin one credential strategy; omit to pick the single one configured."
    )


class Waiver(Strict):
    """An accepted guardrail finding: data with rules of its own, and always visible as "waived"."""

    id: str = Field(description="Rule id, e.g. LG-PROD-002.")
    reason: str = Field(description="Why the finding is accepted (at least 10 characters).")
    applies_to: str | None = Field(None, description="The finding it waives (e.g. `cluster=adhoc`); omit for all.")
    expires: date | None = Field(None, description="YYYY-MM-DD after which the waiver lapses (an error).")
    approved_by: str = Field(min_length=1, description="Who accepted the risk.")

    @field_validator("id")
    @classmethod
    def _bare_rule_id(cls, value: str) -> str:
        if "[" in value:
            raise ValueError(f"'{value}': put the finding in applies_to, the id is the bare rule id")
        if not re.fullmatch(r"LG-[A-Z]+-\d{3}", value):
            raise ValueError(f"'{value}' is not a rule id (LG-<AREA>-<NNN>)")
        return value

    @field_validator("reason")
    @classmethod
    def _real_reason(cls, value: str) -> str:
        if len(value.strip()) < 10:
            raise ValueError("a waiver needs a reason of at least 10 characters")
        return value
