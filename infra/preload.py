"""Import cdktn and the providers in the background, before anything else is imported.

The import is the floor of every synth (~3 s, nearly all of it Node loading the jsii assemblies while
Python waits on a pipe), so the CLI starts it first and imports, loads and checks the YAML meanwhile.
This module imports nothing heavy itself, so starting the preload costs nothing. An import that fails
here fails again, with its real error, where the synth imports for good.
"""

from __future__ import annotations

import os
import threading

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

_preload: threading.Thread | None = None


def _import_bindings() -> None:
    try:
        import cdktn  # noqa: F401
        import cdktn_provider_azuread  # noqa: F401
        import cdktn_provider_azurerm  # noqa: F401
        import cdktn_provider_databricks  # noqa: F401
    except BaseException:  # noqa: BLE001 - e.g. the CLI exits (invalid YAML) while Node is still loading
        pass  # a real failure is raised again by the synth's own import; an abandoned preload is silent


def preload_bindings() -> None:
    global _preload
    if _preload is None:
        _preload = threading.Thread(target=_import_bindings, name="jsii-preload", daemon=True)
        _preload.start()


def wait_for_bindings() -> None:
    if _preload is not None:
        _preload.join()
