"""`ci simulate`: run what CI would run for an event, in order, on this machine, against the local registry.

It walks the same plan `ci render` writes (ci/plan.py), so the two cannot drift: every step of every job
the event starts is shown, in order, and either
* runs: its command, in a subprocess, from the project folder, with the run's temp folder in place of
  the runner's (`$RUNNER_TEMP`, `$(Agent.TempDirectory)`);
* runs its local equivalent: a step that needs the cloud and has a local twin (`promote --registry
  databricks` becomes `promote` on the local registry) runs the twin;
* is skipped, with why: it needs the cloud (azure/login, doctor, cdktf deploy), it provisions a runner
  (checkout, setup-python, `make`: this checkout is used as it is), `--skip ID` said so, or an earlier
  step failed (cleanup steps still run);
* or is a note: what the job deliberately does not do (shown as in the YAML comment).
Deploy events need what the cloud already holds before their first promotion (a model trained in the
first environment, champions up the promotion path); simulate creates those locally first, marked as
local stand-ins, and stops the local registry at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .commands import local_argv, shell_line
from .plan import Note, Plan, Step, Workflow

from lakegate.project import project_root
CI_TMP = {"github": "$RUNNER_TEMP", "azure-devops": "$(Agent.TempDirectory)"}
STATUSES = ("ran", "expected", "failed", "skipped", "note", "listed")


@dataclass
class StepResult:
    workflow: str
    job: str
    step: str
    name: str
    status: str                     # ran | expected | failed | skipped | note
    reason: str = ""
    command: list[str] = field(default_factory=list)   # what runs here
    ci_command: str = ""                               # what the CI job runs (a shell line), "" for platform steps
    exit_code: int | None = None
    seconds: float = 0.0
    local_stand_in: bool = False


@dataclass
class Simulation:
    event: str
    platform: str
    temp_dir: str
    workflows: list[str]
    steps: list[StepResult]

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def exit_code(self) -> int:
        failed = self.failed
        return 0 if failed is None else (failed.exit_code or 1)

    def counts(self) -> dict[str, int]:
        return {status: sum(1 for s in self.steps if s.status == status) for status in STATUSES}

    def as_dict(self) -> dict:
        return {"event": self.event, "platform": self.platform, "temp_dir": self.temp_dir,
                "workflows": self.workflows, "ok": self.failed is None, "counts": self.counts(),
                "steps": [asdict(s) for s in self.steps]}


Reporter = Callable[[str, object], None]   # ("workflow", Workflow) | ("step", StepResult) | ("start", StepResult)


def simulate(plan: Plan, event: str, *, skip: frozenset[str] = frozenset(), list_only: bool = False,
             python: str = sys.executable, temp_dir: str | None = None, report: Reporter | None = None,
             capture: bool = False) -> Simulation:
    report = report or (lambda kind, item: None)
    workflows = plan.for_event(event)
    tmp = temp_dir or tempfile.mkdtemp(prefix="lakegate-ci-")
    result = Simulation(event, plan.platform, tmp, [w.name for w in workflows], [])
    failed = False

    def execute(workflow: str, job: str, step: Step | Note, stand_in: bool = False) -> None:
        nonlocal failed
        if isinstance(step, Note):
            outcome = StepResult(workflow, job, step.id, step.id, "note", step.text)
            result.steps.append(outcome)
            report("step", outcome)
            return
        outcome = StepResult(workflow, job, step.id, step.name, "skipped", local_stand_in=stand_in)
        argv = step.local if step.local is not None else (step.run if step.cloud is None else None)
        if argv:
            outcome.command = local_argv(argv, python, tmp, plan.platform)
        if step.run and step.ci:
            outcome.ci_command = shell_line(step.run, CI_TMP[plan.platform], plan.platform)
        if step.setup:
            outcome.reason = _setup_reason(step)
        elif step.id in skip:
            outcome.reason = f"--skip {step.id}"
        elif failed and not step.always:
            outcome.reason = "an earlier step failed"
        elif argv is None:
            outcome.reason = f"needs the cloud: {step.cloud}"
        elif list_only:
            outcome.status = "listed"
            outcome.reason = f"local equivalent of a cloud step ({step.cloud})" if step.local and step.cloud else ""
        else:
            if step.local is not None and step.cloud:
                outcome.reason = f"local equivalent of a cloud step ({step.cloud})"
            report("start", outcome)
            started = time.perf_counter()
            code = _run(outcome.command, capture)
            outcome.seconds = round(time.perf_counter() - started, 2)
            outcome.exit_code = code
            expected = dict(step.expected)
            if code == 0:
                outcome.status = "ran"
            elif code in expected:
                outcome.status, outcome.reason = "expected", f"exit {code}: {expected[code]}"
            else:
                outcome.status = "failed"
                outcome.reason = f"exit {code}"
                failed = True
        result.steps.append(outcome)
        report("step", outcome)

    needs_registry = event in plan.stand_ins
    try:
        if needs_registry:
            report("section", "local stand-ins (not in CI: what the cloud already holds)")
            for step in plan.stand_ins[event]:
                execute("local stand-ins", "-", step, stand_in=True)
        for workflow in workflows:
            report("workflow", workflow)
            for job in workflow.jobs:
                for step in job.steps:
                    execute(workflow.name, job.id, step)
    finally:
        if needs_registry:
            for step in plan.cleanup:
                execute("local stand-ins", "-", step, stand_in=True)
    return result


def _setup_reason(step: Step) -> str:
    if step.platform == "checkout":
        return "this checkout is used as it is"
    if step.platform == "python":
        return f"{sys.executable} is used"
    if step.platform == "terraform":
        found = shutil.which("terraform")
        return f"{found} is used" if found else "no terraform on PATH here (only tests and cdktf deploy need it)"
    return "this checkout's .venv and .tools are used (`make .venv/.installed tools` installs them)"


def _run(argv: list[str], capture: bool) -> int:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        completed = subprocess.run(argv, cwd=project_root(), env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE if capture else None,
                                   stderr=subprocess.STDOUT if capture else None, check=False)
    except FileNotFoundError:
        return 127
    if capture and completed.stdout:
        sys.stderr.write(completed.stdout.decode(errors="replace"))
    return completed.returncode


def describe(workflow: Workflow, plan: Plan) -> str:
    start = {"pull_request": f"a pull request to {workflow.branch}", "push": f"a push to {workflow.branch}",
             "release": "a published release"}[workflow.event]
    return f"after `{plan.workflow(workflow.after).name}` succeeded" if workflow.after else f"on {start}"
