"""Guardrails over the Databricks layer: compute, Unity Catalog grants, serving and jobs.

Grant rules read `access.effective_grants`, so grants derived from the promotion path count exactly like
the ones written in YAML (it is what the stacks emit).
"""

from __future__ import annotations

from pathlib import Path

from ..access import effective_grants, grants_owned_by
from ..model.grants import ACCOUNT_USERS, WRITE_PRIVILEGES
from .rule import at, at_origin, rule


def _human_groups(envs) -> set[str]:
    """Groups any environment declares as holding people, and every account user."""
    return {ACCOUNT_USERS} | {name for e in envs for name, group in e.principals.groups.items() if group.human}


@rule("LG-PROD-006", "error", "production must not have all-purpose (interactive) clusters",
      """Interactive clusters let people run ad-hoc code against production data with the cluster's
      rights; production compute must come from reviewed jobs on job clusters.""", production_only=True)
def prod_no_all_purpose(env, envs):
    for index, cluster in enumerate(env.compute.clusters):
        yield at(f"cluster={cluster.name}", "compute", "clusters", index)
    if env.compute.allow_all_purpose and not env.compute.clusters:
        yield at("compute.allow_all_purpose=true", "compute", "allow_all_purpose")


@rule("LG-PROD-007", "error", "no human group may hold a write privilege on production data",
      """People change production only through reviewed pipelines running as the service principal;
      a group of people with MODIFY, CREATE_*, WRITE_*, MANAGE or ALL_PRIVILEGES can bypass every gate.""",
      production_only=True)
def prod_no_human_writers(env, envs):
    humans = _human_groups(envs)
    for grant in grants_owned_by(env, envs):
        if grant.principal in humans and WRITE_PRIVILEGES & set(grant.privileges):
            yield at_origin(f"group={grant.principal},{grant.securable.type}={grant.securable.name}", grant.origin)


@rule("LG-PROD-008", "error", "production serving endpoints must not scale to zero",
      """A scaled-to-zero endpoint answers its first request after minutes of cold start; production
      consumers would time out.""", production_only=True)
def prod_no_scale_to_zero(env, envs):
    for endpoint in env.endpoints:
        if endpoint.scale_to_zero:
            yield at(f"endpoint={endpoint.name}", *env.path_of("endpoint", endpoint.name), "scale_to_zero")


@rule("LG-PROD-009", "error", "production data must not be granted to `account users` (waive with a reason)",
      """`account users` is every person of the Databricks account, in every workspace bound to the
      catalog; sharing production that widely needs an explicit, reviewed decision.""", production_only=True)
def prod_no_account_users(env, envs):
    for grant in grants_owned_by(env, envs):
        if grant.principal == ACCOUNT_USERS:
            yield at_origin(f"{grant.securable.type}={grant.securable.name}", grant.origin)


@rule("LG-UC-001", "error", "a service principal may write only to its own environment's catalog",
      """Each environment's automation is confined to its catalog, so a compromised or buggy pipeline
      in one environment cannot change another; promotion reads the source and writes only the target.""")
def service_principal_writes_own_catalog(env, envs):
    for grant in effective_grants(envs):
        if grant.principal == env.service_principal and grant.owner_env != env.name \
                and WRITE_PRIVILEGES & set(grant.privileges):
            yield at_origin(f"{grant.securable.type}={grant.securable.name}", grant.origin)


@rule("LG-COMPUTE-001", "error", "every cluster, cluster policy and SQL warehouse must auto-terminate",
      """Idle compute that never stops is the largest avoidable cost of a workspace; policies bound the
      idle time and clusters stay within their policy's bound.""")
def compute_auto_terminates(env, envs):
    bounds = {p.name: p.auto_termination_minutes for p in env.compute.policies}
    for index, policy in enumerate(env.compute.policies):
        if policy.auto_termination_minutes <= 0:
            yield at(f"policy={policy.name}", "compute", "policies", index, "auto_termination_minutes")
    for index, cluster in enumerate(env.compute.clusters):
        bound = bounds.get(cluster.policy)
        if cluster.auto_termination_minutes <= 0 or (bound is not None and cluster.auto_termination_minutes > bound):
            yield at(f"cluster={cluster.name}", "compute", "clusters", index, "auto_termination_minutes")
    for index, warehouse in enumerate(env.sql_warehouses):
        if warehouse.auto_stop_minutes <= 0:
            yield at(f"warehouse={warehouse.name}", "sql_warehouses", index, "auto_stop_minutes")


@rule("LG-JOB-001", "error", "jobs must run as the environment's service principal",
      """A job running as a person stops when the person leaves, runs with their rights instead of the
      pipeline's, and makes the audit trail name the wrong actor.""")
def job_runs_as_service_principal(env, envs):
    for job in env.jobs:
        if job.run_as is not None and job.run_as != env.service_principal:
            yield at(f"job={job.name}", *env.path_of("job", job.name), "run_as")


REPOSITORY = Path(__file__).resolve().parents[2]   # the lakegate checkout: what `workflows.code` deploys
NOTEBOOK_HEADER = "# Databricks notebook source"


def _missing_program(task) -> str | None:
    """Why a task's file would not run from this repository (None when it would)."""
    if task.python_file is not None:
        return None if (REPOSITORY / task.python_file).is_file() else f"file={task.python_file}"
    path = REPOSITORY / task.notebook
    if path.suffix == "" and path.with_suffix(".py").is_file():
        header = path.with_suffix(".py").read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
        return None if header == NOTEBOOK_HEADER else f"notebook={task.notebook} (no `{NOTEBOOK_HEADER}` line)"
    return None if path.is_file() or path.with_suffix(".ipynb").is_file() else f"notebook={task.notebook}"


@rule("LG-JOB-002", "error", "a job task must name a file that exists in this repository",
      """Jobs run their tasks from the Git repository (`workflows.code`): a task naming a file that is not in
      the repository fails at its first run, long after the change that broke it was merged. Python files must
      exist as named, notebooks as `<path>.py` in Databricks source format (or `<path>.ipynb`).""")
def job_tasks_exist_in_repository(env, envs):
    if env.workflows.code is None:
        return  # workspace paths: nothing in this repository to check
    for job in env.jobs:
        path = env.path_of("job", job.name)
        for t, task in enumerate(job.tasks):
            problem = _missing_program(task)
            if problem is not None:
                field = "python_file" if task.python_file is not None else "notebook"
                where = (*path, "tasks", t, field) if path[0] == "workflows" else path
                yield at(f"job={job.name},task={task.key},{problem}", *where)
