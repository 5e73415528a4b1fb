"""lakegate: disciplined machine learning on Azure Databricks.

The toolkit's parts are `lakegate.infra`, `lakegate.promotion`, `lakegate.pipelines`, `lakegate.cli`,
`lakegate.reports` and `lakegate.ci`. The wheel installs them inside this package (pyproject's package-dir), so
site-packages holds one top-level name and nothing that shadows a project's own folders. In a source checkout they
stay top-level folders of the repository, as the design card fixes; extending `__path__` to the checkout makes
`lakegate.infra` resolve to the same files there, so every import reads the same in both layouts.
"""

from pathlib import Path as _Path

_here = _Path(__file__).resolve().parent
if not (_here / "infra").is_dir() and (_here.parent / "infra" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # noqa: F821 - a package's __path__ is defined by the import system



def __getattr__(name):
    # Read lazily: importlib.metadata is not free, and most commands never ask.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("lakegate")
        except PackageNotFoundError:  # a checkout that was never installed
            return "0+checkout"
    raise AttributeError(f"module 'lakegate' has no attribute {name!r}")
