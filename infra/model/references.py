"""References between sections of one environment: each check returns the problems it finds, as messages
that name the element (`job 'train': ...`), so the loader can report them at the section's YAML line.

Every check receives the fields validated before it (pydantic's `info.data`); a section that failed its
own validation is absent and its references are not checked again (its own error is already reported).
"""

from __future__ import annotations

from typing import Iterable

from ..suggest import did_you_mean


def _principal_problems(where: str, names: Iterable[str], data: dict) -> list[str]:
    """Workspace permissions name a group, the service principal or a user (an e-mail address)."""
    principals = data.get("principals")
    if principals is None:
        return []
    known = {principals.service_principal.name, *principals.groups}
    problems = [f"{where}: unknown principal '{name}'{did_you_mean(name, known)} (a group, the service principal or "
                "a user's e-mail)" for name in names if name not in known and "@" not in name]
    # Workspace objects can only be shared with groups the workspace has (those with entitlements).
    problems += [f"{where}: group '{name}' has no entitlements, so it is not assigned to this workspace"
                 for name in names if name in principals.groups and not principals.groups[name].entitlements]
    return problems


def _duplicates(kind: str, names: list[str]) -> list[str]:
    return [f"duplicate {kind} '{name}'" for name in sorted({n for n in names if names.count(n) > 1})]


def check_storage_locations(unity_catalog, storage) -> list[str]:
    if storage is None:
        return []
    return [f"external location '{location.name}': container '{location.container}' is not one of storage.containers "
            f"({', '.join(storage.containers)})"
            for location in unity_catalog.external_locations if location.container not in storage.containers]


def _schema_problems(where: str, table: str | None, data: dict) -> list[str]:
    uc = data.get("unity_catalog")
    if table is None or uc is None:
        return []
    schema = table.split(".")[0]
    return [] if schema in uc.schema_names else [f"{where}: schema '{schema}' is not one of unity_catalog.schemas"]


def _model_problems(where: str, model: str | None, data: dict) -> list[str]:
    models = data.get("models")
    if model is None or models is None or model in models:
        return []
    return [f"{where}: model '{model}' is not one of the environment's models{did_you_mean(model, models)} "
            f"(models: {', '.join(models) or 'none'})"]


def check_compute(compute, data: dict) -> list[str]:
    problems = []
    for policy in compute.policies:
        problems += _principal_problems(f"policy '{policy.name}' users", policy.users, data)
    for cluster in compute.clusters:
        problems += _principal_problems(f"cluster '{cluster.name}' users", cluster.users, data)
    return problems


def check_workflows(workflows, data: dict) -> list[str]:
    problems = []
    compute = data.get("compute")
    for job in workflows.jobs:
        where = f"job '{job.name}'"
        problems += _model_problems(where, job.model, data)
        problems += _model_problems(f"{where} trigger", job.trigger.model if job.trigger else None, data)
        problems += _schema_problems(f"{where} output_table", job.output_table, data)
        problems += _principal_problems(f"{where} permissions", job.permissions, data)
        if job.output_table is not None and job.output_table.count(".") != 1:
            problems.append(f"{where}: output_table '{job.output_table}' must be `schema.table`")
        for cluster in job.clusters if compute is not None else []:
            policy, cluster_where = compute.policy(cluster.policy), f"{where} cluster '{cluster.key}'"
            if policy is None:
                known = [p.name for p in compute.policies]
                problems.append(f"{cluster_where}: unknown policy '{cluster.policy}'{did_you_mean(cluster.policy, known)}")
            elif policy.cluster_type == "all-purpose":
                problems.append(f"{cluster_where}: policy '{policy.name}' only allows all-purpose clusters")
            elif cluster.node_type not in policy.node_types:
                problems.append(f"{cluster_where}: node_type {cluster.node_type} is not allowed by policy '{policy.name}'")
            elif cluster.max_workers > policy.max_workers:
                problems.append(f"{cluster_where}: max_workers {cluster.max_workers} exceeds policy limit {policy.max_workers}")
    for experiment in workflows.experiments:
        problems += _principal_problems(f"experiment '{experiment.name}' permissions", experiment.permissions, data)
    return problems


def check_serving(endpoints, data: dict) -> list[str]:
    problems = _duplicates("serving endpoint", [e.name for e in endpoints])
    for endpoint in endpoints:
        where = f"serving endpoint '{endpoint.name}'"
        problems += _model_problems(where, endpoint.model, data)
        problems += _principal_problems(f"{where} consumers", endpoint.consumers, data)
    return problems


def check_warehouses(warehouses, data: dict) -> list[str]:
    problems = _duplicates("SQL warehouse", [w.name for w in warehouses])
    for warehouse in warehouses:
        problems += _principal_problems(f"SQL warehouse '{warehouse.name}' users", warehouse.users, data)
    return problems


def check_monitors(monitors, data: dict) -> list[str]:
    problems = _duplicates("quality monitor on", [m.table for m in monitors])
    warehouses = {w.name for w in data.get("sql_warehouses") or []}
    for monitor in monitors:
        where = f"quality monitor '{monitor.table}'"
        problems += _schema_problems(where, monitor.table, data)
        problems += _schema_problems(f"{where} baseline_table", monitor.baseline_table, data)
        if monitor.warehouse is not None and monitor.warehouse not in warehouses:
            problems.append(f"{where}: unknown SQL warehouse '{monitor.warehouse}'{did_you_mean(monitor.warehouse, warehouses)}")
    return problems


def check_secret_scopes(scopes, data: dict) -> list[str]:
    problems = _duplicates("secret scope", [s.name for s in scopes])
    for scope in scopes:
        problems += _principal_problems(f"secret scope '{scope.name}' acls", scope.acls, data)
    return problems


def check_git_folders(folders, data: dict) -> list[str]:
    problems = _duplicates("Git folder path", [f.path for f in folders])
    for folder in folders:
        problems += _principal_problems(f"Git folder '{folder.path}' permissions", folder.permissions, data)
    return problems
