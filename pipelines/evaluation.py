"""Metrics of a model on a labelled table, computed by whoever holds the table (scikit-learn's own metrics).

The validation job and the target's metric gates both call `evaluate`: a version's accuracy in staging is
what staging measures on its own hold-out as its own principal, never a figure the source logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

# Metric name -> needs probabilities (roc_auc) or labels only.
METRICS = {"accuracy": False, "f1": False, "precision": False, "recall": False, "roc_auc": True}


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    rows: int
    table: str = ""                 # catalog.schema.table evaluated on
    table_version: int | None = None
    principal: str = ""
    columns: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        version = f" v{self.table_version}" if self.table_version is not None else ""
        return f"{self.table}{version}, {self.rows} rows, computed by {self.principal}"


def input_columns(model: Any, frame) -> list[str]:
    """The model's input columns (its signature), else every column of the frame."""
    try:
        schema = model.metadata.get_input_schema()
        names = schema.input_names() if schema is not None else None
    except Exception:  # noqa: BLE001 -- a model without metadata scores on what it is given
        names = None
    return list(names) if names else list(frame.columns)


def evaluate(model: Any, frame, label: str, columns: Sequence[str] | None = None) -> dict[str, float]:
    """accuracy, f1, precision, recall (and roc_auc when the model gives probabilities) on `frame`."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    if label not in frame.columns:
        raise ValueError(f"the table has no label column {label!r} (columns: {', '.join(map(str, frame.columns))})")
    columns = list(columns or input_columns(model, frame.drop(columns=[label])))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the table lacks the model's input column(s) {', '.join(missing)}")
    labelled = frame.dropna(subset=[label])
    if labelled.empty:
        raise ValueError("the table has no labelled row")
    truth = labelled[label].astype(int).to_numpy()
    predicted = _labels(model.predict(labelled[columns]))
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
    }
    probabilities = _probabilities(model, labelled[columns])
    if probabilities is not None and len(set(truth)) > 1:
        metrics["roc_auc"] = float(roc_auc_score(truth, probabilities))
    return metrics


def _labels(predictions):
    import numpy as np

    if hasattr(predictions, "columns"):
        predictions = predictions.iloc[:, 0]
    return np.asarray(predictions).astype(int).ravel()


def _probabilities(model, frame):
    """P(churn) from the raw model behind a pyfunc (scikit-learn flavour), when it has predict_proba."""
    try:
        raw = model.get_raw_model() if hasattr(model, "get_raw_model") else model
        return raw.predict_proba(frame)[:, 1] if hasattr(raw, "predict_proba") else None
    except Exception:  # noqa: BLE001 -- probabilities are a bonus metric, labels decide
        return None
