"""Guardrails over who may act where: each environment's deployer is confined to its environment.

They read the one derivation of access (infra/access.py: the Azure roles of each deployer, the Unity
Catalog grants declared and derived), so what they check is exactly what the stacks emit.
"""

from __future__ import annotations

from ..access import (
    BLOB_DATA_READER, READ_SOURCE_CATALOG, READ_SOURCE_MODELS, deployer_roles, effective_grants, pending_bindings,
)
from .rule import at, at_origin, rule


def _promotion_read(grant, env, envs) -> bool:
    """The one right a deployer has outside its environment: reading its promotion source's models."""
    source = env.promotion.from_env
    if source is None or grant.owner_env != source or source not in envs:
        return False
    uc = envs[source].unity_catalog
    allowed = {("catalog", uc.catalog): set(READ_SOURCE_CATALOG),
               ("schema", f"{uc.catalog}.{uc.model_schema}"): set(READ_SOURCE_CATALOG) | set(READ_SOURCE_MODELS)}
    return set(grant.privileges) <= allowed.get((grant.securable.type, grant.securable.name), set())


@rule("LG-ACCESS-001", "error",
      "an environment's service principal holds rights on another environment beyond reading its promotion source",
      """Each environment deploys alone, as its own principal: a principal with rights on another
      environment's resources (Azure roles, Unity Catalog grants, membership of a group that holds them)
      turns a compromise or a bug in one environment into a change in another. The only right across
      environments is the promotion target reading its source's models.""")
def principal_confined_to_environment(env, envs):
    sp = env.principals.service_principal
    for role in deployer_roles(env, envs):
        if role.scope_env not in (env.name, "account") or (role.scope_env == "account" and role.role != BLOB_DATA_READER):
            yield at_origin(f"role={role.role},scope={role.scope}", role.origin)
    identities = {sp.name} | ({sp.application_id} if sp.application_id else set())
    # Groups are account-wide: a group listing the principal gives it the group's grants everywhere.
    groups = {name for other in envs for name, group in other.principals.groups.items()
              if identities & set(group.members)}
    for grant in effective_grants(envs):
        if grant.owner_env == env.name or (grant.principal == sp.name and _promotion_read(grant, env, envs)):
            continue
        if grant.principal == sp.name:
            yield at_origin(f"{grant.securable.type}={grant.securable.name}", grant.origin)
        elif grant.principal in groups:
            yield at_origin(f"group={grant.principal},{grant.securable.type}={grant.securable.name}", grant.origin)


@rule("LG-UC-002", "warning", "a catalog binding waits for the peer workspace's id (workspace.id in its YAML)",
      """A catalog is bound to another environment's workspace by that workspace's numeric id, which exists
      only once the peer's azure stack has created it and is read from the peer's YAML, never from its
      state. Until it is declared the binding is left out, and what needs it (the promotion target reading
      this catalog, people reading production data from dev) is refused by Databricks.""")
def binding_waits_for_workspace_id(env, envs):
    for binding in pending_bindings(env, envs):
        yield at_origin(f"binding={binding.catalog}->{binding.workspace_env}", binding.origin)


_MODEL_WRITE = {"CREATE_MODEL", "MODIFY", "MANAGE", "ALL_PRIVILEGES"}
_READS_DATA = {"SELECT", "ALL_PRIVILEGES", "MANAGE"}


def _upstream(env, envs) -> list:
    """The environments whose models reach `env` along the promotion path (its source, the source's, ...)."""
    found, name = [], env.promotion.from_env
    while name in envs and envs[name] not in found:
        found.append(envs[name])
        name = envs[name].promotion.from_env
    return found


def _covers(securable, table: str) -> bool:
    return securable.name == table or (securable.type in ("catalog", "schema") and table.startswith(securable.name + "."))


@rule("LG-UC-003", "error",
      "a principal that can register models upstream may read the hold-out this environment's gates judge on",
      """The metric gates compute on the target's own labelled hold-out (promotion.evaluation.table). Whoever
      can register a model upstream (the source's principal, people with CREATE_MODEL or MODIFY on an upstream
      model schema) and can also read that table can fit a model to it, and it passes every metric gate. Keep
      the hold-out in a schema only the target's principal reads.""")
def holdout_unreadable_by_upstream_writers(env, envs):
    upstream = _upstream(env, envs)
    if not upstream:
        return
    grants = effective_grants(envs)
    groups = {name: set(group.members) for other in envs for name, group in other.principals.groups.items()}
    writers = {e.principals.service_principal.name for e in upstream}
    for grant in grants:
        upstream_model_schema = any(grant.owner_env == e.name and _covers(grant.securable, e.unity_catalog.model_full_name("x"))
                                    for e in upstream)
        if upstream_model_schema and _MODEL_WRITE & set(grant.privileges):
            writers.add(grant.principal)
    writers |= {m for name in list(writers) for m in groups.get(name, ())}  # a group's members write as it does
    writers.discard(env.principals.service_principal.name)  # the target's principal reads its own hold-out
    for model in env.models:
        table = f"{env.unity_catalog.catalog}.{env.policy(model).evaluation_table}"
        for grant in grants:
            if grant.owner_env != env.name or not (_READS_DATA & set(grant.privileges)) or not _covers(grant.securable, table):
                continue
            readers = {grant.principal} | groups.get(grant.principal, set())
            if readers & writers:
                yield at_origin(f"principal={grant.principal},holdout={table}", grant.origin)


@rule("LG-PROD-010", "error", "a model promoted into production must need a person's approval",
      """A model's own `gates` and `approval` override the environment's defaults; in production that must never
      drop the approval (`approval: {required: false}` or a gate list without `approval`), or a model could
      reach production customers through a reviewed change nobody approved as a release.""", production_only=True)
def prod_models_need_approval(env, envs):
    if env.promotion.from_env is None:
        return  # models are trained here: nothing is promoted into it
    for name, model in env.models.items():
        policy = env.policy(name)
        if policy.approval.required or any(g.type == "approval" for g in policy.gates):
            continue
        where = ("models", name, "approval") if model.approval else (
            ("models", name, "gates") if model.gates is not None else ("promotion", "approval"))
        yield at(f"model={name}", *where)
