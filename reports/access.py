"""The access matrix: who may do what, where, and which YAML line (or promotion path) says so."""

from __future__ import annotations

from infra.access import catalog_bindings, effective_grants, model_owner
from infra.model import Environments


def access_matrix(envs: Environments) -> dict:
    grants = [
        {"principal": g.principal, "securable": str(g.securable), "privileges": sorted(g.privileges),
         "emitted_by": f"{g.owner_env}-databricks", "origin": g.origin, "derived": g.derived}
        for g in effective_grants(envs)
    ]
    bindings = [
        {"catalog": b.catalog, "workspace_of": b.workspace_env, "mode": b.mode, "origin": b.origin}
        for env in envs for b in catalog_bindings(env, envs)
    ]
    owners = [
        {"model": env.unity_catalog.model_full_name(m.name), "owner": model_owner(env),
         "origin": env.locate("unity_catalog", "models")}
        for env in envs for m in env.unity_catalog.models
    ]
    return {"grants": grants, "bindings": bindings, "model_owners": owners}
