"""Where a Unity Catalog name lives in the local MLflow registry: catalog -> workspace, `schema.model` -> model.

    catalog.schema.model  ->  workspace = workspace_for_catalog(catalog)
                              registered model name = "schema.model"

MLflow workspace names must match `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` (2-63 characters, Kubernetes
style) and may not be one of `workspaces`, `api`, `ajax-api`, `static-files`; Unity Catalog
catalog names are letters, digits and underscores. So a catalog maps to its lower-cased name with
`_` turned into `-` (`ml_dev` -> `ml-dev`). Registered model names may hold anything but `/` and
`:`, so `schema.model` is used as is.
"""

from __future__ import annotations

import re

from lakegate.promotion.registry import InvalidName, split_full_name

_WORKSPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_RESERVED = {"workspaces", "api", "ajax-api", "static-files", "default"}


def workspace_for_catalog(catalog: str) -> str:
    workspace = catalog.strip().lower().replace("_", "-")
    if not (2 <= len(workspace) <= 63) or not _WORKSPACE.match(workspace) or workspace in _RESERVED:
        raise InvalidName(
            f"catalog {catalog!r} has no valid MLflow workspace name (got {workspace!r}; needs 2-63 "
            "lower-case letters, digits or inner hyphens, and not a reserved name)"
        )
    return workspace


def mlflow_address(full_name: str) -> tuple[str, str]:
    """`catalog.schema.model` -> (workspace, registered model name `schema.model`)."""
    if any(c in full_name for c in "/:"):
        raise InvalidName(f"model name {full_name!r} is not a three-part name catalog.schema.model")
    catalog, schema, model = split_full_name(full_name)
    return workspace_for_catalog(catalog), f"{schema}.{model}"
