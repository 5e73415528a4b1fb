"""What every task parses: the job's parameters as `--name=value` arguments, each of its declared type, confined to
the environment job_plan.py baked into the task (pipelines/parameters.py). pipelines/runtime.py re-exports these:
task modules call `runtime.task_parser`, `runtime.parse`, `runtime.flag`."""

from __future__ import annotations

import argparse
import sys

from .errors import TaskArguments


def flag(value: str | bool | None) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class _TaskParser(argparse.ArgumentParser):
    """Refuses bad arguments with TaskArguments (the runner names the task; a file run prints one line)."""

    def error(self, message: str):
        raise TaskArguments(message)


def task_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the job parameters every job may pass (job_plan.job_parameters); tasks add their own."""
    parser = _TaskParser(description=description, allow_abbrev=False)
    parser.add_argument("--environment", required=True, help="environment the job belongs to")
    parser.add_argument("--catalog", help="the environment's catalog (default: the environment's)")
    parser.add_argument("--model_name", help="registered model, catalog.schema.model")
    parser.add_argument("--output_table", help="table the job writes, catalog.schema.table")
    parser.add_argument("--smoke_test", default="false", help="true: the pull-request run (sample, epochs, no register)")
    parser.add_argument("--smoke_sample_fraction", type=float, default=0.05, help="smoke run: fraction of the data")
    parser.add_argument("--smoke_epochs", type=int, default=1, help="smoke run: training epochs")
    parser.add_argument("--smoke_register_model", default="false", help="smoke run: register the model anyway")
    parser.add_argument("--quality_monitors", default="[]", help="monitoring jobs: the YAML's quality monitors (JSON)")
    parser.add_argument("--serving_endpoints", default="[]", help="deployment jobs: the YAML's endpoints (JSON)")
    parser.add_argument("--lakegate_environment", help="the environment baked into the task (job_plan.py)")
    parser.add_argument("--lakegate_catalog", help="the catalog baked into the task (job_plan.py)")
    return parser


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """What the framework's tasks are told about their model (baked into the job by infra/model/lifecycle.py)."""
    parser.add_argument("--model_code", default="", help="the project's module of the model (models.<name>.code)")
    parser.add_argument("--task_type", choices=["classification", "regression"], default="classification",
                        help="the model's task type")
    parser.add_argument("--label", default="", help="the model's label column")
    parser.add_argument("--feature_key", default="", help="the model's key column")


def extra_parameters(argv: list[str] | None) -> dict[str, str]:
    """Every `--name=value` argument, as a dict: the job's parameters a user's function may read."""
    found = {}
    for argument in sys.argv[1:] if argv is None else argv:
        if argument.startswith("--") and "=" in argument:
            name, _, value = argument[2:].partition("=")
            found[name] = value
    return found


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, ignoring job parameters this task does not use (every task receives all of the job's)."""
    argv = sys.argv[1:] if argv is None else argv
    args, unknown = parser.parse_known_args(argv)
    stray = [a for a in unknown if not a.startswith("--")]
    if stray:
        parser.error(f"unexpected argument(s): {' '.join(stray)}")
    _confirm(args, argv)
    return args


def _confirm(args: argparse.Namespace, argv: list[str]) -> None:
    """Every `--name=value` of its declared type (pipelines/parameters.py), and, where job_plan.py baked the
    environment into the task, every value of that environment: a job parameter (`environment`, `catalog`,
    `model_name`, a table written) overridden to another one is refused (exit 4) before anything is read."""
    from . import parameters

    for name in parameters.BAKED:
        values = {a.partition("=")[2] for a in argv if a.startswith(f"--{name}=")}
        if len(values) > 1:
            raise parameters.ParameterProblem("PERMISSION_REFUSED", f"parameter {name} is baked into the task; "
                                              f"a run may not change it ({', '.join(sorted(values))})")
    given = extra_parameters(argv)
    for name, value in given.items():
        parameters.check_name(name)
        parameters.check_value(name, value)
    environment, catalog = getattr(args, "lakegate_environment", None), getattr(args, "lakegate_catalog", None)
    if environment and catalog:
        for name, value in given.items():
            parameters.check_confined(name, value, environment, catalog)
