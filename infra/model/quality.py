"""Quality monitors (Lakehouse Monitoring): drift and quality metrics of inference and prediction tables,
written to the environment's monitoring schema."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Strict
from .workflows import Schedule

GRANULARITIES = ("5 minutes", "30 minutes", "1 hour", "1 day", "1 week", "2 weeks", "3 weeks", "4 weeks", "1 month", "1 year")


class QualityMonitor(Strict):
    """An inference-log monitor on a table of predictions (the unpacked inference table of an endpoint, or
    the output of batch inference)."""

    table: str = Field(
        pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="Monitored table, `schema.table` in the environment's catalog."
    )
    problem_type: Literal["classification", "regression"] = Field(description="What the model predicts.")
    prediction_column: str = Field("prediction", description="Column holding the prediction.")
    label_column: str | None = Field(None, description="Column holding the ground truth, when it arrives.")
    model_id_column: str = Field("model_version", description="Column identifying the model version.")
    timestamp_column: str = Field("timestamp", description="Column holding the inference time.")
    granularities: list[str] = Field(default_factory=lambda: ["1 day"], min_length=1,
                                     description="Time windows metrics are aggregated over.")
    baseline_table: str | None = Field(
        None, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="Baseline (`schema.table`) drift is measured against."
    )
    slicing_expressions: list[str] = Field(default_factory=list, description="Expressions metrics are also sliced by.")
    schedule: Schedule | None = Field(None, description="Refresh schedule; omit when a job refreshes the monitor.")
    notify_on_failure: list[str] = Field(default_factory=list, description="E-mail addresses told when a refresh fails.")
    warehouse: str | None = Field(None, description="SQL warehouse of the monitor's dashboard; default the first one.")

    @field_validator("granularities")
    @classmethod
    def _known_granularities(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in GRANULARITIES]
        if unknown:
            raise ValueError(f"unknown granularity {', '.join(unknown)} (one of {', '.join(GRANULARITIES)})")
        return values

    @property
    def schema_name(self) -> str:
        return self.table.split(".")[0]
