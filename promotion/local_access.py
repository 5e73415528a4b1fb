"""The local registry's access plan, derived from the same grants the Databricks stacks deploy.

Unity Catalog -> local MLflow:
    catalog                                   -> workspace (promotion.local.workspaces.workspace_for_catalog)
    service principal                         -> user
    EXECUTE on a catalog/schema/model         -> READ  (read and load versions; the promotion source)
    CREATE MODEL (the SP registers its models)-> EDIT on the workspace (create models and versions, move
                                                        aliases, set tags)
    owner of its registered models            -> MANAGE on each model it creates: MLflow makes the creator
                                                        of a registered model its owner, which may also delete
                                                        its versions and the model and manage its permissions
The last row is what Unity Catalog does too: the stacks make the environment's principal the owner of its
models (only an owner may move aliases there), and an owner may delete versions and the model. So deleting
a promoted version is possible in both registries, by the environment's own principal and on its own models
only; `audit verify` reports it (a promote entry whose version is gone). Workspace-wide MANAGE (workspace
admin: every model, and grants to others) is never derived, as no environment's principal is a metastore
admin in Unity Catalog.

Groups are people, who do not act through the local registry, so only service principals become users.
A grant with only USE_CATALOG or USE_SCHEMA gives nothing on its own, as in Unity Catalog.
"""

from __future__ import annotations

from lakegate.infra.access import effective_grants
from lakegate.infra.model import Environments

from .local.workspaces import workspace_for_catalog
from .local.provision import LocalAccessPlan

_LEVELS = ("READ", "USE", "EDIT", "MANAGE")
_WRITE_MODELS = {"CREATE_MODEL", "ALL_PRIVILEGES", "MANAGE"}
_READ_MODELS = {"EXECUTE"}


def _level_for(privileges: tuple[str, ...]) -> str | None:
    if _WRITE_MODELS & set(privileges):
        return "EDIT"
    if _READ_MODELS & set(privileges):
        return "READ"
    return None


def derive_local_plan(envs: Environments) -> LocalAccessPlan:
    users = sorted({env.service_principal for env in envs})
    workspaces = [workspace_for_catalog(env.unity_catalog.catalog) for env in envs]
    best: dict[tuple[str, str], str] = {}
    for grant in effective_grants(envs):
        level, catalog = _level_for(grant.privileges), grant.securable.catalog
        if grant.principal not in users or level is None or catalog is None or envs.by_catalog(catalog) is None:
            continue
        key = (grant.principal, workspace_for_catalog(catalog))
        if _LEVELS.index(level) > _LEVELS.index(best.get(key, "READ")) or key not in best:
            best[key] = level
    permissions = sorted((user, workspace, level) for (user, workspace), level in best.items())
    return LocalAccessPlan(workspaces=workspaces, users=users, permissions=permissions)
