"""A notebook task as Databricks runs one: its source (Databricks source format: `# Databricks notebook source`,
cells split by `# COMMAND ----------`) executed cell by cell in one namespace holding `dbutils` and `spark`, as
`__main__` with no `__file__`; the widgets are the job's parameters pushed down plus the task's base parameters,
and `dbutils.jobs.taskValues.set` publishes a value the way Databricks does (JSON only, at most 48 KiB, the
task's values the downstream `{{tasks.T.values.V}}` references and condition tasks read).
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import json
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import PipelineError

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAX_VALUE_BYTES = 48 * 1024          # Databricks: "The size of the JSON representation of the value cannot exceed 48 KiB"
_dbutils: contextvars.ContextVar["Dbutils | None"] = contextvars.ContextVar("lakegate_dbutils", default=None)


class NotebookError(PipelineError):
    """A notebook that is not one (no header), a widget it reads that the job does not pass, a bad task value."""


class Widgets:
    """`dbutils.widgets` of a job run: the values are the run's; a widget's declared default only fills a gap."""

    def __init__(self, values: dict[str, str]):
        self._values = dict(values)

    def get(self, name: str) -> str:
        if name not in self._values:
            raise NotebookError(f"InputWidgetNotDefined: no widget named {name!r} (the job passes: "
                                f"{', '.join(sorted(self._values)) or 'none'})")
        return self._values[name]

    def getArgument(self, name: str, default: str | None = None) -> str | None:  # noqa: N802 -- dbutils' name
        return self._values.get(name, default)

    def getAll(self) -> dict[str, str]:  # noqa: N802 -- dbutils' name
        return dict(self._values)

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:  # noqa: N803
        self._values.setdefault(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices, label: str | None = None) -> None:  # noqa: N803
        self._values.setdefault(name, defaultValue)

    combobox = dropdown

    def removeAll(self) -> None:  # noqa: N802 -- in a job run, removing widgets does not remove the run's values
        return None


class TaskValues:
    """`dbutils.jobs.taskValues`: set publishes this task's value, get reads an upstream task's."""

    def __init__(self, publish: Callable[[str, Any], None], upstream: dict[str, dict[str, Any]]):
        self._publish, self._upstream = publish, upstream

    def set(self, key: str, value: Any) -> None:
        try:
            encoded = json.dumps(value)
        except (TypeError, ValueError):
            raise NotebookError(f"task value {key!r}: {type(value).__name__} is not JSON serializable") from None
        if len(encoded.encode()) > MAX_VALUE_BYTES:
            raise NotebookError(f"task value {key!r}: its JSON is {len(encoded.encode())} bytes (at most 48 KiB)")
        self._publish(key, json.loads(encoded))

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:  # noqa: N803
        values = self._upstream.get(taskKey)
        if values is None:
            raise NotebookError(f"task value {taskKey}.{key}: no upstream task {taskKey!r} ran in this job run")
        return values.get(key, default)


class Jobs:
    def __init__(self, task_values: TaskValues):
        self.taskValues = task_values  # noqa: N815 -- dbutils' name


class Dbutils:
    """The parts of Databricks' dbutils a job task uses: widgets and task values."""

    def __init__(self, widgets: dict[str, str], publish: Callable[[str, Any], None],
                 upstream: dict[str, dict[str, Any]] | None = None):
        self.widgets = Widgets(widgets)
        self.jobs = Jobs(TaskValues(publish, upstream or {}))


def current() -> Dbutils | None:
    """The dbutils of the notebook running in this context, if any (pipelines/runtime.py reads its widgets)."""
    return _dbutils.get()


@contextlib.contextmanager
def active(dbutils: Dbutils) -> Iterator[Dbutils]:
    token = _dbutils.set(dbutils)
    try:
        yield dbutils
    finally:
        _dbutils.reset(token)


def cells(path: Path) -> list[str]:
    """The notebook's cells, in order, each padded with blank lines so a traceback names the file's own lines."""
    source = Path(path).read_text()
    if source.partition("\n")[0].strip() != HEADER:
        raise NotebookError(f"{path}: not a Databricks notebook (its first line must be `{HEADER}`)")
    found, line = [], 0
    for cell in source.split(f"\n{SEPARATOR}\n"):
        found.append("\n" * line + cell)
        line += cell.count("\n") + 2
    return found


def run_notebook(path: Path, dbutils: Dbutils, spark=None) -> dict[str, Any]:
    """Execute the notebook's cells in one namespace; returns the namespace (what the notebook defined)."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "dbutils": dbutils,
                                 "spark": spark, "display": print}
    with active(dbutils):
        for number, cell in enumerate(cells(path), start=1):
            exec(compile(cell, f"{path} (cell {number})", "exec"), namespace)  # noqa: S102 -- a notebook runs its cells
    return namespace
