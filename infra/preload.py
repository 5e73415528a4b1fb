"""Import cdktn and the providers in the background, before anything else is imported.

The import is the floor of every synth (~3 s, nearly all of it Node loading the jsii assemblies while
Python waits on a pipe), so the CLI starts it first and imports, loads and checks the YAML meanwhile.
This module imports nothing heavy itself, so starting the preload costs nothing. An import that fails
here fails again, with its real error, where the synth imports for good.

The jsii runtime (the JavaScript half of the bridge) is extracted once per jsii version into a folder of
ours and handed to jsii as JSII_RUNTIME. Left to itself, jsii extracts it into a new /tmp folder on every
run and removes it at exit; when the CLI exits (invalid YAML) while the preload is still extracting, that
removal races the extraction ("OSError: Directory not empty") and leaves `/tmp/tmp*/lib` behind. jsii
1.x also extracts that temp copy when JSII_RUNTIME is set (`environ.get("JSII_RUNTIME", self._jsii_runtime())`
evaluates its default first), so the extraction is turned off for a set JSII_RUNTIME as well.
"""

from __future__ import annotations

import os
import threading

from lakegate.background import OnceInBackground
from lakegate.project import TOOLKIT_ROOT, project_root


def tools_folder() -> str:
    """Where Node and the cdktf CLI are (`make tools` / `lakegate tools`): $LAKEGATE_TOOLS, else the project's
    .tools/, else the checkout's."""
    if os.environ.get("LAKEGATE_TOOLS"):
        return os.environ["LAKEGATE_TOOLS"]
    for candidate in (os.path.join(project_root(), ".tools"), os.path.join(TOOLKIT_ROOT, ".tools")):
        if os.path.isdir(candidate):
            return candidate
    return os.path.join(project_root(), ".tools")


# jsii runs on the supported Node that `make` installs into .tools/ (the machine's may be end-of-life).
_TOOLS_NODE = os.path.join(tools_folder(), "bin", "node")
if "JSII_NODE" not in os.environ and os.path.exists(_TOOLS_NODE):
    os.environ["JSII_NODE"] = _TOOLS_NODE
# Node 24 sizes its young generation for servers; jsii holds the provider schemas in the old one. A small
# semi-space keeps the Node process ~90 MB smaller at a cost lost in the noise (benchmarks/synth.py).
if "--max-semi-space-size" not in os.environ.get("NODE_OPTIONS", ""):
    os.environ["NODE_OPTIONS"] = (os.environ.get("NODE_OPTIONS", "") + " --max-semi-space-size=8").strip()
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _runtime_folder(version: str) -> str:
    tools = tools_folder()
    base = tools if os.path.isdir(tools) else os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lakegate")
    return os.path.join(base, "jsii-runtime", version)


def use_persistent_jsii_runtime() -> None:
    """Point JSII_RUNTIME at a runtime extracted once; extraction goes to a temp folder then one rename, so
    an interrupted run leaves nothing half-written that a later run would use."""
    import jsii
    from jsii._kernel.providers import process

    # The temp copy is only the default of a variable we set: never make it (see the module docstring).
    process._NodeProcess._jsii_runtime = lambda self: os.environ["JSII_RUNTIME"]
    if "JSII_RUNTIME" in os.environ:
        return
    import shutil
    import tempfile
    from importlib import resources

    import jsii._embedded.jsii as embedded

    folder = _runtime_folder(jsii.__jsii_runtime_version__)
    entrypoint = os.path.join(folder, embedded.EMBEDDED_FILES[embedded.ENTRYPOINT])
    if not os.path.exists(entrypoint):
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        partial = tempfile.mkdtemp(prefix=".partial-", dir=os.path.dirname(folder))
        try:
            for resource, name in embedded.EMBEDDED_FILES.items():
                target = os.path.join(partial, name.replace("/", os.sep))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as handle:
                    handle.write(resources.files(embedded).joinpath(resource).read_bytes())
            try:
                os.rename(partial, folder)
            except OSError:  # another process got there first: its copy is the same
                pass
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    os.environ["JSII_RUNTIME"] = entrypoint


def _submodules(package: str) -> list[str]:
    """The provider submodules the constructs import (`from cdktn_provider_x.job import Job`), read from
    their source: pure Python to import once the package's assembly is loaded."""
    import re

    found = set()
    for folder, _dirs, files in os.walk(os.path.join(_ROOT, "infra")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    found.update(re.findall(rf"from ({package}\.[a-z0-9_]+) import", handle.read()))
    return sorted(found)


def _import_modules(names: list[str]) -> None:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - the synth's own import raises it again, with its real error
            return


def _import_bindings() -> None:
    try:
        use_persistent_jsii_runtime()
        import cdktn  # noqa: F401
        import cdktn_provider_azuread  # noqa: F401
        import cdktn_provider_databricks  # noqa: F401

        # While Node loads the azurerm assembly (the longest wait, Python idle on a pipe), a second thread
        # imports the databricks and azuread submodules the stacks use (Python work): they overlap.
        others = threading.Thread(target=_import_modules, daemon=True, name="jsii-preload-submodules",
                                  args=(_submodules("cdktn_provider_databricks") + _submodules("cdktn_provider_azuread"),))
        others.start()
        import cdktn_provider_azurerm  # noqa: F401

        _import_modules(_submodules("cdktn_provider_azurerm"))
        others.join()
    except BaseException:  # noqa: BLE001 - e.g. the CLI exits (invalid YAML) while Node is still loading
        pass  # a real failure is raised again by the synth's own import; an abandoned preload is silent


_preload = OnceInBackground("jsii-preload", _import_bindings)


def preload_bindings() -> None:
    _preload.start()


def wait_for_bindings() -> None:
    if _preload.started:
        _preload.join()
    elif "jsii" not in __import__("sys").modules:  # no preload (an import from tests or a script)
        use_persistent_jsii_runtime()
