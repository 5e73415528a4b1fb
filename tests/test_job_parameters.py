"""Job parameters: typed, confined to their environment, and task files that are the repository's (issue 16, 1-3).

Every refusal here happens before a task starts, so no registry is needed: the tests run jobs in-process on a
temporary state folder and assert the exit code's kind, the one-line message, and that nothing was written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lakegate.project import TOOLKIT_ROOT
from lakegate.cli.failures import kind_of
from lakegate.infra.constructs.databricks.job_plan import job_parameters, local_props, planned_tasks
from lakegate.infra.guardrails.rules_databricks import _missing_program, parameter_problems
from lakegate.infra.model.workflows import Task
from lakegate.pipelines import parameters as declared, runner, runtime
from lakegate.pipelines.inference import score
from lakegate.pipelines.parameters import ParameterProblem
from lakegate.pipelines.runner import run_job

from .helpers import variant

CODES = {"USAGE": 64, "INVALID_REQUEST": 6, "PERMISSION_REFUSED": 4, "INVALID_DEFINITIONS": 2}


def refused(envs, state: Path, env: str, job: str, **overrides) -> tuple[int, str]:
    """(exit code, message) of a run refused before any task started; nothing may have been written."""
    with pytest.raises(Exception) as caught:
        run_job(envs, env, job, state_dir=state, echo=False, overrides=overrides)
    message = str(caught.value)
    assert "\n" not in message and not (state / "lakehouse").exists(), message
    return CODES[kind_of(caught.value)], message


def accepted(envs, env: str, job: str, **overrides) -> None:
    """The runner's checks (the same ones `run` makes first) let these overrides through."""
    environment = envs[env]
    planned = planned_tasks(environment.job(job), local_props(environment))
    runner._check_parameters(envs, environment, planned, job_parameters(environment.job(job), local_props(environment)),
                             overrides)


# -- 1. every object a job touches belongs to its environment ---------------------------------------------------

CROSSINGS = [
    ("prod", "churn-batch-inference", {"model_name": "staging.ml.churn"}, "a model never crosses environments"),
    ("dev", "churn-train", {"model_name": "prod.ml.churn"}, "a model never crosses environments"),
    ("staging", "churn-validate", {"model_name": "prod.ml.churn"}, "a model never crosses environments"),
    ("prod", "churn-deploy", {"model_name": "dev.ml.churn"}, "a model never crosses environments"),
    ("dev", "churn-feature-refresh", {"output_table": "prod.features.churn_features"}, "writes only its own catalog"),
    ("dev", "churn-feature-refresh", {"validation_table": "staging.features.churn_validation"}, "writes only its own"),
    ("dev", "churn-train", {"baseline_table": "prod.monitoring.churn_baseline"}, "writes only its own catalog dev"),
    ("prod", "churn-batch-inference", {"output_table": "dev.predictions.x"}, "writes only its own catalog prod"),
    ("dev", "churn-train", {"features_table": "nowhere.features.churn_features"}, "belongs to no environment"),
    ("staging", "churn-train", {"features_table": "prod.features.churn_features"}, "may not read it"),
    ("prod", "churn-batch-inference", {"features_table": "staging.features.churn_features"}, "may not read it"),
    ("dev", "churn-train", {"catalog": "prod"}, "dev's catalog is dev"),
    ("dev", "churn-train", {"environment": "prod"}, "the environment is dev"),
    ("dev", "churn-train", {"lakegate_catalog": "prod"}, "dev's catalog is dev"),
    ("prod", "churn-batch-inference", {"lakegate_environment": "staging"}, "the environment is prod"),
    ("prod", "churn-deploy", {"endpoint": "churn-staging"}, "an endpoint of staging, not prod"),
]


@pytest.mark.parametrize("env,job,overrides,reason", CROSSINGS, ids=[f"{c[0]}-{c[1]}-{next(iter(c[2]))}" for c in CROSSINGS])
def test_a_crossing_is_refused_with_exit_4_before_anything_runs(envs, tmp_path, env, job, overrides, reason):
    code, message = refused(envs, tmp_path, env, job, **overrides)
    assert code == 4 and reason in message, message


def test_own_names_and_bound_reads_pass(envs):
    accepted(envs, "dev", "churn-train", model_name="dev.ml.churn", features_table="dev.features.churn_features")
    accepted(envs, "dev", "churn-train", model_name="churn", lakegate_environment="dev", catalog="dev")
    # Reading another catalog is for the grants to decide: with SELECT granted (and dev bound read-only to prod),
    # dev's job may read prod's features; writing there stays refused.
    from .test_databricks_rules import with_grant

    granted = with_grant(with_grant(envs, "prod", "sp-lakegate-dev", "catalog prod", ["USE_CATALOG"]),
                         "prod", "sp-lakegate-dev", "schema prod.features", ["USE_SCHEMA", "SELECT"])
    accepted(granted, "dev", "churn-train", features_table="prod.features.churn_features")
    with pytest.raises(ParameterProblem, match="writes only its own catalog dev"):
        accepted(granted, "dev", "churn-feature-refresh", output_table="prod.features.churn_features")


def test_the_environment_is_baked_into_each_task_and_a_job_parameter_cannot_change_it(envs):
    """On Databricks a run-now override changes job parameters only: the task's baked values refuse it."""
    prod = envs["prod"]
    [task] = planned_tasks(prod.job("churn-batch-inference"), local_props(prod))
    assert task.arguments[-2:] == ("--lakegate_environment=prod", "--lakegate_catalog=prod")
    notebook = planned_tasks(prod.job("churn-monitoring"), local_props(prod))[1]
    assert {k: notebook.base_parameters[k] for k in declared.BAKED} == {"lakegate_environment": "prod",
                                                                        "lakegate_catalog": "prod"}
    baked = ["--lakegate_environment=prod", "--lakegate_catalog=prod", "--features_table=features.churn_features"]
    for override, reason in [("--model_name=staging.ml.churn", "a model never crosses"),
                             ("--catalog=staging", "prod's catalog is prod"), ("--environment=staging", "is prod"),
                             ("--output_table=staging.predictions.churn_scores", "writes only its own catalog prod"),
                             ("--lakegate_environment=staging", "baked into the task")]:
        argv = ["--environment=prod", "--catalog=prod", "--model_name=prod.ml.churn", override, *baked]
        with pytest.raises(ParameterProblem, match=reason) as caught:
            score.main(argv)  # refused while parsing: before any runtime, table or registry is touched
        assert caught.value.kind == "PERMISSION_REFUSED"


def test_the_runtime_resolves_model_names_in_its_own_environment(envs, tmp_path):
    rt = runtime.LocalRuntime(envs, "prod", tmp_path)
    assert rt.model_full_name("churn") == "prod.ml.churn" and rt.model_full_name("prod.ml.churn") == "prod.ml.churn"
    with pytest.raises(ParameterProblem, match="a model never crosses environments") as caught:
        rt.model_full_name("staging.ml.churn")
    assert kind_of(caught.value) == "PERMISSION_REFUSED"


# -- 2. task files are the repository's files -------------------------------------------------------------------

OUTSIDE = ["/tmp/evil.py", "../x/evil.py", "pipelines/../main.py", "json.py", "os", "pipelines/runtime.py",
           "pipelines/__init__.py", "site-packages/yaml/__init__.py", "pipelines\\training\\train.py"]


@pytest.mark.parametrize("path", OUTSIDE)
def test_a_task_file_outside_the_pipelines_or_no_task_module_fails_check_and_run(envs, tmp_path, path):
    from .test_databricks_rules import with_custom_job

    changed = with_custom_job(envs, "dev", "churn-train", task={"python_file": path})
    problem = _missing_program(changed["dev"].job("adhoc-train").tasks[0], TOOLKIT_ROOT)
    assert problem is not None and problem.startswith(f"file={path}"), problem
    code, message = refused(changed, tmp_path, "dev", "adhoc-train")
    assert code == 2 and f"task train: {path} " in message and "LG-JOB-002" in message


def test_a_committed_symlink_pointing_outside_is_refused_in_a_copy_of_the_project(envs, tmp_path, monkeypatch):
    root, evil = tmp_path / "project", tmp_path / "elsewhere" / "evil.py"
    evil.parent.mkdir()
    marker = tmp_path / "imported"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\ndef main(argv):\n    return 0\n")
    for module in declared.TASKS:
        target = root / (module if module.endswith(".py") else f"{module}.py")
        target.parent.mkdir(parents=True, exist_ok=True)
        source = TOOLKIT_ROOT / target.relative_to(root)
        target.write_bytes(source.read_bytes())
    train = root / "pipelines" / "training" / "train.py"
    train.unlink()
    train.symlink_to(evil)
    task = Task(key="train", python_file="pipelines/training/train.py")
    assert "resolves outside the project's pipelines/" in _missing_program(task, root)
    assert _missing_program(Task(key="s", python_file="pipelines/inference/score.py"), root) is None
    monkeypatch.setenv("LAKEGATE_PROJECT_ROOT", str(root))
    code, message = refused(envs, tmp_path / "state", "dev", "churn-train")
    assert code == 2 and "resolves outside the project's pipelines/" in message and not marker.exists()


# -- 3. parameters are typed ------------------------------------------------------------------------------------

BAD_VALUES = [
    ("epochs", "many", 6), ("epochs", "0", 6), ("epochs", "1e9", 6), ("seed", "-1", 6), ("quality", "x" * 600, 6),
    ("features_table", "../../../x", 6), ("features_table", "/etc/passwd", 6), ("features_table", "a.b.c.d", 6),
    ("model_name", "../x", 6), ("model_name", "prod.ml", 6), ("sample_fraction", "nan", 6),
    ("sample_fraction", "2", 6), ("task_type", "clustering", 6), ("smoke_test", "maybe", 6),
    ("model_code", "../../etc/passwd.py", 6), ("label", "a b", 6), ("experiment", "line\nbreak", 6),
    ("quality_monitors", "{not json", 6), ("epochs", "", 6),
    ("nope", "1", 64), ("bad-name", "1", 64), ("alpha", "0.5", 64), ("x" * 70, "1", 64),
]


@pytest.mark.parametrize("name,value,code", BAD_VALUES, ids=[f"{b[0][:12]}={b[1][:12]!r}" for b in BAD_VALUES])
def test_a_bad_param_gets_its_exit_code_and_one_line(envs, tmp_path, name, value, code):
    got, message = refused(envs, tmp_path, "dev", "churn-train", **{name: value})
    assert got == code and len(message) < 300, message


def test_the_models_own_training_parameters_are_declared(envs):
    accepted(envs, "dev", "demand-train", alpha="0.5")     # models.demand.training.parameters
    accepted(envs, "dev", "churn-train", epochs="3", sample_fraction="0.5", seed="11", quality="poor")


def test_the_command_line_refuses_bad_syntax_with_64(envs, tmp_path, capsys):
    from lakegate.cli.app import main

    examples = TOOLKIT_ROOT / "environments"
    for args, code in [(["--param", "epochs"], 64), (["--param", "=1"], 64), (["--param", "a b=1"], 64),
                       (["--param", "epochs=many"], 6), (["--param", "model_name=prod.ml.churn"], 4)]:
        got = main(["run", "churn-train", "--env", "dev", *args, "--environments", str(examples),
                    "--state-dir", str(tmp_path / "state")])
        err = capsys.readouterr().err
        assert got == code and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, got, err)


def test_check_types_the_yaml_parameters_without_importing_code(envs):
    from .test_databricks_rules import with_custom_job

    cases = [({"parameters": {"epochs": "many"}}, "epochs='many': not an integer"),
             ({"task": {"parameters": {"features_table": "../x"}}}, "features_table='../x': not a table name"),
             ({"parameters": {"model_name": "staging.ml.churn"}}, "crosses environments"),
             ({"task": {"parameters": {"baseline_table": "prod.monitoring.b"}}}, "writes only its own catalog dev")]
    for change, reason in cases:
        changed = with_custom_job(envs, "dev", "churn-train", **change)
        found = [subject for _, subject in parameter_problems(changed["dev"], changed["dev"].job("adhoc-train"))]
        assert len(found) == 1 and reason in found[0], (change, found)
    assert not [p for env in envs for job in env.jobs for p in parameter_problems(env, job)]


NAMES = st.sampled_from(sorted(declared.REGISTRY) + ["alpha", "nope", "", "a b", "x" * 70])
VALUES = st.one_of(st.text(max_size=300), st.sampled_from(
    ["prod.ml.churn", "dev.ml.churn", "churn", "dev.features.x", "prod.features.x", "../x", "/abs", "7", "0.5",
     "true", "prod", "dev", "[]", "champion", "x" * 600]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(NAMES, VALUES), max_size=3))
def test_param_parsing_is_refused_with_its_exit_code_or_accepted_and_inert(envs, pairs):
    """Whatever `--param` gets: refused with 64/6/4 and one line, or accepted, and then the task sees exactly the
    string given, still in dev (baked), with its model in dev's catalog, and parses it without a refusal."""
    from lakegate.cli.pipeline_commands import _parameters

    dev = envs["dev"]
    job = dev.job("churn-train")
    [planned] = planned_tasks(job, local_props(dev))
    params = job_parameters(job, local_props(dev))
    try:
        overrides = _parameters([f"{name}={value}" for name, value in pairs])
        runner._check_parameters(envs, dev, [planned], params, overrides)
    except ParameterProblem as error:
        assert error.kind in ("USAGE", "INVALID_REQUEST", "PERMISSION_REFUSED") and "\n" not in str(error)
        return
    argv = runner._arguments(planned, {**params, **overrides})
    for name, value in overrides.items():
        assert f"--{name}={value}" in argv
    parser = runtime.task_parser("train")
    runtime.model_arguments(parser)
    for name in ("features_table", "baseline_table", "experiment", "quality"):
        parser.add_argument(f"--{name}", default="")
    for name, kind in (("epochs", int), ("sample_fraction", float), ("seed", int)):
        parser.add_argument(f"--{name}", type=kind, default=1)
    args = runtime.parse(parser, argv)
    assert (args.environment, args.lakegate_environment, args.lakegate_catalog) == ("dev", "dev", "dev")
    assert args.catalog == "dev" and (args.model_name.count(".") < 2 or args.model_name.startswith("dev."))
    assert os.path.isabs(args.features_table) is False
