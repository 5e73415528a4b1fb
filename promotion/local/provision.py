"""Provision the local registry from an access plan: workspaces, users, workspace-scoped roles.

How MLflow 3.17's basic-auth authorizes (read from mlflow/server/auth/: permissions.py,
requirements.py, __init__.py, sqlalchemy_store.py):

* Permission levels: READ < USE < EDIT < MANAGE (plus NO_PERMISSIONS and an explicit DENY).
  READ reads; USE adds "use/create"; EDIT adds update (aliases, tags, new versions of an existing
  model); MANAGE adds delete and permission management.
* Grants are rows of a *role*; a role lives in exactly one workspace (REST: POST
  /api/3.0/mlflow/roles/create {workspace, name}, POST .../roles/permissions/add {role_id,
  resource_type, resource_pattern, permission}, POST .../roles/assign {username, role_id}).
  resource_type is `workspace` (pattern `*`, only USE or MANAGE), or a resource type such as
  `registered_model` / `experiment` with pattern `*` or one resource's id.
* A workspace-wide USE grant lets a user *create* experiments and registered models there; the
  creator becomes the owner (MANAGE) of what it creates. It does not by itself let the user read
  other users' resources: with `default_permission = NO_PERMISSIONS` that needs a resource grant.
  A workspace-wide MANAGE grant makes the user workspace admin (everything in that workspace).
* Nothing crosses workspaces: a grant in `dev` says nothing about `staging`; a user with no role in
  a workspace gets 403 on everything there (list calls come back filtered/empty).

Roles this module maintains, one per level per workspace, named `lakegate-<level>`:

    READ    registered_model:* READ,  experiment:* READ     (read models, versions, runs, files)
    USE     workspace:* USE + READ's grants                  (also create models/experiments)
    EDIT    workspace:* USE, registered_model:* EDIT, experiment:* EDIT   (aliases, tags, versions)
    MANAGE  workspace:* MANAGE                               (workspace admin)

Mapping from Unity Catalog grants (derived by the lead's `derive_local_plan`):
    USE CATALOG + CREATE MODEL on the catalog/schema  -> USE   (may create models)
    EXECUTE on a model / schema / catalog              -> READ  (read and load versions)
    alias / tag changes                                -> EDIT
    owner of the models (the environment's SP)         -> MANAGE on each model it creates (MLflow makes the
                                                          creator the owner), never on the whole workspace
(promotion/local_access.py derives the plan; the MANAGE role is for test plans and admins.)

`apply_plan` converges: it creates what is missing, fixes the grants of `lakegate-*` roles and
unassigns `lakegate-*` roles that the plan no longer gives; it never deletes workspaces or users.
A second run with the same plan returns no changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from lakegate.promotion.local import secret_file
from lakegate.promotion.local.rest import HttpFailure, MlflowHttp
from lakegate.promotion.local.workspaces import workspace_for_catalog
from lakegate.promotion.registry import InvalidName

Role = Literal["READ", "USE", "EDIT", "MANAGE"]
ROLE_PREFIX = "lakegate-"
ROLE_GRANTS: dict[str, frozenset[tuple[str, str, str]]] = {
    "READ": frozenset({("registered_model", "*", "READ"), ("experiment", "*", "READ")}),
    "USE": frozenset({
        ("workspace", "*", "USE"), ("registered_model", "*", "READ"), ("experiment", "*", "READ"),
    }),
    "EDIT": frozenset({
        ("workspace", "*", "USE"), ("registered_model", "*", "EDIT"), ("experiment", "*", "EDIT"),
    }),
    "MANAGE": frozenset({("workspace", "*", "MANAGE")}),
}

_WORKSPACES = "/api/3.0/mlflow/workspaces"
_ROLES = "/api/3.0/mlflow/roles"
_USER_ROLES = "/api/3.0/mlflow/users/roles/list"


@dataclass(frozen=True)
class LocalAccessPlan:
    """What the local registry should contain.

    workspaces: one per environment's Unity Catalog catalog (already mapped with
        `workspace_for_catalog`, e.g. "dev").
    users: one per service principal.
    permissions: (user, workspace, role) with role one of READ / USE / EDIT / MANAGE.
    """

    workspaces: Sequence[str] = field(default_factory=list)
    users: Sequence[str] = field(default_factory=list)
    permissions: Sequence[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        problems = []
        for workspace in self.workspaces:
            try:
                if workspace_for_catalog(workspace) != workspace:
                    problems.append(f"workspace {workspace!r} is not a valid MLflow workspace name")
            except InvalidName as exc:
                problems.append(str(exc))
        for user, workspace, role in self.permissions:
            where = f"permission ({user}, {workspace}, {role})"
            if user not in self.users:
                problems.append(f"{where}: user {user!r} is not in users")
            if workspace not in self.workspaces:
                problems.append(f"{where}: workspace {workspace!r} is not in workspaces")
            if role not in ROLE_GRANTS:
                problems.append(f"{where}: role must be one of {', '.join(ROLE_GRANTS)}")
        if problems:
            raise ValueError("invalid local access plan: " + "; ".join(problems))

    def roles_of(self, user: str) -> set[tuple[str, str]]:
        return {(workspace, role) for u, workspace, role in self.permissions if u == user}


def apply_plan(admin: MlflowHttp, plan: LocalAccessPlan, state_dir: Path) -> list[str]:
    """Make the server match `plan`, acting as the admin. Returns what changed ([] when nothing).

    Generated user passwords are written to the mode-0600 credentials file in `state_dir` before
    the users are created, and never printed or logged.
    """
    changes: list[str] = []
    changes += _ensure_workspaces(admin, plan.workspaces)
    changes += _ensure_users(admin, plan.users, Path(state_dir))
    roles = _RoleBook(admin, changes)
    for user in plan.users:
        wanted = plan.roles_of(user)
        held = {
            (role["workspace"], role["name"][len(ROLE_PREFIX):].upper()): role["id"]
            for role in admin.call("GET", _USER_ROLES, params={"username": user}).get("roles", [])
            if role.get("name", "").startswith(ROLE_PREFIX) and role.get("workspace") in plan.workspaces
        }
        for workspace, role in sorted(wanted):
            role_id = roles.ensure(workspace, role)
            if (workspace, role) not in held:
                admin.call("POST", f"{_ROLES}/assign", json={"username": user, "role_id": role_id})
                changes.append(f"granted {role} on workspace {workspace} to {user}")
        for (workspace, role), role_id in sorted(held.items()):
            if (workspace, role) not in wanted:
                admin.call("DELETE", f"{_ROLES}/unassign", json={"username": user, "role_id": role_id})
                changes.append(f"revoked {role} on workspace {workspace} from {user}")
    return changes


def _ensure_workspaces(admin: MlflowHttp, workspaces: Sequence[str]) -> list[str]:
    existing = {ws["name"] for ws in admin.call("GET", _WORKSPACES).get("workspaces", [])}
    changes = []
    for workspace in workspaces:
        if workspace in existing:
            continue
        try:
            admin.call("POST", _WORKSPACES, json={"name": workspace, "description": "lakegate environment"})
        except HttpFailure as exc:
            if not exc.already_exists:
                raise
        changes.append(f"created workspace {workspace}")
    return changes


def _ensure_users(admin: MlflowHttp, users: Sequence[str], state_dir: Path) -> list[str]:
    secrets = secret_file.read_secrets(state_dir)
    stored: dict[str, str] = dict(secrets.get("users") or {})
    missing_passwords = [user for user in users if not stored.get(user)]
    for user in missing_passwords:
        stored[user] = secret_file.generate_password()
    if missing_passwords:  # persist before the server knows the password, so it is never lost
        secrets["users"] = stored
        secret_file.write_secrets(state_dir, secrets)

    changes = []
    for user in users:
        try:
            admin.call("GET", "/api/2.0/mlflow/users/get", params={"username": user})
        except HttpFailure as exc:
            if exc.status != 404 and not exc.is_missing:
                raise
            admin.call("POST", "/api/2.0/mlflow/users/create", json={"username": user, "password": stored[user]})
            changes.append(f"created user {user}")
            continue
        if user in missing_passwords or not _can_log_in(admin.url, user, stored[user]):
            admin.call("PATCH", "/api/2.0/mlflow/users/update-password",
                       json={"username": user, "password": stored[user]})
            changes.append(f"reset the password of user {user} (credentials file was out of date)")
    return changes


def _can_log_in(url: str, user: str, password: str) -> bool:
    try:
        MlflowHttp(url, user, password).call("GET", "/api/2.0/mlflow/users/current")
        return True
    except HttpFailure as exc:
        if exc.status == 401:
            return False
        raise


class _RoleBook:
    """The `lakegate-*` roles per workspace, created and corrected on first use."""

    def __init__(self, admin: MlflowHttp, changes: list[str]):
        self._admin, self._changes = admin, changes
        self._by_workspace: dict[str, dict[str, dict]] = {}
        self._checked: dict[tuple[str, str], int] = {}

    def ensure(self, workspace: str, role: str) -> int:
        key = (workspace, role)
        if key in self._checked:
            return self._checked[key]
        if workspace not in self._by_workspace:
            listed = self._admin.call("GET", f"{_ROLES}/list", params={"workspace": workspace}).get("roles", [])
            self._by_workspace[workspace] = {r["name"]: r for r in listed}
        name = ROLE_PREFIX + role.lower()
        existing = self._by_workspace[workspace].get(name)
        created = existing is None
        if created:
            existing = self._admin.call(
                "POST", f"{_ROLES}/create",
                json={"workspace": workspace, "name": name, "description": f"lakegate: {role} on {workspace}"},
            )["role"]
            existing.setdefault("permissions", [])
            self._changes.append(f"created role {name} in workspace {workspace}")
        self._fix_grants(workspace, existing, ROLE_GRANTS[role], report_additions=not created)
        self._checked[key] = existing["id"]
        return existing["id"]

    def _fix_grants(
        self, workspace: str, role: dict, wanted: frozenset[tuple[str, str, str]], report_additions: bool
    ) -> None:
        # MLflow keeps at most one grant per (role, resource type, pattern): fix levels in place.
        have = {(p["resource_type"], p["resource_pattern"]): p for p in role.get("permissions") or []}
        where = f"role {role['name']} in workspace {workspace}"
        for resource_type, pattern, permission in sorted(wanted):
            current = have.get((resource_type, pattern))
            if current is None:
                self._admin.call("POST", f"{_ROLES}/permissions/add", json={
                    "role_id": role["id"], "resource_type": resource_type,
                    "resource_pattern": pattern, "permission": permission,
                })
                if report_additions:  # the grants of a role created just now are not news
                    self._changes.append(f"added {permission} on {resource_type}:{pattern} to {where}")
            elif current["permission"] != permission:
                self._admin.call("PATCH", f"{_ROLES}/permissions/update",
                                 json={"role_permission_id": current["id"], "permission": permission})
                self._changes.append(
                    f"changed {resource_type}:{pattern} from {current['permission']} to {permission} in {where}")
        wanted_keys = {(resource_type, pattern) for resource_type, pattern, _ in wanted}
        for key, grant in sorted(have.items()):
            if key not in wanted_keys:
                self._admin.call("DELETE", f"{_ROLES}/permissions/remove", json={"role_permission_id": grant["id"]})
                self._changes.append(f"removed {grant['permission']} on {key[0]}:{key[1]} from {where}")
