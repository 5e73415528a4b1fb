"""`python main.py run JOB --env ENV [--smoke]`: a job's tasks, run locally the way Databricks runs them.

The job is planned by infra/constructs/databricks/job_plan.py, the same plan the `<env>-databricks` stack
deploys: the same job parameters (names and values), the same task arguments (`--name={{job.parameters.name}}`
resolved against the run's parameters), the same order (dependencies first), and the same control flow:
task values a task publishes are read by the condition tasks (`{{tasks.T.values.V}}`), a task that depends on a
condition's other outcome is excluded, a run-job task runs the other job. Every task runs in this process, as
the environment's service principal, against the local registry and the local lakehouse.
`--smoke` is the seeds' pull-request run: `smoke_test=true` (5 % sample, one epoch, nothing registered).
`--engine spark` runs the same tasks through the Databricks code path on a local Spark session (SparkRuntime:
SparkTables, spark_udf scoring, dbutils task values; a notebook task executed cell by cell as a notebook).
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakegate.infra import progress
from lakegate.infra.constructs.databricks.job_plan import PlannedTask, job_parameters, local_props, planned_tasks
from lakegate.infra.suggest import did_you_mean

from . import parameters as declared
from .errors import PipelineError, TaskArguments, TaskFileRefused, UnknownJob
from .runtime import LocalRuntime, SparkRuntime, using
from .user_code import project_root

_REFERENCE = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
MAX_DEPTH = 3   # a run-job task may start a job that starts a job; no deeper (and never a cycle)
ENGINES = ("local", "spark")


@dataclass
class TaskRun:
    key: str
    kind: str
    status: str = "pending"           # succeeded | failed | excluded
    seconds: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    outcome: str | None = None        # a condition task: "true" / "false"
    reason: str = ""
    job_run: "JobRun | None" = None   # a run-job task: the run it started
    result: Any = None

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("job_run", "result")}
        if self.job_run is not None:
            data["job_run"] = self.job_run.as_dict()
        return data


@dataclass
class JobRun:
    job: str
    env: str
    parameters: dict[str, str]
    tasks: list[TaskRun] = field(default_factory=list)
    seconds: float = 0.0
    error: BaseException | None = None
    engine: str = "local"

    @property
    def ok(self) -> bool:
        return self.error is None and all(t.status != "failed" for t in self.tasks)

    def task(self, key: str) -> TaskRun:
        return next(t for t in self.tasks if t.key == key)

    def as_dict(self) -> dict:
        return {"job": self.job, "env": self.env, "engine": self.engine, "ok": self.ok, "seconds": round(self.seconds, 3),
                "parameters": self.parameters, "tasks": [t.as_dict() for t in self.tasks],
                "error": str(self.error) if self.error else None}


def resolve_job(envs, env_name: str, job_name: str):
    if env_name not in envs:
        raise UnknownJob(f"unknown environment {env_name!r}{did_you_mean(env_name, envs.names)} "
                         f"(known: {', '.join(envs.names)})")
    env = envs[env_name]
    job = env.job(job_name)
    if job is None:
        names = [j.name for j in env.jobs]
        raise UnknownJob(f"{env_name} has no job {job_name!r}{did_you_mean(job_name, names)} (its jobs: "
                         f"{', '.join(names) or 'none'}; {env.locate('models')})")
    return env, job


def run_job(envs, env_name: str, job_name: str, *, state_dir: Path, smoke: bool = False,
            overrides: dict[str, str] | None = None, echo: bool = True, depth: int = 0,
            on_task=None, engine: str = "local") -> JobRun:
    """Run the job's tasks in order on `engine` (local: pandas and Delta; spark: the local Spark session). A
    refused or failed task stops the run: `JobRun.error` holds why (the dependent tasks are not run); an
    unexpected exception (a bug) propagates."""
    if engine not in ENGINES:
        raise PipelineError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    env, job = resolve_job(envs, env_name, job_name)
    parameters = job_parameters(job, local_props(env))
    if smoke:
        if job.smoke_test is None:
            raise PipelineError(f"job {job_name} of {env_name} has no smoke_test ({env.locate('workflows', 'jobs')})")
        parameters["smoke_test"] = "true"
    planned_all = planned_tasks(job, local_props(env))
    _check_task_files(planned_all)
    _check_parameters(envs, env, planned_all, parameters, overrides or {})
    for key, value in (overrides or {}).items():
        parameters[key] = value
    run = JobRun(job_name, env_name, dict(parameters), engine=engine)
    started = time.perf_counter()
    values: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, TaskRun] = {}
    for planned in _ordered(planned_all):
        task_run = TaskRun(planned.key, planned.kind)
        run.tasks.append(task_run)
        outcomes[planned.key] = task_run
        blocked = _blocked(planned, outcomes)
        if blocked:
            task_run.status, task_run.reason = "excluded", blocked
            _report(on_task, run, task_run)
            continue
        began = time.perf_counter()
        progress.started(_task_label(run, task_run))
        try:
            if planned.kind == "condition":
                task_run.outcome = "true" if _condition(planned.condition, values) else "false"
            elif planned.kind == "run_job":
                if depth >= MAX_DEPTH:
                    raise PipelineError(f"{job_name} would start {planned.run_job} deeper than {MAX_DEPTH} jobs")
                task_run.job_run = run_job(envs, env_name, planned.run_job, state_dir=state_dir, echo=echo,
                                           depth=depth + 1, on_task=on_task, engine=engine)
                if task_run.job_run.error is not None:
                    raise task_run.job_run.error
            else:
                rt = _runtime(engine, envs, env_name, state_dir, planned, parameters, values)
                rt.echo = echo
                try:
                    if isinstance(rt, SparkRuntime) and planned.kind == "notebook":
                        _run_notebook(planned, rt)
                    else:
                        _run_program(planned, _arguments(planned, parameters), rt)
                finally:
                    task_run.values, task_run.messages, task_run.result = dict(rt.task_values), rt.messages, rt.result
                values[planned.key] = task_run.values
            task_run.status = "succeeded"
        except Exception as error:  # noqa: BLE001 -- sorted below: a refusal ends the run, a bug propagates
            task_run.status, task_run.reason = "failed", f"{type(error).__name__}: {error}"
            task_run.seconds = time.perf_counter() - began
            _report(on_task, run, task_run)
            if not _expected(error):
                raise
            run.error = error
            break
        task_run.seconds = time.perf_counter() - began
        _report(on_task, run, task_run)
    run.seconds = time.perf_counter() - started
    return run


def _runtime(engine: str, envs, env_name: str, state_dir: Path, planned: PlannedTask, parameters: dict[str, str],
             values: dict[str, dict[str, Any]]) -> LocalRuntime:
    if engine == "spark":
        return SparkRuntime(envs, env_name, state_dir, upstream_values=values,
                            widgets=_widgets(planned, parameters) if planned.kind == "notebook" else None)
    return LocalRuntime(envs, env_name, state_dir)


def _check_task_files(planned: list[PlannedTask]) -> None:
    """Every task file a framework task module inside pipelines/ (resolved, symlinks too), before any import."""
    for task in planned:
        path = task.python_file or task.notebook
        problem = path is not None and declared.task_file_problem(path, project_root())
        if problem:
            raise TaskFileRefused(f"task {task.key}: {path} {problem} (LG-JOB-002)")


def _check_parameters(envs, env, planned: list[PlannedTask], parameters: dict[str, str],
                      overrides: dict[str, str]) -> None:
    """Before any task runs: an override must be a declared name (exit 64), every value of its type (6), and
    nothing may name another environment (4): a model, a catalog, a table written, an endpoint, or a table read
    that the grants (a binding) do not make readable."""
    from . import grants

    names = set(parameters) | set(declared.BAKED)
    for task in planned:
        module = declared.task_module(task.python_file or task.notebook or "")
        names |= set(declared.TASKS.get(module, ())) | set(task.base_parameters)
        names |= {a[2:].partition("=")[0] for a in task.arguments}
    catalog = env.unity_catalog.catalog
    catalogs = {e.unity_catalog.catalog for e in envs}
    for name, value in overrides.items():
        declared.check_name(name)
        if name not in names:
            raise declared.ParameterProblem("USAGE", f"--param {name}: {env.name}'s job declares no parameter {name} "
                                            "(its tasks' parameters, the job's and the model's training parameters)")
    for name, value in {**parameters, **overrides}.items():
        declared.check(name, value, env.name, catalog, catalogs)
        param = declared.REGISTRY.get(name)
        if param is None or not value:
            continue
        if param.type == "table" and not param.writes and value.count(".") == 2 and not value.startswith(f"{catalog}."):
            decision = grants.decide(envs, env.service_principal, env.name, *value.split("."), grants.READ)
            if not decision.allowed:
                raise declared.ParameterProblem("PERMISSION_REFUSED", f"parameter {name}={value} crosses environments: "
                                                f"{env.service_principal} may not read it ({decision.reason})")
        if param.type == "endpoint" and name == "endpoint" and value not in {e.name for e in env.endpoints}:
            owner = next((e.name for e in envs if value in {x.name for x in e.endpoints}), None)
            raise declared.ParameterProblem("PERMISSION_REFUSED" if owner else "INVALID_REQUEST",
                                            f"parameter endpoint={declared.shown(value)}: "
                                            + (f"an endpoint of {owner}, not {env.name}" if owner
                                               else f"{env.name} declares no such endpoint"))


def _task_label(run: JobRun, task_run: TaskRun) -> str:
    return f"task {run.env}-{run.job} / {task_run.key}"


def _report(on_task, run: JobRun, task_run: TaskRun) -> None:
    if task_run.status != "excluded":
        progress.ended(_task_label(run, task_run), task_run.status == "succeeded", task_run.reason, task_run.seconds)
    if on_task is not None:
        on_task(run, task_run)


def _expected(error: BaseException) -> bool:
    """Refusals and failures people fix (exit codes 2-11), as opposed to bugs."""
    from lakegate.promotion.errors import PromotionError
    from lakegate.promotion.registry import RegistryError

    return isinstance(error, (PipelineError, PromotionError, RegistryError, ConnectionError, SystemExit))


def _ordered(tasks: list[PlannedTask]) -> list[PlannedTask]:
    """Dependencies first, otherwise the plan's order (Databricks would run independent tasks in parallel)."""
    done: list[PlannedTask] = []
    pending = list(tasks)
    while pending:
        ready = next((t for t in pending if all(d.task in {x.key for x in done} for d in t.depends_on)), None)
        if ready is None:
            raise PipelineError(f"tasks depend on each other in a cycle: {', '.join(t.key for t in pending)}")
        done.append(ready)
        pending.remove(ready)
    return done


def _blocked(planned: PlannedTask, outcomes: dict[str, TaskRun]) -> str:
    """Why the task does not run (Databricks: "excluded"), or ""."""
    for dependency in planned.depends_on:
        upstream = outcomes[dependency.task]
        if upstream.status != "succeeded":
            return f"{dependency.task} {upstream.status}"
        if dependency.outcome is not None and upstream.outcome != dependency.outcome:
            return f"{dependency.task} was {upstream.outcome}"
    return ""


def _arguments(planned: PlannedTask, parameters: dict[str, str]) -> list[str]:
    if planned.kind == "python_file":
        arguments = [_substitute(argument, parameters, {}) for argument in planned.arguments]
        # A parameter the deployed job does not declare (`--param NAME=VALUE`) reaches the script too.
        referenced = set(_REFERENCE.findall(" ".join(planned.arguments)))
        extra = [f"--{k}={v}" for k, v in parameters.items() if f"job.parameters.{k}" not in referenced]
        return arguments + extra
    return [f"--{k}={v}" for k, v in _widgets(planned, parameters).items()]


def _widgets(planned: PlannedTask, parameters: dict[str, str]) -> dict[str, str]:
    """A notebook's widgets: its base parameters, then the job parameters pushed down (they win, as on Databricks)."""
    return {**planned.base_parameters, **parameters}


def _substitute(text: str, parameters: dict[str, str], values: dict[str, dict[str, Any]]) -> str:
    def one(match: re.Match) -> str:
        reference = match.group(1)
        parts = reference.split(".")
        if parts[:2] == ["job", "parameters"] and len(parts) == 3 and parts[2] in parameters:
            return parameters[parts[2]]
        if parts[0] == "tasks" and len(parts) == 4 and parts[2] == "values" and parts[3] in values.get(parts[1], {}):
            value = values[parts[1]][parts[3]]
            return value if isinstance(value, str) else _json(value)
        raise PipelineError(f"unresolved reference {{{{{reference}}}}}")

    return _REFERENCE.sub(one, text)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _condition(condition: tuple[str, str, str], values: dict[str, dict[str, Any]]) -> bool:
    """Databricks' condition task: numbers compare as numbers, anything else as strings."""
    left, op, right = (_substitute(side, {}, values) if i != 1 else side for i, side in enumerate(condition))
    try:
        a, b = float(left), float(right)
    except ValueError:
        a, b = left, right
    return {"EQUAL_TO": a == b, "NOT_EQUAL": a != b, "GREATER_THAN": a > b, "GREATER_THAN_OR_EQUAL": a >= b,
            "LESS_THAN": a < b, "LESS_THAN_OR_EQUAL": a <= b}[op]


def _run_program(planned: PlannedTask, argv: list[str], rt: LocalRuntime) -> None:
    path = planned.python_file or planned.notebook
    module_path = declared.task_module(path)
    if module_path is None or declared.task_file_problem(path, project_root()):  # _check_task_files said why, before the run
        raise TaskFileRefused(f"task {planned.key}: {path} is not a task module of the framework (LG-JOB-002)")
    module = importlib.import_module("lakegate." + module_path.removesuffix(".py").replace("/", "."))
    with using(rt):
        try:
            code = module.main(argv)
        except TaskArguments as error:
            raise TaskArguments(f"task {planned.key} ({path}): {error} (its arguments are the job's parameters, and "
                                "--param NAME=VALUE)") from None
    if code:
        raise PipelineError(f"task {planned.key} ({path}) exited {code}")


def _run_notebook(planned: PlannedTask, rt: SparkRuntime) -> None:
    """The notebook's source executed cell by cell with `dbutils` and `spark` in its namespace."""
    from .spark_notebook import run_notebook

    path = Path(__file__).resolve().parent.parent / planned.notebook
    if path.suffix != ".py":
        path = path.with_suffix(".py")
    with using(rt):
        try:
            run_notebook(path, rt.dbutils, rt.spark)
        except TaskArguments as error:
            raise TaskArguments(f"task {planned.key} ({planned.notebook}): {error} (its widgets are the job's "
                                "parameters, and --param NAME=VALUE)") from None
