"""Load a model's files as a pyfunc model, warning (as MLflow would) when its pinned requirements or its Python
differ from this environment's: without MLflow's own check, which maps every installed distribution to its modules
(a scan of every package's file list: about half a second per process) only to compare the few pins a model carries.
Saving a model (training) runs the same check; `pins_checked_by_version` gives it the same cheap comparison.

The warning is advice, never a gate: whether the model loads and predicts is what the smoke gates judge.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import re
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

log = logging.getLogger("mlflow")  # where MLflow's own mismatch warning goes (the CLI keeps it at WARNING)
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def load_pyfunc_model(local: Path) -> Any:
    from lakegate.promotion import model_stack

    model_stack.import_now()  # one thread imports the stack, whoever loads first (never two side by side)
    import mlflow.pyfunc

    for warning in requirement_mismatches(Path(local)):
        log.warning(warning)
    return mlflow.pyfunc.load_model(str(local), suppress_warnings=True)


def requirement_mismatches(local: Path) -> list[str]:
    """`name==version` pins of the model's requirements.txt that the installed distribution does not match, and a
    Python major.minor other than this one's (from the MLmodel's python_function flavour)."""
    found = []
    try:
        lines = (local / "requirements.txt").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for name, wanted, installed in pin_mismatches(lines):
        found.append(f"the model at {local} was saved with {name}=={wanted}; this environment has "
                     f"{name} {installed or '(not installed)'}")
    try:
        mlmodel = (local / "MLmodel").read_text(encoding="utf-8")
    except OSError:
        mlmodel = ""
    saved = re.search(r"^\s+python_version:\s*['\"]?(\d+)\.(\d+)", mlmodel, re.M)
    running = platform.python_version_tuple()[:2]
    if saved and saved.groups() != tuple(running):
        found.append(f"the model at {local} was saved with Python {'.'.join(saved.groups())}; this is Python "
                     f"{'.'.join(running)}")
    return found


def pin_mismatches(requirements: Iterable[str]) -> list[tuple[str, str, str | None]]:
    """(name, pinned version, installed version or None) of each `name==version` line the environment differs from."""
    found = []
    for line in requirements:
        pin = _PIN.match(line)
        if pin is None:
            continue
        name, wanted = pin.groups()
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != wanted:
            found.append((name, wanted, installed))
    return found


def _warn_pin_mismatches(requirements: list[str]) -> None:
    try:
        found = pin_mismatches(requirements)
    except Exception as error:  # noqa: BLE001 -- advice only, as MLflow's own check: never fail a save over it
        log.debug("requirement check skipped: %s", error)
        return
    for name, wanted, installed in found:
        log.warning("the model's requirement %s==%s is not what this environment has (%s)", name, wanted,
                    installed or "not installed")


_patching = threading.Lock()


@contextlib.contextmanager
def pins_checked_by_version() -> Iterator[None]:
    """While a model is saved (process-wide: training saves one model at a time): MLflow's requirement check (a warning when a pin is not what is
    installed) compares each pin with `importlib.metadata.version` instead of mapping every installed file first."""
    import mlflow.pyfunc
    import mlflow.utils.environment

    # Both modules imported the function by name: saving calls one, the check that the saved model serves its input
    # example (a load) the other.
    callers = (mlflow.utils.environment, mlflow.pyfunc)
    with _patching:  # saves in two threads take turns: the second never takes the first's patch for the original
        originals = [caller.warn_dependency_requirement_mismatches for caller in callers]
        try:
            for caller in callers:
                caller.warn_dependency_requirement_mismatches = _warn_pin_mismatches
            yield
        finally:
            for caller, original in zip(callers, originals):
                caller.warn_dependency_requirement_mismatches = original
