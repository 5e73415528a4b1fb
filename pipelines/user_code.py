"""The project's own model code, loaded by its path (`models.<name>.code`), and the small API it implements.

    def features(ctx) -> frame          # the model's rows: its key, feature columns and label
    def fit(frame, params) -> (model, metrics)

`ctx` is a FeatureContext (environment, params, tables); `frame` holds the feature columns and the label (no
key); `params` are the train job's parameters as strings, plus `seed`, `label`, `epochs` and
`sample_fraction` as the run resolved them. `model` is a scikit-learn estimator or an
`mlflow.pyfunc.PythonModel`; `metrics` what the run *claims* (targets recompute their own).

A module is loaded only from a Python file inside the project (resolved, symlinks too), under a private
module name, so it can never shadow lakegate or a library; classes and functions it defines are pickled by
value with the model, so a copy loads where the project's code is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from lakegate.project import project_root

from .errors import PipelineError

class UserCodeError(PipelineError):
    """The model's code cannot be used (missing, outside the project, lacking a function): fix the code or YAML."""

    kind = "INVALID_DEFINITIONS"


@dataclass(frozen=True)
class FeatureContext:
    environment: str
    params: dict[str, str] = field(default_factory=dict)
    tables: Any = None           # read the environment's tables as its principal (rt.tables)


def code_path(relative: str, root: Path | None = None) -> Path:
    """The file `relative` names, refused unless it is a Python file inside the project (symlinks resolved)."""
    root = (root or project_root()).resolve()
    if not relative or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise UserCodeError(f"model code {relative!r} must be a path inside the project, relative to {root}")
    path = (root / relative).resolve()
    if root not in path.parents or path.suffix != ".py":
        raise UserCodeError(f"model code {relative!r} resolves to {path}, which is not a Python file of the project")
    if not path.is_file():
        raise UserCodeError(f"model code {relative!r} does not exist in {root} (models.<name>.code)")
    return path


_loaded: dict[Path, ModuleType] = {}


def load(relative: str, *, needs: tuple[str, ...] = ("fit",)) -> ModuleType:
    """Import the model's module once per process, by its file."""
    path = code_path(relative)
    module = _loaded.get(path)
    if module is None:
        name = "lakegate_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pickling by value needs the module registered while it is imported
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(name, None)
            raise UserCodeError(f"model code {relative} failed to import: {type(error).__name__}: {error}") from error
        try:
            import cloudpickle

            cloudpickle.register_pickle_by_value(module)
        except (ImportError, ValueError):
            pass
        _loaded[path] = module
    missing = [name for name in needs if not callable(getattr(module, name, None))]
    if missing:
        raise UserCodeError(f"model code {relative} defines no {' or '.join(missing)}() (see pipelines/user_code.py)")
    return module


def digest(relative: str) -> str:
    """sha256 of the model's code file, as it is now."""
    return hashlib.sha256(code_path(relative).read_bytes()).hexdigest()
