"""smoke_inference: the candidate loads and predicts on its own logged input example."""

from __future__ import annotations

from typing import Any

from lakegate.infra.model.promotion import SmokeInferenceGate

from .base import GateContext, GateResult

TYPE = "smoke_inference"
MESSAGE = "the candidate loads as a pyfunc model and predicts one row per row of its input example"
RATIONALE = ("Metrics come from the training run; only loading the copied artifacts proves the version "
             "that will serve is complete and its dependencies import.")


def as_frame(example: Any):
    """The input example as a DataFrame (MLflow stores it split-oriented: {columns, data})."""
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return example
    if isinstance(example, dict) and "columns" in example and "data" in example:
        return pd.DataFrame(example["data"], columns=example["columns"])
    if isinstance(example, dict) and "dataframe_split" in example:
        return as_frame(example["dataframe_split"])
    if isinstance(example, dict):
        return pd.DataFrame([example])
    return pd.DataFrame(example)


def check(gate: SmokeInferenceGate, ctx: GateContext) -> GateResult:
    example = ctx.info(ctx.candidate).get("input_example")
    if example is None:
        return GateResult(gate.gate_id, False, "the candidate has no logged input example to predict on", {})
    frame = as_frame(example)
    model = ctx.model(ctx.candidate)
    predictions = model.predict(frame)
    count = len(predictions)
    sample = [_plain(p) for p in list(predictions[:3] if not hasattr(predictions, "iloc") else predictions.iloc[:3].values)]
    details = {"rows": len(frame), "predictions": count, "sample": sample}
    if count != len(frame):
        return GateResult(gate.gate_id, False, f"{count} predictions for {len(frame)} input rows", details)
    return GateResult(gate.gate_id, True, f"predicted {count} row(s) of the input example", details)


def _plain(value: Any) -> Any:
    # numpy scalars and arrays -> JSON-friendly values for tags and the audit log.
    return value.tolist() if hasattr(value, "tolist") else value
