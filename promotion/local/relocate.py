"""A promoted copy points into the target only: its MLmodel is rewritten as MLflow writes a freshly logged one.

A logged model's MLmodel names where it was logged: `run_id` (the source's training run), `artifact_path`
(in MLflow 3 the source workspace's `mlflow-artifacts:/workspaces/dev/...` location), `model_id` (the source's
logged model) and `model_uuid`. Copied as is, a target's principal that follows them (MLflow's own
`Model.load_input_example()`, anything resolving the model's run) reaches into the source and is refused.
So the copy's MLmodel gets the target's copy run as `run_id`, `model` (its path in that run) as `artifact_path`,
no `model_id` (no logged model of the source is the copy's) and a new `model_uuid`: everything else, every
other file, stays byte for byte the source's.

`canonical` is the MLmodel without those location fields: a copy and its source agree on it, which is how
promotion checks that a copy still holds its source's content (`content_digest` of the local adapter).
"""

from __future__ import annotations

import json
import uuid

import yaml

MLMODEL = "MLmodel"
LOCATION_FIELDS = ("artifact_path", "run_id", "model_id", "model_uuid")


def relocated(mlmodel_text: str, run_id: str, artifact_path: str = "model") -> bytes:
    """The copy's MLmodel: the source's, pointing at the copy run of the target (see the module docstring)."""
    document = yaml.safe_load(mlmodel_text) or {}
    document.update({"run_id": run_id, "artifact_path": artifact_path, "model_uuid": uuid.uuid4().hex})
    document.pop("model_id", None)
    return yaml.safe_dump(document, default_flow_style=False).encode("utf-8")


def canonical(mlmodel_text: str) -> bytes:
    """The MLmodel's content without where it was logged: equal for a copy and its source."""
    document = yaml.safe_load(mlmodel_text) or {}
    for key in LOCATION_FIELDS:
        document.pop(key, None)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
