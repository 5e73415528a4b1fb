"""Guardrails over the Databricks layer: compute, Unity Catalog grants, serving and jobs.

Grant rules read `access.effective_grants`, so grants derived from the promotion path count exactly like
the ones written in YAML (it is what the stacks emit).
"""

from __future__ import annotations

from pathlib import Path

from lakegate.project import project_root

from ..access import effective_grants, grants_owned_by
from ..model.grants import ACCOUNT_USERS, WRITE_PRIVILEGES
from ..versions import pinned_version
from .rule import at, at_origin, rule
from .runtimes import KNOWN_RUNTIMES, parse_runtime, spark_major, spark_of


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


@rule("LG-COMPUTE-002", "error",
      "a cluster policy's runtime must be a known Databricks runtime on the Spark major lakegate tests (pyspark's pin)",
      f"""`run --engine spark` proves the job tasks on the pinned pyspark; a cluster on another Spark major runs code
      nobody ran (Spark 4 changed defaults, APIs and the Scala version). Known runtime majors:
      {", ".join(f"{major} = Spark {spark}" for major, (spark, _) in sorted(KNOWN_RUNTIMES.items()))}. A runtime
      key that does not parse, or a major not known (infra/guardrails/runtimes.py), fails closed until added.""")
def runtime_matches_tested_spark(env, envs):
    pinned = pinned_version("pyspark")
    tested = spark_major(pinned or "")
    if tested is None:
        yield at(f"pyspark={pinned or 'unpinned'} (no exact pyspark pin in lakegate's dependencies)")
        return
    for index, policy in enumerate(env.compute.policies):
        where = ("compute", "policies", index, "spark_version")
        runtime = parse_runtime(policy.spark_version)
        subject = f"policy={policy.name},runtime={policy.spark_version}"
        if runtime is None:
            yield at(f"{subject} (not a runtime key like 17.3.x-cpu-ml-scala2.13)", *where)
            continue
        spark = spark_of(runtime)
        if spark is None:
            yield at(f"{subject} (unknown runtime: major {runtime.major} with Scala {runtime.scala} is not in "
                     "lakegate's table of runtimes)", *where)
        elif spark_major(spark) != tested:
            yield at(f"{subject} (Spark {spark}; lakegate tests Spark {tested})", *where)


@rule("LG-JOB-001", "error", "jobs must run as the environment's service principal",
      """A job running as a person stops when the person leaves, runs with their rights instead of the
      pipeline's, and makes the audit trail name the wrong actor.""")
def job_runs_as_service_principal(env, envs):
    for job in env.jobs:
        if job.run_as is not None and job.run_as != env.service_principal:
            yield at(f"job={job.name}", *env.path_of("job", job.name), "run_as")


NOTEBOOK_HEADER = "# Databricks notebook source"


def _missing_program(task, root: Path) -> str | None:
    """Why a task's file would not run from this repository as a task module of the framework (None when it would):
    missing, outside pipelines/ (absolute, `../`, a symlink pointing elsewhere), or not a declared task module."""
    from lakegate.pipelines.parameters import task_file_problem

    field = "file" if task.python_file is not None else "notebook"
    named = task.python_file if task.python_file is not None else task.notebook
    problem = task_file_problem(named, root)
    header_file = (root / named).with_suffix(".py")
    if task.notebook is not None and problem and problem.startswith("is not a task module") and header_file.is_file() \
            and header_file.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip() != NOTEBOOK_HEADER:
        return f"notebook={task.notebook} (no `{NOTEBOOK_HEADER}` line)"
    if problem == "does not exist":
        return f"{field}={named}"
    if problem is not None:
        return f"{field}={named} ({problem.split(' (to ')[0]})"
    if task.python_file is not None:
        return None
    path = root / task.notebook
    if path.suffix == "" and path.with_suffix(".py").is_file():
        header = path.with_suffix(".py").read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
        return None if header == NOTEBOOK_HEADER else f"notebook={task.notebook} (no `{NOTEBOOK_HEADER}` line)"
    return None


@rule("LG-JOB-002", "error", "a job task must name a task module of the framework in this repository's pipelines/",
      """Jobs run their tasks from the Git repository (`workflows.code`): a task naming a file that is not in
      the repository fails at its first run, long after the change that broke it was merged, and a task naming a
      file outside the project's `pipelines/` (an absolute path, `../`, a committed symlink pointing elsewhere) or
      a module that is no task of the framework runs code nobody reviewed as a pipeline. Paths are resolved
      (symlinks too); python files must be declared task modules (pipelines/parameters.py), notebooks
      `<path>.py` in Databricks source format.""")
def job_tasks_exist_in_repository(env, envs):
    if env.workflows.code is None:
        return  # workspace paths: nothing in this repository to check
    decided = envs.memo.setdefault("LG-JOB-002", {})  # every model's jobs name the same few task files
    repository = project_root()  # what `workflows.code` deploys: the project's checkout (launchers, in a project)
    for job in env.jobs:
        path = env.path_of("job", job.name)
        for t, task in enumerate(job.tasks):
            key = (task.python_file, task.notebook)
            if key not in decided:
                decided[key] = _missing_program(task, repository)
            problem = decided[key]
            if problem is not None:
                field = "python_file" if task.python_file is not None else "notebook"
                where = (*path, "tasks", t, field) if path[0] == "workflows" else path
                yield at(f"job={job.name},task={task.key},{problem}", *where)


def parameter_problems(env, job):
    """(YAML path tail, subject) for each job or task parameter of `job` that fails its declared type or crosses
    into another environment (pipelines/parameters.py), without importing any task or user code."""
    from lakegate.pipelines.parameters import ParameterProblem, check

    catalog = env.unity_catalog.catalog
    for origin, pairs in [(("parameters",), job.parameters)] + [
            (("tasks", t, "parameters"), task.parameters) for t, task in enumerate(job.tasks)]:
        for name, value in pairs.items():
            try:
                check(name, str(value), env.name, catalog)
            except ParameterProblem as problem:
                yield (*origin, name), f"job={job.name},parameter={name} ({str(problem).removeprefix('parameter ')})"


@rule("LG-JOB-003", "error", "job and task parameters must be of their declared type and of their environment",
      """Every task of the framework declares its parameters (pipelines/parameters.py: type, bounds, the grammar
      of table and model names); a parameter of the YAML that fails its type would fail the job at run time, and
      one naming another environment's model, catalog or a table written in another catalog would cross
      environments. Checked without importing any task or model code.""")
def job_parameters_typed(env, envs):
    for job in env.jobs:
        path = env.path_of("job", job.name)
        for tail, subject in parameter_problems(env, job):
            yield at(subject, *((*path, *tail) if path[0] == "workflows" else path))


@rule("LG-SERVE-001", "error", "an endpoint serving by key needs a job of its environment that publishes its feature "
      "table to the online store",
      """The online (synced) table an endpoint looks features up in is created by its first writer, the feature
      refresh (pipelines/features/online.py), never by Terraform; without a job that publishes the table, every
      request by key would fail on Databricks. A model's own feature-refresh job does it when the model serves
      by key; a hand-written endpoint needs a job task with `online_store` and `online_table` parameters.""")
def serving_by_key_is_published(env, envs):
    published = {task.parameters.get("online_table") for job in env.jobs for task in job.tasks
                 if task.parameters.get("online_store")}
    for endpoint in env.endpoints:
        lookup = endpoint.feature_lookup
        if lookup is not None and lookup.online_table not in published:
            path = env.path_of("endpoint", endpoint.name)
            yield at(f"endpoint={endpoint.name},table={lookup.table}", *path,
                     "lookup" if path[:1] == ("models",) else "feature_lookup")
