"""The access matrix: who may do what, where, and which YAML line (or promotion path) says so."""

from __future__ import annotations

from infra.access import catalog_bindings, deployer_roles, effective_grants, metastore_privileges, model_owner, pending_bindings
from infra.model import Environments


def access_matrix(envs: Environments) -> dict:
    grants = [
        {"principal": g.principal, "securable": str(g.securable), "privileges": sorted(g.privileges),
         "emitted_by": f"{g.owner_env}-databricks", "origin": g.origin, "derived": g.derived}
        for g in effective_grants(envs)
    ]
    bindings = [
        {"catalog": b.catalog, "workspace_of": b.workspace_env, "mode": b.mode, "origin": b.origin,
         "pending": b in pending_bindings(env, envs)}
        for env in envs for b in catalog_bindings(env, envs)
    ]
    # The deployers' rights outside Unity Catalog grants: Azure roles (account stack) and metastore privileges.
    azure_roles = [
        {"principal": r.principal, "role": r.role, "scope": r.scope, "scope_env": r.scope_env, "purpose": r.purpose,
         "condition": r.condition, "emitted_by": "account", "origin": r.origin}
        for env in envs for r in deployer_roles(env, envs)
    ]
    metastore = [
        {"principal": m.principal, "metastore": m.metastore_id, "privileges": list(m.privileges),
         "granted_by": m.granted_by, "origin": m.origin}
        for m in (metastore_privileges(env) for env in envs)
    ]
    owners = [
        {"model": env.unity_catalog.model_full_name(m.name), "owner": model_owner(env),
         "origin": env.locate("unity_catalog", "models")}
        for env in envs for m in env.unity_catalog.models
    ]
    return {"grants": grants, "bindings": bindings, "model_owners": owners, "azure_roles": azure_roles,
            "metastore_privileges": metastore}
