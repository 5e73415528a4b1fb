"""`new model NAME --task T`: `models.NAME` in every environment file, in the style of the examples, and the stub
training module (stub.py) it names.

Each environment gets what fits it: its feature and predictions schemas (those its models already use), serving
that sleeps when idle outside production, the consumers its other models have; where models are promoted into,
gates of the task (the environment's own non-metric gates kept, its metric gates replaced) and an approval gate
where the environment requires approval.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..loader import display_path, environment_files
from ..model.metrics import TASK_METRICS
from . import ScaffoldError
from .environment import Written
from .text import Document, flow, scalar

_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")
LABEL = "target"
PARAMETERS = {"classification": {"C": "1.0"}, "regression": {"alpha": "1.0"}}


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ScaffoldError("USAGE", f"'{name}' is not a valid model name (lowercase letters, digits and '_', "
                                     "starting with a letter, at most 41 characters)")


def task_gates(task: str, production: bool) -> list[dict]:
    """The metric gates of a task, at thresholds the stub (stub.py) passes on any environment's data."""
    if task == "classification":
        return [{"type": "metric_threshold", "metric": "accuracy", "min": 0.85 if production else 0.8},
                {"type": "no_regression", "metric": "accuracy", "tolerance": 0.0 if production else 0.02}]
    return [{"type": "metric_threshold", "metric": "r2", "min": 0.85 if production else 0.8},
            {"type": "metric_threshold", "metric": "rmse", "max": 2.5 if production else 3.0},
            {"type": "no_regression", "metric": "rmse", "tolerance": 0.1}]


def gates_for(env, doc: Document, task: str) -> list[dict] | None:
    """The model's own gates here, or None when the environment's defaults fit it."""
    raw = doc.get("promotion", "gates")
    defaults = raw if isinstance(raw, list) else [g.model_dump(by_alias=True, exclude_defaults=True) | {"type": g.type}
                                                  for g in env.promotion.gates]
    metric = [g for g in defaults if isinstance(g, dict) and "metric" in g]
    if env.promotion.from_env is None and all(g["metric"] in TASK_METRICS[task] for g in metric):
        return None
    kept = [g for g in defaults if isinstance(g, dict) and "metric" not in g]
    first = next((i for i, g in enumerate(defaults) if isinstance(g, dict) and "metric" in g), None)
    at = (len([g for g in defaults[:first] if "metric" not in g]) if first is not None
          else next((i + 1 for i, g in enumerate(kept) if g.get("type") == "signature"), len(kept)))
    gates = kept[:at] + (task_gates(task, env.production) if env.promotion.from_env else []) + kept[at:]
    if env.promotion.approval.required and not any(g.get("type") == "approval" for g in gates):
        gates.append({"type": "approval"})
    return gates


def _schema(env, used: list[str], preferred: str) -> str | None:
    names = [s if isinstance(s, str) else s.name for s in env.unity_catalog.schemas]
    for table in used:
        if table.split(".")[0] in names:
            return table.split(".")[0]
    return preferred if preferred in names else None


def model_block(env, doc: Document, name: str, task: str, code: str, indent: int, step: int) -> str:
    pad = lambda level: " " * (indent + step * level)  # noqa: E731
    models = list(env.models.values())
    features = _schema(env, [m.features.table for m in models], "features") or (
        env.unity_catalog.schemas[0] if isinstance(env.unity_catalog.schemas[0], str)
        else env.unity_catalog.schemas[0].name)
    batch = _schema(env, [m.batch.output_table for m in models if m.batch], "predictions")
    consumers = next((list(m.serving.consumers) for m in models if m.serving is not None), [])
    lines = [
        f"{pad(0)}{name}:",
        f"{pad(1)}description: {scalar(f'What {name} predicts (describe it here)')}",
        f"{pad(1)}task: {task}",
        f"{pad(1)}code: {scalar(code)}",
        f"{pad(1)}features: {flow({'table': f'{features}.{name}_features', 'key': f'{name}_id'})}",
        f"{pad(1)}label: {LABEL}",
        f"{pad(1)}training:",
        f"{pad(2)}parameters: {flow(PARAMETERS[task])}",
        f"{pad(1)}evaluation: {flow({'metrics': list(TASK_METRICS[task])})}",
    ]
    gates = gates_for(env, doc, task)
    if gates is not None:
        lines.append(f"{pad(1)}gates:")
        lines += [f"{pad(2)}- {flow(gate)}" for gate in gates]
    lines += [f"{pad(1)}serving:", f"{pad(2)}scale_to_zero: {scalar(not env.production)}"]
    if consumers:
        lines.append(f"{pad(2)}consumers: {flow(consumers)}")
    if batch is not None:
        lines.append(f"{pad(1)}batch: {flow({'output_table': f'{batch}.{name}_predictions'})}")
    return "\n".join(lines) + "\n"


def plan_model(directory: Path, envs, name: str, task: str, code: str) -> Written:
    """The edits `new model` makes to every environment file (nothing is written here)."""
    files = {p.stem: p for p in environment_files(directory)}
    for env in envs:
        if name in env.models:
            raise ScaffoldError("INVALID_DEFINITIONS", f"{env.locate('models', name)}: model '{name}' already exists "
                                                       f"in {env.name}")
    out = Written()
    for env in envs:
        doc = Document(files[env.name], display_path(files[env.name]))
        models = doc.get("models")
        if isinstance(models, dict) and models and ("models",) not in doc.source.flow:
            first = next(iter(models))
            indent = doc.indent_of(("models", first))
            fields = [p for p in doc.source.key_spans if len(p) == 3 and p[:2] == ("models", first)]
            step = (doc.indent_of(fields[0]) - indent) if fields else 2
            block = model_block(env, doc, name, task, code, indent, step or 2)
            doc.insert_lines(doc.after_line_of(doc.content_end(("models",))), block, ("models", name), f"{task} model")
        elif isinstance(models, dict) and models:
            raise ScaffoldError("INVALID_DEFINITIONS", f"{doc.source.locate(('models',))}: models is written in flow "
                                                       "style; add the model by hand, or write it as a block")
        else:
            block = model_block(env, doc, name, task, code, 2, 2)
            if "models" in doc.data:  # `models: {}` or `models:` with nothing: replaced by the block
                doc.remove(("models",))
            doc.insert_lines(len(doc.text), f"# The models {env.name} holds.\nmodels:\n" + block, ("models", name),
                             f"{task} model")
        out.files[doc.path] = doc.rendered()
        out.changes += doc.changes
    return out
