"""Who may read and write which table of the local lakehouse: Unity Catalog's rules over the same grants the
stacks deploy (infra/access.py), so a refusal on the laptop is a refusal on Databricks.

- reading `c.s.t` needs USE_CATALOG on `c`, USE_SCHEMA on `c.s` and SELECT on the table, its schema or its
  catalog; writing needs MODIFY instead of SELECT, and creating the table CREATE_TABLE on the schema;
  ALL_PRIVILEGES (and MANAGE) imply them all;
- a grant to a group counts for its members, a grant to `account users` for everyone;
- the environment's own service principal owns its catalog (it created it), so it may do anything there;
- the catalog must be bound to the workspace the principal works from (its own always is; others as the
  YAML's `bindings` and the promotion path say), and a read-only binding refuses every write, grants or not:
  dev's data scientists read prod's features from dev and can change nothing of prod.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lakegate.infra.access import catalog_bindings, effective_grants
from lakegate.infra.model import Environments
from lakegate.infra.model.grants import ACCOUNT_USERS

READ, WRITE, CREATE = "read", "write", "create"
_IMPLY_ALL = {"ALL_PRIVILEGES", "MANAGE"}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def decide(envs: Environments, principal: str, workspace_env: str, catalog: str, schema: str, table: str,
           action: str) -> Decision:
    """May `principal`, working in `workspace_env`'s workspace, `action` (read/write/create) `catalog.schema.table`?"""
    owner = envs.by_catalog(catalog)
    if owner is None:
        return Decision(False, f"catalog {catalog} belongs to no environment")
    binding = {b.workspace_env: b.mode for b in catalog_bindings(owner, envs)}.get(workspace_env)
    if binding is None:
        return Decision(False, f"catalog {catalog} is not bound to {workspace_env}'s workspace")
    if action != READ and binding != "read_write":
        return Decision(False, f"catalog {catalog} is bound read-only to {workspace_env}'s workspace")
    if principal == owner.service_principal:
        return Decision(True, f"{principal} owns catalog {catalog}")
    held = _privileges(envs, principal, catalog, schema, table)
    wanted = {"USE_CATALOG": catalog, "USE_SCHEMA": f"{catalog}.{schema}",
              {READ: "SELECT", WRITE: "MODIFY", CREATE: "CREATE_TABLE"}[action]: f"{catalog}.{schema}.{table}"}
    missing = [f"{privilege} on {name}" for privilege, name in wanted.items() if privilege not in held]
    return Decision(not missing, "missing " + ", ".join(missing) if missing else "granted")


def _privileges(envs: Environments, principal: str, catalog: str, schema: str, table: str) -> set[str]:
    """The privileges `principal` holds on the table, inherited down catalog -> schema -> table."""
    names = {catalog, f"{catalog}.{schema}", f"{catalog}.{schema}.{table}"}
    identities = {principal, ACCOUNT_USERS} | _groups_of(envs, principal)
    held: set[str] = set()
    for grant in _grants(envs):
        if grant.principal in identities and grant.securable.type in ("catalog", "schema", "table") \
                and grant.securable.name in names:
            held |= set(grant.privileges)
    if held & _IMPLY_ALL:
        held |= {"USE_CATALOG", "USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE"}
    return held


def _groups_of(envs: Environments, principal: str) -> set[str]:
    """The groups `principal` is a member of. A "group" named like a service principal or a person (an e-mail) is
    not one: a grant to that name is the principal's or the person's own, never its members' (otherwise dev.yaml
    could declare a group `sp-lakegate-prod` holding sp-lakegate-dev and so lend dev prod's grants)."""
    identities = {env.service_principal for env in envs}
    return {name for env in envs for name, group in env.principals.groups.items()
            if principal in group.members and name not in identities and "@" not in name}


@lru_cache(maxsize=8)
def _grants(envs: Environments):
    """Derived once per set of definitions (an Environments is hashed by identity)."""
    return tuple(effective_grants(envs))
