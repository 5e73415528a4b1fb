"""Failures of a pipeline run, each naming its exit code (cli/exit_codes.py); never a traceback for a user error."""

from __future__ import annotations


class PipelineError(Exception):
    """A task or the runner refused to go on for a reason people can fix. `kind` names the exit code."""

    kind = "INVALID_REQUEST"


class UnknownJob(PipelineError):
    """The job (or environment) asked for is not in the definitions: the request is wrong, not the YAML (exit 6)."""


class MissingTable(PipelineError):
    """A task needs a table another job writes: the message names the job to run."""


class MissingModel(PipelineError):
    """No version to load (no champion yet, unknown alias)."""


class TaskArguments(PipelineError):
    """A task was given arguments it cannot parse (a wrong `--param NAME=VALUE`, a job parameter of the wrong type)."""


class TaskFileRefused(PipelineError):
    """A job's task file is not a task module of the framework inside the project's pipelines/ (the YAML is wrong)."""

    kind = "INVALID_DEFINITIONS"
