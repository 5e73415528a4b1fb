"""What a logged model says about itself (its MLmodel file) and its run's metrics: the shape both adapters return."""

from __future__ import annotations

import json
from typing import Any


def parse_mlmodel(mlmodel: dict[str, Any] | None) -> dict[str, Any]:
    """{'signature': {'inputs': [...], 'outputs': [...], 'params': [...] | None} | None,
    'input_example_info': {...} | None, 'flavors': [...]} from a parsed MLmodel file.

    MLmodel stores each signature part as a JSON string; they are decoded here so gates can
    compare column names and types directly.
    """
    mlmodel = mlmodel or {}
    raw = mlmodel.get("signature")
    signature = None
    if isinstance(raw, dict):
        signature = {part: _decode(raw.get(part)) for part in ("inputs", "outputs", "params")}
    return {
        "signature": signature,
        "input_example_info": mlmodel.get("saved_input_example_info"),
        "flavors": sorted((mlmodel.get("flavors") or {}).keys()),
    }


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def run_metrics(run: dict[str, Any]) -> dict[str, float]:
    """The latest value of each metric of a run (REST `runs/get` shape)."""
    latest: dict[str, tuple[int, int, float]] = {}
    for metric in (run.get("data") or {}).get("metrics") or []:
        order = (int(metric.get("step") or 0), int(metric.get("timestamp") or 0))
        if metric["key"] not in latest or order >= latest[metric["key"]][:2]:
            latest[metric["key"]] = (*order, float(metric["value"]))
    return {key: value for key, (_s, _t, value) in sorted(latest.items())}
