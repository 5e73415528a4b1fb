"""The ready-to-paste request `serve` prints: a `curl` whose body is the served version's own input example (MLflow
logs one with each version: pipelines/training/train.py), so nobody learns the columns from a 400."""

from __future__ import annotations

import json
import shlex
from typing import Any

ROWS = 1  # one row reads at a glance; the example has a few


def example_request(example: Any) -> dict | None:
    """The scoring request for the first row(s) of a logged input example (None when there is none)."""
    from lakegate.pipelines.serving.app import request_for

    if example is None:
        return None
    body = request_for(example)
    if "dataframe_split" in body:
        split = dict(body["dataframe_split"])
        split["data"] = list(split.get("data") or [])[:ROWS]
        split.pop("index", None)
        return {"dataframe_split": split}
    return {"dataframe_records": list(body["dataframe_records"])[:ROWS]}


def curl_command(url: str, body: dict) -> str:
    """One line a POSIX shell runs as is (the body single-quoted, whatever its values hold)."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' -d {shlex.quote(data)}"


def served_example(runtime, full_name: str, version: str) -> tuple[dict | None, str]:
    """(request body, why there is none) for the version served: read as the environment's principal."""
    from lakegate.promotion.registry import RegistryError

    try:
        example = runtime.registry.model_info(full_name, version).get("input_example")
    except (RegistryError, OSError, ValueError) as error:
        return None, f"its input example could not be read ({error})"
    if example is None:
        return None, f"{full_name} v{version} was logged without an input example"
    try:
        return example_request(example), ""
    except (TypeError, ValueError, KeyError) as error:
        return None, f"its input example is not a table ({type(error).__name__})"
