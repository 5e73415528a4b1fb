"""The plan's data: steps, notes, jobs, workflows (ci/plan.py decides them; the renderers and the simulator
read them), and the placeholders a step's argv may hold."""

from __future__ import annotations

from dataclasses import dataclass, field

from lakegate.infra.model.grants import AzureDevOpsOidc, GithubOidc

DEFAULT_ENVIRONMENTS = "environments"

# Placeholders the renderers and the simulator substitute: the project's Python, a temp folder of the
# run, and the CI platform's name (for `approve --ci`).
PYTHON = "{python}"
TMP = "{tmp}"
STATE = "{tmp}/lakegate"
PLATFORM = "{platform}"
CDKTF = ".tools/bin/cdktf"
PLANS = f"{TMP}/cdktf.out"   # the environment's synthesized stacks, each with its saved plan (tfplan)
PLAN_FILE = "tfplan"


@dataclass(frozen=True)
class Step:
    """One step. `run` is an argv with placeholders; `platform` steps (checkout, python, login) are the CI
    platform's own (an action or a task) and have no command."""

    id: str
    name: str
    run: tuple[str, ...] = ()
    platform: str | None = None          # checkout | python | terraform | login | upload | download
    cloud: str | None = None             # why it cannot run on this machine (simulate shows it skipped)
    local: tuple[str, ...] | None = None  # what simulate runs instead, against the local registry
    expected: tuple[tuple[int, str], ...] = ()  # exit codes of `local` that are the expected outcome, and why
    identity: bool = False               # runs as the environment's principal (OIDC variables, login)
    always: bool = False                 # also after a failed step (cleanup)
    ci: bool = True                      # False: a local stand-in only simulate runs
    setup: bool = False                  # provisions the runner; simulate uses this checkout instead


@dataclass(frozen=True)
class Note:
    """Something a job deliberately does not do, and why: a comment in the YAML, a line in simulate."""

    id: str
    text: str


@dataclass(frozen=True)
class CiIdentity:
    """The environment's principal as CI presents it: its OIDC subject on each platform."""

    env: str
    principal: str
    tenant_id: str
    subscription_id: str
    github: GithubOidc | None
    azure_devops: AzureDevOpsOidc | None
    credentials_strategy: str | None

    @property
    def github_environment(self) -> str | None:
        return self.github.environment if self.github else None


@dataclass(frozen=True)
class Job:
    id: str
    name: str
    steps: tuple[Step | Note, ...]
    env: str | None = None
    identity: CiIdentity | None = None
    approval: bool = False               # waits for the platform's environment approval (reviewers)
    timeout_minutes: int = 60
    needs: str | None = None             # id of the job of the same workflow that must succeed first
    gated: bool = True                   # Azure DevOps: a deployment job on the environment (its approvals)
    artifact: str | None = None          # name of the artifact it uploads or downloads (the saved plans)

    def runnable(self) -> list[Step]:
        return [s for s in self.steps if isinstance(s, Step)]

    @property
    def promotes(self) -> bool:
        """Whether it talks to the environment's workspace (so it needs DATABRICKS_HOST)."""
        return any(s.id.startswith("promote-") for s in self.runnable())


@dataclass(frozen=True)
class Workflow:
    id: str                              # file stem (GitHub) / stage id (Azure DevOps)
    name: str
    event: str                           # pull_request | push | release
    branch: str                          # push / pull_request: the branch; workflow_run: the source's
    after: str | None                    # id of the workflow whose success starts this one
    jobs: tuple[Job, ...]
    env: str | None = None


@dataclass(frozen=True)
class Plan:
    platform: str
    workflows: tuple[Workflow, ...]
    environments_dir: str = DEFAULT_ENVIRONMENTS
    first_env: str | None = None
    stand_ins: dict[str, tuple[Step, ...]] = field(default_factory=dict)   # event -> local-only prelude
    cleanup: tuple[Step, ...] = ()       # local-only, after every simulated event that needed the registry

    def workflow(self, id: str) -> Workflow:
        return next(w for w in self.workflows if w.id == id)

    def for_event(self, event: str) -> list[Workflow]:
        """The workflows an event starts, then those chained after them, in order."""
        started = [w for w in self.workflows if w.event == event and w.after is None]
        ordered, frontier = list(started), list(started)
        while frontier:
            current = frontier.pop(0)
            for follower in self.workflows:
                if follower.after == current.id and follower not in ordered:
                    ordered.append(follower)
                    frontier.append(follower)
        return ordered

    def deploy_workflows(self) -> list[Workflow]:
        return [w for w in self.workflows if w.env is not None]
