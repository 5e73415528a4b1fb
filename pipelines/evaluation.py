"""Metrics of a model on a labelled table, computed by whoever holds the table (scikit-learn's own metrics).

The validation job and the target's metric gates both call `evaluate`: a version's accuracy in staging is
what staging measures on its own hold-out as its own principal, never a figure the source logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from lakegate.infra.model.metrics import TASK_METRICS


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


def evaluate(model: Any, frame, label: str, columns: Sequence[str] | None = None, *, task: str = "classification",
             metrics: Sequence[str] | None = None) -> dict[str, float]:
    """The task's metrics of `model` on `frame`: accuracy, f1, precision, recall (and roc_auc when the model gives
    probabilities) for a classification; rmse, mae, r2 for a regression. `metrics` narrows them."""
    if task not in TASK_METRICS:
        raise ValueError(f"unknown task type {task!r} (one of {', '.join(TASK_METRICS)})")
    if label not in frame.columns:
        raise ValueError(f"the table has no label column {label!r} (columns: {', '.join(map(str, frame.columns))})")
    columns = list(columns or input_columns(model, frame.drop(columns=[label])))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the table lacks the model's input column(s) {', '.join(missing)}")
    labelled = frame.dropna(subset=[label])
    if labelled.empty:
        raise ValueError("the table has no labelled row")
    figures = _classification(model, labelled, label, columns) if task == "classification" \
        else _regression(model, labelled, label, columns)
    wanted = list(metrics) if metrics else list(TASK_METRICS[task])
    return {name: figures[name] for name in wanted if name in figures}


def _classification(model, labelled, label: str, columns: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    truth = labelled[label].astype(int).to_numpy()
    predicted = _labels(model.predict(labelled[columns]))
    figures = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
    }
    probabilities = _probabilities(model, labelled[columns])
    if probabilities is not None and len(set(truth)) > 1:
        figures["roc_auc"] = float(roc_auc_score(truth, probabilities))
    return figures


def _regression(model, labelled, label: str, columns: list[str]) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    truth = labelled[label].astype(float).to_numpy()
    predicted = model.predict(labelled[columns])
    if hasattr(predicted, "columns"):
        predicted = predicted.iloc[:, 0]
    predicted = np.asarray(predicted, dtype=float).ravel()
    figures = {"rmse": float(mean_squared_error(truth, predicted) ** 0.5),
               "mae": float(mean_absolute_error(truth, predicted))}
    if len(truth) > 1:
        figures["r2"] = float(r2_score(truth, predicted))
    return figures


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
