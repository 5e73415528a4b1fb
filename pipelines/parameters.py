"""The parameters of the framework's task modules, declared as data: name, type, bounds, grammar.

One registry (a name means the same thing in every task) and, per task module, the names it reads. Pure Python
(no imports of lakegate or user code), so three places use it alike:
- `check` (LG-JOB-002, LG-JOB-003): a job's task files must be task modules declared here, and the YAML's job
  and task parameters must be of their declared type;
- `run --param NAME=VALUE` (pipelines/runner.py): exit 64 for bad syntax or an undeclared name, 6 for a value
  that fails its type, 4 for a name of another environment (model, table written, catalog, endpoint) —
  checked before any task starts, so nothing is read or written;
- every task's own argument parsing (pipelines/runtime.py `parse`), on Databricks too, where the environment
  and catalog are baked into the task's parameters (`lakegate_environment`, `lakegate_catalog`) by job_plan.py
  and a job parameter that disagrees with them is refused.
A user's own training parameter (`models.<name>.training.parameters`, a job's `parameters`) is a bounded string.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from .errors import PipelineError

MAX_LENGTH = 256                   # any one value (JSON lists of the YAML's monitors/endpoints: MAX_JSON)
MAX_JSON = 64_000
IDENTIFIER = r"[a-z_][a-z0-9_]{0,62}"                     # a Unity Catalog identifier part
_TABLE = re.compile(rf"({IDENTIFIER}\.)?{IDENTIFIER}\.{IDENTIFIER}")
_MODEL = re.compile(rf"{IDENTIFIER}(\.{IDENTIFIER}\.{IDENTIFIER})?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")        # a parameter's name
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BAKED = ("lakegate_environment", "lakegate_catalog")       # set by job_plan.py; a run cannot change them


class ParameterProblem(PipelineError):
    """`kind` names the exit code: USAGE (bad name), INVALID_REQUEST (bad value), PERMISSION_REFUSED (crossing)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Param:
    name: str
    type: str                      # str int float bool table model endpoint identifier column path json list choice
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    writes: bool = False           # a table the task writes: only ever the environment's own catalog
    optional: bool = False         # may be empty


def _p(name, type_, **kw) -> Param:
    return Param(name, type_, **kw)


REGISTRY: dict[str, Param] = {p.name: p for p in (
    # job parameters every job carries (job_plan.job_parameters) and the baked ones
    _p("environment", "identifier"), _p("catalog", "identifier"), _p("lakegate_environment", "identifier"),
    _p("lakegate_catalog", "identifier"), _p("model_name", "model"), _p("output_table", "table", writes=True),
    _p("smoke_test", "bool"), _p("smoke_sample_fraction", "float", low=1e-6, high=1.0),
    _p("smoke_epochs", "int", low=1, high=10_000), _p("smoke_register_model", "bool"),
    _p("quality_monitors", "json"), _p("serving_endpoints", "json"),
    # what a task is told about its model (infra/model/lifecycle.py)
    _p("model_code", "path", optional=True), _p("task_type", "choice", choices=("classification", "regression")),
    _p("label", "column", optional=True), _p("feature_key", "column", optional=True),
    # the tasks' own
    _p("validation_table", "table", writes=True), _p("holdout_fraction", "float", low=1e-6, high=0.999999),
    _p("features_table", "table"), _p("baseline_table", "table", writes=True, optional=True),
    _p("experiment", "str", optional=True), _p("epochs", "int", low=1, high=10_000),
    _p("sample_fraction", "float", low=1e-6, high=1.0), _p("quality", "str"), _p("seed", "int", low=0, high=2**31 - 1),
    _p("metrics", "list", optional=True), _p("model_version", "int", low=1, high=10**9, optional=True),
    _p("judge", "bool"), _p("endpoint", "endpoint"), _p("model_alias", "identifier"),
    _p("timeout_minutes", "float", low=0.1, high=24 * 60), _p("payload_table", "table"),
    _p("inference_table", "table", writes=True), _p("drift_threshold", "float", low=0.0, high=1e6),
    _p("retrain_cooldown_hours", "float", low=0.0, high=24 * 365), _p("retrain_job", "endpoint", optional=True),
    _p("drift_value", "column"), _p("min_rows", "int", low=1, high=10**9),
    _p("online_store", "endpoint", optional=True), _p("online_table", "table", writes=True, optional=True),
)}

_JOB = ("environment", "catalog", "lakegate_environment", "lakegate_catalog", "model_name", "output_table",
        "smoke_test", "smoke_sample_fraction", "smoke_epochs", "smoke_register_model", "quality_monitors",
        "serving_endpoints")
_MODEL_ARGS = ("model_code", "task_type", "label", "feature_key")
# The framework's task modules and the names each reads (paths relative to the repository; a notebook without .py).
TASKS: dict[str, tuple[str, ...]] = {
    "pipelines/features/refresh_features.py": _JOB + _MODEL_ARGS + ("validation_table", "holdout_fraction",
                                                                     "online_store", "online_table"),
    "pipelines/training/train.py": _JOB + _MODEL_ARGS + ("features_table", "baseline_table", "experiment", "epochs",
                                                         "sample_fraction", "quality", "seed"),
    "pipelines/validation/validate.py": _JOB + _MODEL_ARGS + ("validation_table", "metrics", "model_version", "judge"),
    "pipelines/deployment/update_endpoint.py": _JOB + ("endpoint", "model_alias", "timeout_minutes"),
    "pipelines/inference/score.py": _JOB + _MODEL_ARGS + ("model_alias", "model_version", "features_table"),
    "pipelines/monitoring/unpack_inference_table.py": _JOB + ("payload_table", "inference_table", "label"),
    "pipelines/monitoring/refresh_monitor": _JOB + ("inference_table", "baseline_table", "features_table", "label",
                                                    "feature_key", "drift_threshold", "retrain_cooldown_hours",
                                                    "retrain_job", "drift_value", "min_rows"),
}


def task_module(path: str) -> str | None:
    """The declared task module `path` names (a notebook given with or without `.py`), else None."""
    if path in TASKS:
        return path
    stem = path.removesuffix(".py")
    return stem if stem in TASKS else None


def shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ParameterProblem("USAGE", f"parameter name {shown(name)}: letters, digits and _ (at most 64)")


def check_value(name: str, value: str) -> None:
    """Refuse a value that fails its declared type (undeclared names: a bounded single-line string)."""
    param = REGISTRY.get(name, Param(name, "str"))
    limit = MAX_JSON if param.type == "json" else MAX_LENGTH
    if len(value) > limit:
        raise ParameterProblem("INVALID_REQUEST", f"parameter {name}: {len(value)} characters (at most {limit})")
    if param.type != "json" and _CONTROL.search(value):
        raise ParameterProblem("INVALID_REQUEST", f"parameter {name}: control characters are not allowed")
    if value == "" and (param.optional or param.type == "str"):
        return
    problem = _type_problem(param, value)
    if problem:
        raise ParameterProblem("INVALID_REQUEST", f"parameter {name}={shown(value)}: {problem}")


def _type_problem(param: Param, value: str) -> str:
    kind = param.type
    if kind in ("int", "float"):
        try:
            number = int(value) if kind == "int" else float(value)
        except ValueError:
            return f"not {'an integer' if kind == 'int' else 'a number'}"
        if not math.isfinite(number) or (param.low is not None and number < param.low) \
                or (param.high is not None and number > param.high):
            return f"out of bounds [{param.low:g}, {param.high:g}]"
        return ""
    if kind == "bool":
        return "" if value.strip().lower() in ("1", "0", "true", "false", "yes", "no", "on", "off") else "not true/false"
    if kind == "choice":
        return "" if value in param.choices else f"one of {', '.join(param.choices)}"
    if kind == "json":
        try:
            return "" if isinstance(json.loads(value), list) else "not a JSON list"
        except ValueError:
            return "not JSON"
    if kind == "path":
        parts = PurePosixPath(value).parts
        return "" if _PATH.fullmatch(value) and ".." not in parts else "not a relative path inside the project"
    if kind == "list":
        return "" if all(_COLUMN.fullmatch(v.strip()) for v in value.split(",")) else "not a comma-separated list of names"
    grammar = {"table": (_TABLE, "a table name schema.table or catalog.schema.table (lowercase, digits, _)"),
               "model": (_MODEL, "a model name (churn) or full name (catalog.schema.model)"),
               "identifier": (re.compile(IDENTIFIER), "a lowercase identifier"),
               "column": (_COLUMN, "a column name"), "endpoint": (_ENDPOINT, "an endpoint or job name")}.get(kind)
    if grammar is not None:
        return "" if grammar[0].fullmatch(value) else f"not {grammar[1]}"
    return ""


def check_confined(name: str, value: str, environment: str, catalog: str, known_catalogs=()) -> None:
    """Refuse (PERMISSION_REFUSED) a value naming another environment: its name or catalog, a model of another
    catalog, a table written in another catalog, a table read from a catalog of no environment. Reads of another
    environment's catalog are left to the grants (pipelines/grants.py decides them, as Unity Catalog would)."""
    param = REGISTRY.get(name)
    if param is None or value == "":
        return
    other = None
    if name in ("environment", "lakegate_environment") and value != environment:
        other = f"the environment is {environment}"
    elif name in ("catalog", "lakegate_catalog") and value != catalog:
        other = f"{environment}'s catalog is {catalog}"
    elif param.type == "model" and value.count(".") == 2 and value.split(".")[0] != catalog:
        other = f"models of {environment} live in catalog {catalog} (a model never crosses environments)"
    elif param.type == "table" and value.count(".") == 2:
        table_catalog = value.split(".")[0]
        if param.writes and table_catalog != catalog:
            other = f"{environment} writes only its own catalog {catalog}"
        elif known_catalogs and table_catalog not in known_catalogs:
            other = f"catalog {table_catalog} belongs to no environment"
    if other:
        raise ParameterProblem("PERMISSION_REFUSED", f"parameter {name}={shown(value)} crosses environments: {other}")


def check(name: str, value: str, environment: str, catalog: str, known_catalogs=()) -> None:
    check_name(name)
    check_value(name, value)
    check_confined(name, value, environment, catalog, known_catalogs)


def task_file_problem(path: str, root) -> str | None:
    """Why `path` (a job's python_file or notebook) is not one of the framework's task modules inside `root`'s
    pipelines/ (resolved, symlinks too), or None. Decided from names and paths alone: nothing is imported."""
    from pathlib import Path

    root = Path(root).resolve()
    relative = PurePosixPath(path)
    if not path or relative.is_absolute() or ".." in relative.parts or "\\" in path:
        return "is not a path inside the project's pipelines/"
    candidates = [root / path] + ([root / f"{path}.py"] if relative.suffix == "" else [])
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        return "does not exist"
    resolved = found.resolve()
    if (root / "pipelines") not in resolved.parents:
        return f"resolves outside the project's pipelines/ (to {resolved})"
    module = task_module(path)
    if module is None or task_module(resolved.relative_to(root).as_posix()) != module:
        return "is not a task module of the framework (pipelines/parameters.py TASKS)"
    return None
