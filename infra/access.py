"""Who may do what, where: every Unity Catalog grant, binding and ownership, with where it comes from.

This is the one place grants are derived. The `<env>-databricks` stacks emit exactly these grants, the
local embedded registry derives its users' permissions from them, and the access-matrix report prints
them, so what is tested locally is what is deployed and every grant can be traced to a YAML line or to
the promotion path.

Databricks grants are authoritative per securable, so each grant is emitted by the stack of the
environment that owns the securable's catalog (`owner_env`), whichever file declared it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Environment, Environments, Securable
from .model.unity_catalog import BindingMode

# The privileges the promotion path needs, in one place (see derive_promotion_grants).
READ_SOURCE_CATALOG = ("USE_CATALOG",)
READ_SOURCE_MODELS = ("USE_SCHEMA", "EXECUTE")
WRITE_OWN_CATALOG = ("USE_CATALOG",)
WRITE_OWN_MODELS = ("USE_SCHEMA", "CREATE_MODEL")


@dataclass(frozen=True)
class EffectiveGrant:
    principal: str
    securable: Securable
    privileges: tuple[str, ...]
    owner_env: str          # environment whose catalog holds the securable (whose stack emits it)
    origin: str             # "environments/dev.yaml:45" or "derived: ..." with the YAML line behind it

    @property
    def derived(self) -> bool:
        return self.origin.startswith("derived")


@dataclass(frozen=True)
class CatalogBinding:
    catalog: str
    owner_env: str
    workspace_env: str      # environment whose workspace is bound to the catalog
    mode: BindingMode
    origin: str


def _owner_of(securable: Securable, envs: Environments, default: str) -> str:
    catalog = securable.catalog
    owner = envs.by_catalog(catalog) if catalog else None
    return owner.name if owner else default


def declared_grants(env: Environment, envs: Environments) -> list[EffectiveGrant]:
    return [
        EffectiveGrant(g.principal, g.on, tuple(g.privileges), _owner_of(g.on, envs, env.name),
                       env.locate("grants", i))
        for i, g in enumerate(env.grants)
    ]


def derive_own_model_grants(env: Environment) -> list[EffectiveGrant]:
    """The environment's service principal registers its models (and owns them, see model_owners)."""
    uc, why = env.unity_catalog, f"derived: {env.name}'s service principal registers its models ({env.locate('unity_catalog', 'model_schema')})"
    return [
        EffectiveGrant(env.service_principal, Securable(type="catalog", name=uc.catalog), WRITE_OWN_CATALOG, env.name, why),
        EffectiveGrant(env.service_principal, Securable(type="schema", name=f"{uc.catalog}.{uc.model_schema}"),
                       WRITE_OWN_MODELS, env.name, why),
    ]


def derive_promotion_grants(target: Environment, envs: Environments) -> list[EffectiveGrant]:
    """The target's service principal reads the source's models; nothing of the source is writable."""
    if target.promotion.from_env is None or target.promotion.from_env not in envs:
        return []
    source = envs[target.promotion.from_env]
    uc = source.unity_catalog
    why = f"derived: promotion {source.name} -> {target.name} ({target.locate('promotion', 'from')})"
    return [
        EffectiveGrant(target.service_principal, Securable(type="catalog", name=uc.catalog), READ_SOURCE_CATALOG, source.name, why),
        EffectiveGrant(target.service_principal, Securable(type="schema", name=f"{uc.catalog}.{uc.model_schema}"),
                       READ_SOURCE_MODELS, source.name, why),
    ]


def effective_grants(envs: Environments) -> list[EffectiveGrant]:
    """Every grant of every environment: declared in YAML, then derived. Derived once per set of definitions (every
    guardrail and report asks; an Environments is never changed after loading)."""
    cached = envs.memo.get("effective_grants")
    if cached is None:
        cached = []
        for env in envs:
            cached += declared_grants(env, envs)
            cached += derive_own_model_grants(env)
            cached += derive_promotion_grants(env, envs)
        envs.memo["effective_grants"] = cached
    return list(cached)


def grants_owned_by(env: Environment, envs: Environments) -> list[EffectiveGrant]:
    """The grants the `<env>-databricks` stack emits: those on securables of its catalog."""
    return [g for g in effective_grants(envs) if g.owner_env == env.name]


def merged_privileges(grants: list[EffectiveGrant]) -> dict[tuple[str, str], dict[str, set[str]]]:
    """{(securable type, name): {principal: privileges}} -- the shape databricks_grants wants."""
    merged: dict[tuple[str, str], dict[str, set[str]]] = {}
    for grant in grants:
        key = (grant.securable.type, grant.securable.name)
        merged.setdefault(key, {}).setdefault(grant.principal, set()).update(grant.privileges)
    return merged


def catalog_bindings(env: Environment, envs: Environments) -> list[CatalogBinding]:
    """Workspaces bound to env's catalog: its own, those declared, and each promotion target (read-only)."""
    catalog = env.unity_catalog.catalog
    bindings = {env.name: CatalogBinding(catalog, env.name, env.name, "read_write",
                                         f"derived: a catalog is bound to its own workspace ({env.locate('unity_catalog', 'catalog')})")}
    for other, mode in env.unity_catalog.bindings.items():
        bindings[other] = CatalogBinding(catalog, env.name, other, mode, env.locate("unity_catalog", "bindings", other))
    for target in envs.promotion_targets(env.name):
        bindings.setdefault(target.name, CatalogBinding(
            catalog, env.name, target.name, "read_only",
            f"derived: promotion {env.name} -> {target.name} ({target.locate('promotion', 'from')})"))
    return list(bindings.values())


def model_owner(env: Environment) -> str:
    """In Unity Catalog only a model's owner may move its aliases: the environment's service principal."""
    return env.service_principal


# -- what each environment's deployer holds outside Unity Catalog ---------------------------------------------
# Built-in Azure roles (names as Azure spells them) and the one role id the constrained RBAC grant may assign.
CONTRIBUTOR = "Contributor"
RBAC_ADMINISTRATOR = "Role Based Access Control Administrator"
BLOB_DATA_CONTRIBUTOR = "Storage Blob Data Contributor"
BLOB_DATA_READER = "Storage Blob Data Reader"
BLOB_DATA_CONTRIBUTOR_ID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# The deployer may create and delete role assignments only of Storage Blob Data Contributor, only to service
# principals (the access connector's managed identity on the lake): it can never make itself Owner.
ASSIGN_ONLY_BLOB_CONTRIBUTOR_TO_SERVICE_PRINCIPALS = " AND ".join(
    f"((!(ActionMatches{{'Microsoft.Authorization/roleAssignments/{action}'}})) OR "
    f"(@{side}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
    f"{{{BLOB_DATA_CONTRIBUTOR_ID}}} AND @{side}[Microsoft.Authorization/roleAssignments:PrincipalType] "
    f"ForAnyOfAnyValues:StringEqualsIgnoreCase {{'ServicePrincipal'}}))"
    for action, side in (("write", "Request"), ("delete", "Resource"))
)
# What creating the catalog, its storage credential and external locations needs on the metastore.
DEPLOY_METASTORE_PRIVILEGES = ("CREATE_CATALOG", "CREATE_EXTERNAL_LOCATION", "CREATE_STORAGE_CREDENTIAL")


@dataclass(frozen=True)
class AzureRoleAssignment:
    principal: str          # the environment's service principal (YAML name)
    role: str               # built-in role name
    scope: str              # Azure resource id the role applies to
    scope_env: str          # environment owning the scope, or "account" for the account stack's state
    purpose: str
    origin: str
    condition: str | None = None


@dataclass(frozen=True)
class MetastorePrivilege:
    principal: str
    metastore_id: str
    privileges: tuple[str, ...]
    granted_by: str         # "account stack" when the workspace id is known, else automatic enablement
    origin: str


def resource_group_id(env: Environment) -> str:
    return f"/subscriptions/{env.azure.subscription_id}/resourceGroups/{env.azure.resource_group}"


def state_container_id(state, default_subscription: str) -> str:
    return (f"/subscriptions/{state.subscription_id or default_subscription}/resourceGroups/{state.resource_group}"
            f"/providers/Microsoft.Storage/storageAccounts/{state.storage_account}"
            f"/blobServices/default/containers/{state.container}")


def deployer_roles(env: Environment, envs: Environments) -> list[AzureRoleAssignment]:
    """The Azure roles of env's service principal, which deploys `<env>-azure` and `<env>-databricks`:
    its resource group, its state container, read on the account stack's state, nothing else."""
    sp, why = env.service_principal, f"derived: {env.name}'s deployer ({env.locate('principals', 'service_principal')})"
    roles = [
        AzureRoleAssignment(sp, CONTRIBUTOR, resource_group_id(env), env.name,
                            "create the storage, network, access connector, workspace and monitoring", why),
        AzureRoleAssignment(sp, RBAC_ADMINISTRATOR, resource_group_id(env), env.name,
                            "let the access connector use the lake (Storage Blob Data Contributor only)", why,
                            ASSIGN_ONLY_BLOB_CONTRIBUTOR_TO_SERVICE_PRINCIPALS),
    ]
    if env.state.backend == "azurerm":
        roles.append(AzureRoleAssignment(sp, BLOB_DATA_CONTRIBUTOR, state_container_id(env.state, env.azure.subscription_id),
                                         env.name, "read and write its own Terraform state (locks included)",
                                         f"derived: {env.name}'s state backend ({env.locate('state')})"))
    account = envs.account
    if account is not None and account.state.backend == "azurerm":
        roles.append(AzureRoleAssignment(sp, BLOB_DATA_READER, state_container_id(account.state, ""), "account",
                                         "read the account stack's outputs (application ids; no secret)", why))
    return roles


def metastore_privileges(env: Environment) -> MetastorePrivilege:
    known = env.workspace.id is not None
    return MetastorePrivilege(
        env.service_principal, env.unity_catalog.metastore_id, DEPLOY_METASTORE_PRIVILEGES,
        "account stack" if known else "automatic Unity Catalog enablement (workspace admins)",
        f"derived: {env.name}'s deployer creates its catalog ({env.locate('unity_catalog', 'metastore_id')})")


def pending_bindings(env: Environment, envs: Environments) -> list[CatalogBinding]:
    """Bindings of env's catalog to workspaces whose id is not declared yet (emitted once it is)."""
    return [b for b in catalog_bindings(env, envs)
            if b.workspace_env != env.name and envs[b.workspace_env].workspace.id is None]


def account_groups(envs: Environments) -> dict[str, list[str]]:
    """The account groups lakegate manages (not `existing`), with their members across every environment.
    The loader has checked that files listing a group agree on its members."""
    groups: dict[str, set[str]] = {}
    for env in envs:
        for name, group in env.principals.groups.items():
            if not group.existing:
                groups.setdefault(name, set()).update(group.members)
    return {name: sorted(members) for name, members in sorted(groups.items())}


def access_matrix(envs: Environments) -> dict:
    """Who may do what, where, and which YAML line (or promotion path) says so: the data of `report access`,
    the site's matrix and each evidence pack's access in force."""
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
        {"model": env.unity_catalog.model_full_name(m), "owner": model_owner(env), "origin": env.locate("models", m)}
        for env in envs for m in env.models
    ]
    # Who may approve, which gates judge, where each model is evaluated: each model's policy per environment.
    model_policies = [env.policy(name).as_dict() for env in envs for name in env.models]
    return {"grants": grants, "bindings": bindings, "model_owners": owners, "azure_roles": azure_roles,
            "metastore_privileges": metastore, "model_policies": model_policies}
