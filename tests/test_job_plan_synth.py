"""The job runner's plan against the job JSON Terraform gets, for every job of every example environment.

`python main.py run JOB --env ENV` (pipelines/runner.py) walks the plan of job_plan.py; the `<env>-databricks`
stack turns that plan into `databricks_job` resources (workflows.py). This test reads each stack's
`cdk.tf.json` from the synthesized `cdktf.out` (the session's one synth, in a temporary folder) and checks that
Databricks would run what the runner runs: the same jobs, job parameters (names, order, values), tasks and
their dependencies (with condition outcomes), each task's program (python file or notebook), the argv a
script receives once Databricks resolves `{{job.parameters.X}}`, a notebook's widgets, conditions, run-job
targets, clusters and retries, and the pinned lakegate every program task installs on its cluster. Terraform references (`${databricks_catalog.x.name}`) are resolved against the
stack's own resources, as Terraform would at plan time; anything left unresolved is a mismatch.

The expectation comes from the runner side only (the plan with `local_props`, and the runner's own order,
argv and widgets); the JSON side is read the way Databricks reads it, so a wiring mistake in the stack (a
dropped `depends_on`, a renamed parameter) fails here.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from lakegate.infra.constructs.databricks.job_plan import job_parameters, local_props, planned_tasks
from lakegate.pipelines import runner

from .helpers import EXAMPLES, copy_examples, edit

ENVIRONMENTS = sorted(p.stem for p in EXAMPLES.glob("*.yaml") if not p.stem.startswith("_"))
_TERRAFORM_REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}")
_JOB_PARAMETER = re.compile(r"\{\{\s*job\.parameters\.([^}\s]+)\s*\}\}")
PROGRAM_KINDS = ("python_file", "notebook")
# The lakegate the tests run (this checkout's version): what a job cluster must install.
TESTED_LAKEGATE = "lakegate==" + tomllib.loads((EXAMPLES.parents[2] / "pyproject.toml").read_text())["project"]["version"]


# --- the JSON side, read as Terraform and Databricks read it ------------------------------------------------

def stack_json(synthesized, env: str) -> dict:
    """The file Terraform reads for `<env>-databricks`, from disk."""
    path = Path(synthesized.outdir) / "stacks" / f"{env}-databricks" / "cdk.tf.json"
    return json.loads(path.read_text())


def resolve(value, stack: dict):
    """`${type.name.attribute}` replaced by that resource's literal attribute (recursively); unknown stays."""
    if isinstance(value, dict):
        return {k: resolve(v, stack) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, stack) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        kind, name, attribute = match.groups()
        found = stack.get("resource", {}).get(kind, {}).get(name, {}).get(attribute)
        return resolve(found, stack) if isinstance(found, str) else match.group(0)

    return _TERRAFORM_REFERENCE.sub(one, value)


def job_by_reference(stack: dict, reference: str) -> dict | None:
    """The `databricks_job` a `${databricks_job.X.id}` names."""
    match = re.fullmatch(r"\$\{databricks_job\.([A-Za-z0-9_-]+)\.id\}", str(reference))
    return stack.get("resource", {}).get("databricks_job", {}).get(match.group(1)) if match else None


def databricks_argv(parameters: list[str], job_parameters_json: dict[str, str], problems: list[str], where: str):
    """A spark_python_task's parameters as the script receives them: job parameter references resolved."""

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in job_parameters_json:
            problems.append(f"{where}: {{{{job.parameters.{name}}}}} names no parameter of the job")
            return match.group(0)
        return job_parameters_json[name]

    return [_JOB_PARAMETER.sub(one, p) for p in parameters]


def topologically_valid(order: list[str], dependencies: dict[str, set[str]]) -> bool:
    seen: set[str] = set()
    for key in order:
        if not dependencies.get(key, set()) <= seen:
            return False
        seen.add(key)
    return True


# --- the comparison ------------------------------------------------------------------------------------------

def job_problems(env, job, synthesized_job: dict, stack: dict) -> list[str]:
    """Everything in which the deployed job differs from what the runner runs (empty: none)."""
    problems: list[str] = []
    name = f"{env.name}/{job.name}"
    props = local_props(env)
    expected_parameters = job_parameters(job, props)
    planned = planned_tasks(job, props)
    ordered = [t.key for t in runner._ordered(planned)]

    # Job parameters: names, order and values (what a run without overrides gets).
    deployed_parameters = [(p["name"], resolve(p.get("default", ""), stack)) for p in synthesized_job.get("parameter", [])]
    if deployed_parameters != list(expected_parameters.items()):
        problems.append(f"{name}: job parameters differ:\n  deployed {deployed_parameters}\n  runner   "
                        f"{list(expected_parameters.items())}")
    deployed_values = dict(deployed_parameters)

    tasks = {t["task_key"]: t for t in synthesized_job.get("task", [])}
    if [t["task_key"] for t in synthesized_job.get("task", [])] != [t.key for t in planned]:
        problems.append(f"{name}: tasks differ: deployed {list(tasks)}, runner {[t.key for t in planned]}")
    dependencies = {key: {d["task_key"] for d in t.get("depends_on", [])} for key, t in tasks.items()}
    if not topologically_valid(ordered, dependencies):
        problems.append(f"{name}: the runner's order {ordered} runs a task before a deployed dependency {dependencies}")
    clusters = {c["job_cluster_key"] for c in synthesized_job.get("job_cluster", [])}

    for task in planned:
        deployed = tasks.get(task.key)
        where = f"{name} task {task.key}"
        if deployed is None:
            continue
        deployed_depends = sorted((d["task_key"], d.get("outcome")) for d in deployed.get("depends_on", []))
        expected_depends = sorted((d.task, d.outcome) for d in task.depends_on)
        if deployed_depends != expected_depends:
            problems.append(f"{where}: depends on {deployed_depends}, the runner waits for {expected_depends}")
        kinds = [k for k in ("spark_python_task", "notebook_task", "condition_task", "run_job_task") if k in deployed]
        if len(kinds) != 1:
            problems.append(f"{where}: deployed as {kinds or 'nothing'}, the runner runs a {task.kind} task")
            continue
        if task.kind in PROGRAM_KINDS:
            if deployed.get("job_cluster_key") != task.cluster or task.cluster not in clusters:
                problems.append(f"{where}: runs on cluster {deployed.get('job_cluster_key')!r} "
                                f"(job clusters {sorted(clusters)}), planned {task.cluster!r}")
            if deployed.get("max_retries", 0) != task.max_retries:
                problems.append(f"{where}: max_retries {deployed.get('max_retries', 0)}, planned {task.max_retries}")
            if task.libraries != (TESTED_LAKEGATE,):
                problems.append(f"{where}: the plan installs {task.libraries}, the tests run {TESTED_LAKEGATE}")
            if deployed.get("library") != [{"pypi": {"package": TESTED_LAKEGATE}}]:
                problems.append(f"{where}: the cluster installs {deployed.get('library')}, the tests run {TESTED_LAKEGATE}")
        elif "library" in deployed:
            problems.append(f"{where}: a {task.kind} task installs {deployed['library']}")
        if task.kind == "python_file":
            program = deployed.get("spark_python_task")
            if program is None:
                problems.append(f"{where}: deployed as {kinds[0]}, the runner runs python file {task.python_file}")
                continue
            if program["python_file"] != task.python_file:
                problems.append(f"{where}: deployed file {program['python_file']}, the runner runs {task.python_file}")
            argv = databricks_argv(resolve(program.get("parameters", []), stack), deployed_values, problems, where)
            expected_argv = runner._arguments(task, dict(expected_parameters))
            if argv != expected_argv:
                problems.append(f"{where}: the script receives\n  deployed {argv}\n  runner   {expected_argv}")
        elif task.kind == "notebook":
            program = deployed.get("notebook_task")
            if program is None:
                problems.append(f"{where}: deployed as {kinds[0]}, the runner runs notebook {task.notebook}")
                continue
            if program["notebook_path"] != task.notebook:
                problems.append(f"{where}: deployed notebook {program['notebook_path']}, the runner runs {task.notebook}")
            # Databricks pushes the job parameters down to a notebook task as widgets, over its base parameters.
            widgets = {**resolve(program.get("base_parameters", {}), stack), **deployed_values}
            expected_widgets = runner._widgets(task, dict(expected_parameters))
            if widgets != expected_widgets:
                problems.append(f"{where}: the notebook's widgets\n  deployed {widgets}\n  runner   {expected_widgets}")
        elif task.kind == "condition":
            condition = deployed.get("condition_task")
            found = (condition["left"], condition["op"], condition["right"]) if condition else None
            if found != task.condition:
                problems.append(f"{where}: condition {found}, the runner evaluates {task.condition}")
        else:
            started = job_by_reference(stack, (deployed.get("run_job_task") or {}).get("job_id"))
            target = f"{env.name}-{task.run_job}"
            if started is None or started.get("name") != target:
                problems.append(f"{where}: starts {started and started.get('name')!r}, the runner starts {target!r}")
    return problems


def deployed_jobs(stack: dict) -> dict[str, dict]:
    """The stack's jobs by their Databricks name."""
    return {job["name"]: job for job in stack.get("resource", {}).get("databricks_job", {}).values()}


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_job_deploys_what_the_runner_runs(envs, synthesized, env_name):
    env = envs[env_name]
    stack = stack_json(synthesized, env_name)
    jobs = deployed_jobs(stack)
    assert env.jobs, f"{env_name} has no job to compare"
    assert sorted(jobs) == sorted(f"{env_name}-{job.name}" for job in env.jobs), \
        "the stack deploys other jobs than the runner knows"
    problems = [p for job in env.jobs for p in job_problems(env, job, jobs[f"{env_name}-{job.name}"], stack)]
    assert not problems, "\n".join(problems)


# The examples' jobs are all models' own; a hand-written job (workflows.jobs) has what they lack: two clusters (one
# single node), tasks naming their cluster, a fan-in, the job's own parameters, task parameters, retries, a smoke
# test, and retraining on drift from a notebook that starts another hand-written job.
HAND_WRITTEN = """  jobs:
    - name: adhoc-retrain
      model: churn
      description: A hand-written job beside the models' own
      clusters:
        - {key: small, policy: dev-small, node_type: Standard_DS3_v2, min_workers: 0, max_workers: 0}
        - {key: wide, policy: dev-small, node_type: Standard_D4ds_v5, min_workers: 1, max_workers: 4}
      parameters: {epochs: "3", sample_fraction: "0.5"}
      smoke_test: {sample_fraction: 0.1, epochs: 1}
      max_retries: 1
      retrain_on_drift: {task: drift, threshold: 0.4, job: adhoc-train, cooldown_hours: 12}
      tasks:
        - {key: unpack, cluster: small, python_file: pipelines/monitoring/unpack_inference_table.py,
           parameters: {payload_table: monitoring.churn_payload, inference_table: monitoring.churn_inference, label: churned}}
        - {key: drift, cluster: small, notebook: pipelines/monitoring/refresh_monitor, depends_on: [unpack],
           parameters: {inference_table: monitoring.churn_inference, baseline_table: monitoring.churn_baseline,
                        features_table: features.churn_features, label: churned}}
        - {key: train, cluster: wide, python_file: pipelines/training/train.py, depends_on: [unpack, drift]}
    - name: adhoc-train
      model: churn
      clusters: [{key: main, policy: dev-small, node_type: Standard_DS3_v2}]
      tasks: [{key: train, python_file: pipelines/training/train.py, parameters: {epochs: "2"}}]
  experiments:
"""


@pytest.fixture(scope="module")
def hand_written(tmp_path_factory):
    """dev with a hand-written job, loaded and synthesized alone into a temporary cdktf.out."""
    from lakegate.infra.loader import load_environments
    from lakegate.infra.synth import synthesize

    folder = copy_examples(tmp_path_factory.mktemp("hand-written") / "environments")
    edit(folder / "dev.yaml", "  experiments:\n", HAND_WRITTEN)
    envs = load_environments(folder)
    return envs, synthesize(envs, folder.parent / "cdktf.out", only=["dev"])


def test_a_hand_written_job_deploys_what_the_runner_runs(hand_written):
    envs, synthesized = hand_written
    env = envs["dev"]
    job = env.job("adhoc-retrain")
    assert {j.name for j in env.workflows.jobs} == {"adhoc-retrain", "adhoc-train"}
    stack = stack_json(synthesized, "dev")
    jobs = deployed_jobs(stack)
    assert sorted(jobs) == sorted(f"dev-{j.name}" for j in env.jobs)
    planned = {t.key: t for t in planned_tasks(job, local_props(env))}
    assert {t.cluster for t in planned.values() if t.kind in PROGRAM_KINDS} == {"small", "wide"}
    assert {t.kind for t in planned.values()} == {"python_file", "notebook", "condition", "run_job"}
    problems = [p for j in env.jobs for p in job_problems(env, j, jobs[f"dev-{j.name}"], stack)]
    assert problems == []


def test_the_examples_cover_every_kind_of_task(envs):
    """Every kind of task and dependency the plan knows is among the examples compared above."""
    kinds, outcomes, conditions = set(), set(), set()
    for env in envs:
        for job in env.jobs:
            for task in planned_tasks(job, local_props(env)):
                kinds.add(task.kind)
                outcomes |= {d.outcome for d in task.depends_on}
                conditions |= {task.condition[1]} if task.condition else set()
    assert kinds == {"python_file", "notebook", "condition", "run_job"}
    assert {None, "true"} <= outcomes and {"GREATER_THAN", "EQUAL_TO"} <= conditions


# --- the comparison itself fails on a wiring mistake (the JSON edited the way a bug in workflows.py would) -----

def _monitoring(envs, synthesized):
    env = envs["prod"]
    stack = stack_json(synthesized, "prod")
    job = env.job("churn-monitoring")
    return env, job, stack, deployed_jobs(stack)[f"prod-{job.name}"]


def _broken(synthesized_job: dict, change) -> dict:
    copy = json.loads(json.dumps(synthesized_job))
    change(copy)
    return copy


def _task(job_json: dict, key: str) -> dict:
    return next(t for t in job_json["task"] if t["task_key"] == key)


MISTAKES = {
    "a dropped depends_on": (lambda j: _task(j, "refresh_monitor").pop("depends_on"), "depends on []"),
    "a lost condition outcome": (lambda j: _task(j, "retrain")["depends_on"][0].pop("outcome"), "depends on"),
    "a renamed job parameter": (lambda j: j["parameter"][2].update(name="model"), "job parameters differ"),
    "a task parameter renamed": (lambda j: _task(j, "unpack_inference_table")["spark_python_task"]["parameters"]
                                 .__setitem__(4, "--payload=monitoring.churn_payload"), "the script receives"),
    "a reference to a missing job parameter": (
        lambda j: _task(j, "unpack_inference_table")["spark_python_task"]["parameters"]
        .__setitem__(0, "--environment={{job.parameters.env}}"), "names no parameter"),
    "a widget lost": (lambda j: _task(j, "refresh_monitor")["notebook_task"]["base_parameters"].pop("drift_value"),
                      "widgets"),
    "another notebook": (lambda j: _task(j, "refresh_monitor")["notebook_task"].update(notebook_path="x/y"),
                         "deployed notebook"),
    "a condition flipped": (lambda j: _task(j, "drift_above_threshold")["condition_task"].update(op="LESS_THAN"),
                            "condition"),
    "another job started": (lambda j: _task(j, "retrain")["run_job_task"].update(
        job_id="${databricks_job.workflows_job_validate_4A4757E8.id}"), "starts"),
    "a task dropped": (lambda j: j["task"].pop(), "tasks differ"),
    "a retry lost": (lambda j: _task(j, "unpack_inference_table").update(max_retries=3), "max_retries"),
    "another lakegate on the cluster": (lambda j: _task(j, "refresh_monitor")["library"][0]["pypi"].update(
        package="lakegate"), "the cluster installs"),
    "no lakegate on the cluster": (lambda j: _task(j, "unpack_inference_table").pop("library"), "the cluster installs"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_wiring_mistake_is_a_mismatch(envs, synthesized, mistake):
    env, job, stack, synthesized_job = _monitoring(envs, synthesized)
    assert job_problems(env, job, synthesized_job, stack) == []
    change, expected = MISTAKES[mistake]
    problems = job_problems(env, job, _broken(synthesized_job, change), stack)
    assert problems and any(expected in p for p in problems), problems
