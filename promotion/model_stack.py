"""The modules a model load needs, imported in the background while a command waits on the registry.

A promotion spends its first second on registry round trips and the copy (the main thread waits on sockets), then
loads models: skops, MLflow's pyfunc, scikit-learn, pandas, deltalake, about 3 s of imports on this machine.
`warm_up()` starts those imports in a thread at the start of the command, so they run while the main thread waits;
`ready()` joins it before the first model load. Every model load calls `import_now()`, so however many threads load
models at once, the stack is imported once, by one thread, and no thread imports into another's half-built module.

skops is imported first: at import it names its trusted types, and for each scipy/numpy ufunc without a
`__module__` it searches every module loaded so far (`skops.io._utils.whichmodule`). Before MLflow and pandas
that search walks about a fifth of the modules. The names it finds are the same either way
(tests/test_model_stack.py compares them with a plain `import skops.io`).

An import that fails here is ignored: the load that needs it imports again and fails with its real error.
"""

from __future__ import annotations

import importlib

from lakegate.background import OnceInBackground

STACK = ("skops.io", "sklearn", "mlflow.pyfunc", "mlflow.sklearn", "pandas", "deltalake")


def _import_stack() -> None:
    for name in STACK:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - raised again, with its real error, by the load that needs it
            continue


_stack = OnceInBackground("lakegate-model-stack", _import_stack)


def warm_up() -> None:
    """Start importing the model stack in the background (once per process, whichever thread asks first)."""
    _stack.start()


def ready() -> None:
    """Wait for a started warm-up to finish (no-op when none was started)."""
    _stack.join()


def import_now() -> None:
    """Import the stack in this order now, in one thread however many ask at once: every model load goes through
    here (threads that load models side by side, `audit verify`'s rechecks, wait for the one import)."""
    warm_up()
    ready()
