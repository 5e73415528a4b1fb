"""Azure preflight checks: identity, subscription, providers, location, resource group, Terraform state, and
the deployer's roles as infra/access.py expects them. One small function each (framework: checks.py)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from lakegate.infra.access import deployer_roles

from .arm import STORAGE_API, Reply
from .checks import DEPLOY_ACCOUNT_STACK, REQUIRED_PROVIDERS, Context, Outcome, check, failed, passed, skipped, warning


def _norm(location: str) -> str:
    """`West Europe`, `westeurope` and `WestEurope` are the same region."""
    return re.sub(r"\s+", "", location or "").lower()


def _forbidden(reply: Reply) -> bool:
    return reply.status in (401, 403)



# ------------------------------------------------------------------------------------------------
# Azure: identity, subscription, providers, location, resource group


@check("DOC-AZURE-001", "credentials identify a principal in the environment's tenant")
def caller_identity(ctx: Context) -> Outcome:
    env, caller = ctx.env, ctx.caller
    who = f"{caller.strategy} ({caller.description}): object id {caller.object_id} ({caller.principal_type})"
    if not caller.object_id:
        return failed(f"{caller.strategy}: the ARM token has no `oid` claim, so the caller's role assignments cannot "
                      "be listed", "use an Entra ID service principal (azure-workload-identity in CI) or `az login`")
    if caller.tenant_id and caller.tenant_id.lower() != env.azure.tenant_id.lower():
        return failed(f"{who}: the token is for tenant {caller.tenant_id}, azure.tenant_id is {env.azure.tenant_id} "
                      f"({env.locate('azure', 'tenant_id')})",
                      f"sign in to tenant {env.azure.tenant_id}: AZURE_TENANT_ID={env.azure.tenant_id} "
                      f"(or `az login --tenant {env.azure.tenant_id}`)")
    expected = env.principals.service_principal.application_id
    if caller.principal_type == "User":
        return warning(f"{who}: a person, not {env.service_principal}; the role checks below are about you",
                       f"run doctor as {env.service_principal} (its CI job, azure-workload-identity) to check its roles")
    if expected and (caller.application_id or "").lower() != expected.lower():
        return warning(f"{who}: not {env.service_principal}'s application {expected}; the role checks below are "
                       "about the caller", f"run as {env.service_principal}: AZURE_CLIENT_ID={expected}")
    return passed(who)


@check("DOC-AZURE-002", "subscription reachable and enabled")
def subscription_reachable(ctx: Context) -> Outcome:
    env, sub = ctx.env, ctx.subscription
    reply = ctx.arm.subscription(sub)
    where = env.locate("azure", "subscription_id")
    if reply.status in (403, 404):
        return failed(f"subscription {sub} ({where}): {reply.error()}; the caller has no role in it, or it does "
                      "not exist", f"{DEPLOY_ACCOUNT_STACK} (it assigns {env.service_principal}'s roles), or correct "
                      f"azure.subscription_id ({where})")
    if not reply.ok:
        return failed(f"subscription {sub}: {reply.error()}", f"retry; if it persists, check ARM at {ctx.arm.settings.endpoint}")
    body = reply.body or {}
    name, state, tenant = body.get("displayName", sub), body.get("state", "unknown"), body.get("tenantId")
    if tenant and tenant.lower() != env.azure.tenant_id.lower():
        return failed(f"subscription {name} ({sub}) belongs to tenant {tenant}, azure.tenant_id is "
                      f"{env.azure.tenant_id}", f"correct azure.tenant_id ({env.locate('azure', 'tenant_id')})")
    if state in ("Disabled", "Deleted"):
        return failed(f"subscription {name} ({sub}) is {state}: nothing can be deployed into it",
                      f"re-enable subscription {sub} (Azure portal > Subscriptions), or correct azure.subscription_id ({where})")
    if state != "Enabled":
        return warning(f"subscription {name} ({sub}) is {state}", "check the subscription's billing in the Azure portal")
    return passed(f"subscription {name} ({sub}) is Enabled, tenant {tenant}")


@check("DOC-AZURE-003", "resource providers registered", needs=("DOC-AZURE-002",))
def providers_registered(ctx: Context) -> Outcome:
    states, unverified = {}, {}
    for namespace in REQUIRED_PROVIDERS:
        reply = ctx.arm.provider(ctx.subscription, namespace)
        if reply.ok:
            states[namespace] = (reply.body or {}).get("registrationState", "unknown")
        elif reply.status == 404:
            states[namespace] = "NotRegistered"
        else:
            unverified[namespace] = reply.error()
    missing = [n for n, s in states.items() if s not in ("Registered", "Registering")]
    registering = [n for n, s in states.items() if s == "Registering"]
    detail = ", ".join(f"{n} {s}" for n, s in states.items()) + "".join(
        f"; {n}: cannot read ({e})" for n, e in unverified.items())
    if missing:
        return failed(detail + " (registering needs a role allowed to register providers on the subscription, "
                      "e.g. Contributor on it: the platform team)",
                      "\n".join(f"az provider register --namespace {n} --subscription {ctx.subscription}" for n in missing))
    if registering or unverified:
        return warning(detail, "\n".join(f"az provider show --namespace {n} --subscription {ctx.subscription} "
                                         "--query registrationState" for n in registering + list(unverified)))
    return passed(detail)


@check("DOC-AZURE-004", "location offered to the subscription", needs=("DOC-AZURE-002",))
def location_offered(ctx: Context) -> Outcome:
    env, location = ctx.env, ctx.env.azure.location
    where = env.locate("azure", "location")
    reply = ctx.arm.locations(ctx.subscription)
    if not reply.ok:
        return warning(f"cannot list the subscription's locations: {reply.error()}")
    offered = {_norm(loc.get("name", "")): loc for loc in reply.body}
    found = offered.get(_norm(location))
    if found is None:
        names = ", ".join(sorted(loc.get("name", "") for loc in reply.body)) or "none"
        return failed(f"{location} ({where}) is not offered to subscription {ctx.subscription} (offered: {names})",
                      f"set azure.location ({where}) to an offered region, or ask Microsoft support to enable {location}")
    display = found.get("displayName") or location
    databricks = ctx.arm.provider(ctx.subscription, "Microsoft.Databricks")
    types = (databricks.body or {}).get("resourceTypes", []) if databricks.ok else []
    workspaces = next((t for t in types if str(t.get("resourceType", "")).lower() == "workspaces"), None)
    if workspaces is not None and _norm(display) not in {_norm(l) for l in workspaces.get("locations", [])}:
        return failed(f"{location} is offered to the subscription, but Azure Databricks workspaces are not offered there",
                      f"set azure.location ({where}) to a region offering Microsoft.Databricks/workspaces: "
                      + ", ".join(workspaces.get("locations", [])))
    return passed(f"{location} ({display}) is offered to the subscription"
                  + (", and Azure Databricks workspaces are offered there" if workspaces is not None else ""))


@check("DOC-AZURE-005", "resource group exists in the environment's location", needs=("DOC-AZURE-002",))
def resource_group_present(ctx: Context) -> Outcome:
    env, name = ctx.env, ctx.env.azure.resource_group
    reply = ctx.arm.resource_group(ctx.subscription, name)
    if reply.status == 404:
        return failed(f"resource group {name} does not exist in subscription {ctx.subscription} (the account stack "
                      "creates it)", DEPLOY_ACCOUNT_STACK)
    if _forbidden(reply):
        return failed(f"resource group {name}: {reply.error()}; the caller holds no role on it (the account stack "
                      "creates it and assigns the deployer's roles)", DEPLOY_ACCOUNT_STACK)
    if not reply.ok:
        return failed(f"resource group {name}: {reply.error()}", f"retry; if it persists, {DEPLOY_ACCOUNT_STACK}")
    actual = (reply.body or {}).get("location", "")
    if _norm(actual) != _norm(env.azure.location):
        return failed(f"resource group {name} is in {actual}, azure.location is {env.azure.location} "
                      f"({env.locate('azure', 'location')})",
                      f"set azure.location to {actual} ({env.locate('azure', 'location')}): a resource group cannot "
                      "move, so a new region means a new resource group")
    return passed(f"resource group {name} exists in {actual}")


# ------------------------------------------------------------------------------------------------
# Terraform state


def _local_state(ctx: Context) -> Outcome | None:
    if ctx.state.backend != "azurerm":
        return skipped(f"state.backend is {ctx.state.backend} ({ctx.env.locate('state')}): the state stays on the "
                       "machine that deploys, there is no state account to check")
    return None


@check("DOC-STATE-001", "state storage account present")
def state_account_present(ctx: Context) -> Outcome:
    if (local := _local_state(ctx)) is not None:
        return local
    s, sub = ctx.state, ctx.state_subscription
    where = f"{s.storage_account} in {s.resource_group}, subscription {sub}"
    reply = ctx.arm.resource(ctx.state_account_id, STORAGE_API)
    if reply.ok:
        return passed(f"{where} ({(reply.body or {}).get('location', '?')})")
    if reply.status == 404:
        create = (f"az storage account create --name {s.storage_account} --resource-group {s.resource_group} "
                  f"--subscription {sub} --location {ctx.env.azure.location} --sku Standard_ZRS --kind StorageV2 "
                  "--min-tls-version TLS1_2 --allow-blob-public-access false --allow-shared-key-access false")
        if reply.code == "ResourceGroupNotFound":
            create = (f"az group create --name {s.resource_group} --location {ctx.env.azure.location} "
                      f"--subscription {sub}\n{create}")
        return failed(f"{where}: {reply.error()} (the state account is created once, by the platform team, before "
                      "the first deploy)", create)
    if _forbidden(reply):
        container = ctx.arm.resource(ctx.state_container_id, STORAGE_API)
        if container.ok:
            return passed(f"{where}: exists (its container answers; the account itself is not readable by the caller, "
                          f"{reply.error()})")
        return warning(f"{where}: cannot read the account ({reply.error()}), nor its container ({container.error()})",
                       "see DOC-RBAC-001 for the roles the caller lacks")
    if reply.code == "MissingSubscriptionRegistration":
        return failed(f"{where}: {reply.error()}", f"az provider register --namespace Microsoft.Storage --subscription {sub}")
    return failed(f"{where}: {reply.error()}", "retry; if it persists, check the state account in the Azure portal")


@check("DOC-STATE-002", "state container present", needs=("DOC-STATE-001",))
def state_container_present(ctx: Context) -> Outcome:
    if (local := _local_state(ctx)) is not None:
        return local
    s = ctx.state
    reply = ctx.arm.resource(ctx.state_container_id, STORAGE_API)
    if reply.ok:
        return passed(f"container {s.container} of {s.storage_account}")
    if reply.status == 404:
        return failed(f"container {s.container} of {s.storage_account}: {reply.error()}",
                      f"az storage container-rm create --name {s.container} --storage-account {s.storage_account} "
                      f"--resource-group {s.resource_group} --subscription {ctx.state_subscription}")
    if _forbidden(reply):
        return warning(f"container {s.container}: cannot read it ({reply.error()})",
                       "see DOC-RBAC-001 for the roles the caller lacks")
    return failed(f"container {s.container}: {reply.error()}", "retry; if it persists, check the state account")


@check("DOC-STATE-003", "state account refuses shared keys", needs=("DOC-STATE-001",))
def state_shared_keys_refused(ctx: Context) -> Outcome:
    if (local := _local_state(ctx)) is not None:
        return local
    s = ctx.state
    if not s.use_oidc:
        return warning(f"state.use_oidc is false ({ctx.env.locate('state', 'use_oidc')}): Terraform reaches the state "
                       "with an access key, which bypasses RBAC", f"set state.use_oidc: true ({ctx.env.locate('state')})")
    reply = ctx.arm.resource(ctx.state_account_id, STORAGE_API)
    if not reply.ok:
        return skipped(f"cannot read {s.storage_account}'s properties ({reply.error()})")
    allowed = (reply.body or {}).get("properties", {}).get("allowSharedKeyAccess")
    if allowed is False:
        return passed(f"{s.storage_account}: allowSharedKeyAccess false, only Entra ID (OIDC) reaches the state")
    return warning(f"{s.storage_account} accepts shared keys (allowSharedKeyAccess {'unset' if allowed is None else 'true'}): "
                   "anyone holding an account key reads and writes every state, bypassing RBAC",
                   f"az storage account update --name {s.storage_account} --resource-group {s.resource_group} "
                   f"--subscription {ctx.state_subscription} --allow-shared-key-access false")


# ------------------------------------------------------------------------------------------------
# Azure RBAC: the deployer's roles as infra/access.py expects them


def _covers(outer: str, inner: str) -> bool:
    """An assignment at `outer` applies at `inner`: same scope, an ancestor, the root or a management group
    (ARM returns a management group's assignments for a subscription scope only when it is above it)."""
    outer, inner = outer.rstrip("/").lower(), inner.rstrip("/").lower()
    return (outer in ("", inner) or inner.startswith(outer + "/")
            or outer.startswith("/providers/microsoft.management/managementgroups/"))


def _same_condition(a: str | None, b: str | None) -> bool:
    return re.sub(r"\s+", "", a or "").lower() == re.sub(r"\s+", "", b or "").lower()


@dataclass(frozen=True)
class _Held:
    id: str
    role: str
    scope: str
    condition: str | None


def _held_on(ctx: Context, scope: str) -> tuple[list[_Held] | None, str | None]:
    """The caller's assignments ARM returns for scope (at, above, below), with role names; or the error."""
    reply = ctx.arm.role_assignments(scope, ctx.caller.object_id)
    if not reply.ok:
        return None, reply.error()
    held = []
    for item in reply.body:
        props = item.get("properties", {})
        definition = ctx.arm.role_definition(props.get("roleDefinitionId", ""))
        role = ((definition.body or {}).get("properties", {}).get("roleName") if definition.ok
                else f"role definition {props.get('roleDefinitionId', '').rsplit('/', 1)[-1]}")
        held.append(_Held(item.get("id", ""), role, props.get("scope", ""), props.get("condition")))
    return held, None


def _short(scope: str) -> str:
    """`/subscriptions/3333.../resourceGroups/rg-x` -> `resourceGroups/rg-x (subscription 3333...)`, readable."""
    parts = scope.split("/")
    if len(parts) >= 3 and parts[1].lower() == "subscriptions":
        rest = "/".join(parts[3:])
        return f"{rest} (subscription {parts[2]})" if rest else f"subscription {parts[2]}"
    return scope or "/"


def _assign_command(ctx: Context, role) -> str:
    """Quoted for a POSIX shell (the condition holds quotes, braces and `!(`, which bash would expand)."""
    command = (f"az role assignment create --assignee-object-id {ctx.caller.object_id} --assignee-principal-type "
               f"{ctx.caller.principal_type} --role {shlex.quote(role.role)} --scope {role.scope}")
    if role.condition:
        command += f" --condition {shlex.quote(role.condition)} --condition-version 2.0"
    return command


@check("DOC-RBAC-001", "the deployer holds the roles infra/access.py expects", needs=("DOC-AZURE-001",))
def expected_roles_held(ctx: Context) -> Outcome:
    lines, missing, unverified = [], [], []
    for role in deployer_roles(ctx.env, ctx.envs):
        held, error = _held_on(ctx, role.scope)
        if held is None:
            unverified.append(role)
            lines.append(f"unverified: {role.role} on {_short(role.scope)} (cannot list role assignments: {error})")
            continue
        via = next((h for h in held if h.role.lower() == role.role.lower() and _covers(h.scope, role.scope)), None)
        if via is None:
            missing.append(role)
            lines.append(f"missing: {role.role} on {_short(role.scope)} ({role.purpose})")
        else:
            inherited = "" if via.scope.rstrip("/").lower() == role.scope.rstrip("/").lower() else f", via {_short(via.scope)}"
            lines.append(f"present: {role.role} on {_short(role.scope)}{inherited}")
    who = f"object id {ctx.caller.object_id}"
    if missing:
        return failed(f"{who}: " + "; ".join(lines),
                      f"{DEPLOY_ACCOUNT_STACK} (it assigns these roles); or, as the platform team:\n"
                      + "\n".join(_assign_command(ctx, r) for r in missing))
    if unverified:
        return warning(f"{who}: " + "; ".join(lines),
                       "the caller may not read role assignments there; verify as the platform team: "
                       + "; ".join(f"az role assignment list --assignee {ctx.caller.object_id} --scope {r.scope}"
                                   for r in unverified))
    return passed(f"{who}: " + "; ".join(lines))


@check("DOC-RBAC-002", "the deployer holds no other role on those scopes", needs=("DOC-AZURE-001",))
def no_extra_roles(ctx: Context) -> Outcome:
    expected = deployer_roles(ctx.env, ctx.envs)
    wanted = {(r.role.lower(), r.scope.rstrip("/").lower()): r for r in expected}
    seen: dict[str, _Held] = {}
    unverified = []
    for role in expected:
        held, error = _held_on(ctx, role.scope)
        if held is None:
            unverified.append(_short(role.scope))
        for h in held or []:
            seen.setdefault(h.id.lower(), h)
    extras, loose = [], []
    for h in seen.values():
        match = wanted.get((h.role.lower(), h.scope.rstrip("/").lower()))
        if match is None:
            extras.append(h)
        elif match.condition and not _same_condition(match.condition, h.condition):
            loose.append(h)
    unconstrained = "without its condition: it may assign any role, Owner included"
    notes = [f"{h.role} on {_short(h.scope)}" for h in extras] + [
        f"{h.role} on {_short(h.scope)} {unconstrained if not h.condition else 'with another condition than infra/access.py'}"
        for h in loose]
    tail = f" (not verified on: {', '.join(unverified)})" if unverified else ""
    if not notes:
        return passed(f"nothing beyond the {len(expected)} expected role(s){tail}")
    fixes = [f"az role assignment delete --ids {h.id}" for h in extras]
    if loose:
        fixes.append(f"{DEPLOY_ACCOUNT_STACK} (it sets the condition)")
    return warning("also holds: " + "; ".join(notes) + tail, "\n".join(fixes))
