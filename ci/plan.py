"""The plan: which CI jobs run on which event, and their steps, derived from environments/*.yaml.

This is the one place the pipelines are decided. `ci render` turns it into GitHub Actions workflows
(ci/github.py) and an Azure DevOps pipeline (ci/azure_devops.py); `ci simulate` runs the same steps,
in the same order, on this machine (ci/simulate.py). Neither adds or reorders a step, so what a person
sees in a dry run is what CI does.

Derived from the model, never written twice:
* the pull-request job: check, synth, tests, then on the local registry the first environment's jobs
  that write the tables its training job reads, and the training job in smoke-test mode (`run <job>
  --env <first> --smoke`, the job whose purpose is `training` and that has a `smoke_test`);
* one deploy job per environment that CI can act as (`principals.service_principal.ci_oidc`), in
  promotion order: a production environment whose source is not production starts on a release; any
  other environment with a source starts when its source's deploy succeeded (so staging never runs
  ahead of dev); the first environment starts on a push to the branch its jobs run from
  (`workflows.code.branch`, default main). A GitHub OIDC subject bound to a branch pins the job to a
  push on that branch (the subject is only presented there);
* each deploy runs as its environment's principal, in two jobs. `plan`: doctor (read-only preflight),
  synth of the environment, `terraform init` and `terraform plan -out=tfplan` in each of its stack folders
  (`<env>-azure`, `<env>-databricks`: never the account stack, the platform's bootstrap identity deploys
  it out of band), the stack folders with their saved plans kept as the run's artifact `plan-<env>`.
  `deploy`, after the platform's environment approval: the artifact downloaded, `terraform apply tfplan`
  in each stack folder (exactly the plan the reviewer could read, never an unseen `--auto-approve`; a plan
  whose state moved since is refused by Terraform; the databricks plan only if the azure plan changed none
  of the outputs it was planned against, ci/saved_plan.py; ci/terraform_steps.py has the steps), then
  `promote` of every model in
  `models` from `promotion.from`; where an approval is required the promotion records the
  platform's approval with `approve --ci` (`ci promote`); the audit log is fetched before and stored
  after the promotions (`ci audit`, ci/audit_store.py);
* an environment whose Terraform state is local (`state.backend: local`) is not deployed by CI: a
  runner's disk is gone after the job, and with it the state. Its job keeps the preflight and says so.
"""

from __future__ import annotations

from typing import Iterable

from lakegate.infra.model import Environment, Environments

# The plan's data and placeholders live in ci/model.py; they are importable from here as before.
from .model import (CDKTF, DEFAULT_ENVIRONMENTS, PLAN_FILE, PLANS, PLATFORM, PYTHON, STATE, TMP, CiIdentity, Job,  # noqa: F401
                    Note, Plan, Step, Workflow)
from .pins import TERRAFORM_VERSION
from .terraform_steps import apply_steps, plan_steps, stacks_of  # noqa: F401

EVENTS = ("pull_request", "push", "release")
PLATFORMS = ("github", "azure-devops")
DEFAULT_BRANCH = "main"

# --------------------------------------------------------------------------------------------------


def identity_of(env: Environment) -> CiIdentity:
    sp = env.principals.service_principal
    return CiIdentity(env.name, sp.name, env.azure.tenant_id, env.azure.subscription_id, sp.ci_oidc.github,
                      sp.ci_oidc.azure_devops, env.credentials.strategy)


def presents_identity(env: Environment, platform: str) -> bool:
    oidc = env.principals.service_principal.ci_oidc
    return (oidc.github if platform == "github" else oidc.azure_devops) is not None


def deploy_command(env: Environment) -> tuple[str, ...]:
    """The per-environment deploy command of docs/first-deploy.md (tests/test_isolation.py checks it against the
    manifest); CI runs its two stacks as a saved plan and its apply instead (plan_steps, apply_steps)."""
    return (CDKTF, "deploy", *stacks_of(env), "--ignore-missing-stack-dependencies")


def smoke_jobs(env: Environment) -> list:
    """The jobs the pull request runs in smoke-test mode: every model's training job with a `smoke_test`."""
    return [j for j in env.jobs if j.purpose == "training" and j.smoke_test is not None]


def upstream_jobs(env: Environment, job) -> list:
    """The jobs that write a table `job` reads (a task or job parameter naming another job's `output_table`),
    in the order the YAML lists them: the smoke run needs their data first."""
    reads = set(job.parameters.values()) | {v for task in job.tasks for v in task.parameters.values()}
    return [j for j in env.jobs if j is not job and j.output_table and j.output_table in reads]


def _branch(env: Environment) -> str:
    code = env.workflows.code
    return code.branch if code is not None and code.branch else DEFAULT_BRANCH


def _cli(*args: str, environments: str) -> tuple[str, ...]:
    extra = () if environments == DEFAULT_ENVIRONMENTS else ("--environments", environments)
    return (PYTHON, "main.py", *args, *extra)


def build_plan(envs: Environments, platform: str = "github", environments: str = DEFAULT_ENVIRONMENTS) -> Plan:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown CI platform {platform!r} (known: {', '.join(PLATFORMS)})")
    ordered = list(envs)  # the loader orders environments along the promotion path
    first = ordered[0] if ordered else None
    cli = lambda *args: _cli(*args, environments=environments)  # noqa: E731

    workflows = [_pull_request(envs, first, cli)]
    deployed: dict[str, Workflow] = {}   # env name -> its deploy workflow
    for env in ordered:
        if not presents_identity(env, platform):
            continue
        workflows.append(_deploy(envs, env, platform, deployed, first, cli))
        deployed[env.name] = workflows[-1]

    stand_ins, cleanup = _stand_ins(envs, workflows, first, cli)
    return Plan(platform, tuple(workflows), environments, first.name if first else None, stand_ins, cleanup)


def _setup_steps(checkout_ref: str | None = None, terraform: bool = True) -> list[Step]:
    steps = [
        Step("checkout", "check out the repository" + (f" at the commit {checkout_ref} ran on" if checkout_ref else ""),
             platform="checkout", setup=True),
        Step("python", "Python 3.11", platform="python", setup=True),
        Step("terraform", f"Terraform {TERRAFORM_VERSION}", platform="terraform", setup=True),
        Step("install", "install .venv, Node 24 and the cdktn CLI (.tools)", run=("make", ".venv/.installed", "tools"),
             setup=True),
    ]
    return [s for s in steps if terraform or s.id != "terraform"]


def _pull_request(envs: Environments, first: Environment | None, cli) -> Workflow:
    steps: list[Step | Note] = [
        *_setup_steps(),
        Step("check", "check definitions and guardrails", run=cli("check")),
        Step("pipelines", "the committed pipelines are what `ci render` writes", run=cli("ci", "render", "--check")),
        Step("synth", "synth every environment (into a temp folder)", run=cli("synth", "--out", f"{TMP}/cdktf.out")),
        Step("tests", "tests (make test)", run=("make", "test")),
    ]
    jobs = smoke_jobs(first) if first is not None else []
    if not jobs:
        steps.append(Note("smoke", "no smoke training: the first environment has no training job with a smoke_test"))
    else:
        steps.append(Step("local-up", "start the local registry (temp state folder)",
                          run=cli("local", "up", "--state-dir", STATE)))
        for job in jobs:
            for upstream in upstream_jobs(first, job):
                steps.append(Step(f"data-{upstream.name}", f"{upstream.name} in {first.name}: writes "
                                                           f"{upstream.output_table}, which {job.name} reads",
                                  run=cli("run", upstream.name, "--env", first.name, "--state-dir", STATE)))
            steps.append(Step(f"smoke-{job.name}", f"smoke training of {job.name} in {first.name} "
                                                   f"({job.smoke_test.sample_fraction:.0%} sample, {job.smoke_test.epochs} "
                                                   f"epoch{'s' if job.smoke_test.epochs != 1 else ''})",
                              run=cli("run", job.name, "--env", first.name, "--smoke", "--state-dir", STATE)))
        steps.append(Step("local-down", "stop the local registry", run=cli("local", "down", "--state-dir", STATE),
                          always=True))
    return Workflow("pull-request", "pull request", "pull_request", _branch(first) if first else DEFAULT_BRANCH,
                    None, (Job("validate", "check, synth, tests, smoke training on the local registry", tuple(steps),
                               timeout_minutes=60),))


def _source_workflow(envs: Environments, env: Environment, deployed: dict[str, Workflow]) -> Workflow | None:
    """The nearest environment up the promotion path that this platform deploys."""
    source = env.promotion.from_env
    while source is not None:
        if source in deployed:
            return deployed[source]
        source = envs[source].promotion.from_env
    return None


def _trigger(envs: Environments, env: Environment, platform: str, deployed: dict[str, Workflow],
             first: Environment) -> tuple[str, str, str | None]:
    """(event, branch, after) of an environment's deploy."""
    github = env.principals.service_principal.ci_oidc.github
    if platform == "github" and github is not None and github.branch:
        return "push", github.branch, None
    source = envs[env.promotion.from_env] if env.promotion.from_env else None
    if env.production and (source is None or not source.production):
        return "release", _branch(env), None
    after = _source_workflow(envs, env, deployed)
    if after is None:
        return "push", _branch(first), None
    return after.event, after.branch, after.id


def _deploy(envs: Environments, env: Environment, platform: str, deployed: dict[str, Workflow],
            first: Environment, cli) -> Workflow:
    event, branch, after = _trigger(envs, env, platform, deployed, first)
    identity = identity_of(env)
    principal = identity.principal
    steps: list[Step | Note] = [
        *_setup_steps(checkout_ref=next(w.name for w in deployed.values() if w.id == after) if after else None,
                      terraform=env.state.backend == "azurerm"),   # terraform plan needs it
        Step("check", "check definitions and guardrails", run=cli("check")),
        Step("login", f"sign in to Azure as {principal} (OIDC, no secret)", platform="login", identity=True,
             cloud="exchanges this job's OIDC token for an Entra token of " + principal),
        Step("doctor", f"preflight Azure as {principal} (doctor, read-only)", run=cli("doctor", "--env", env.name),
             identity=True, cloud="reads Azure Resource Manager as " + principal),
    ]
    plan_job = None
    if env.state.backend == "azurerm":
        artifact = f"plan-{env.name}"
        plan_job = Job("plan", f"plan {env.name} as {principal} (saved, kept as the artifact {artifact})", tuple(
            steps + plan_steps(env, principal, cli) + [
                Step("upload-plan", f"keep the stacks and their saved plans (artifact {artifact})", platform="upload",
                     cloud="stores the artifact in the CI platform")]),
            env=env.name, identity=identity, gated=False, artifact=artifact, timeout_minutes=60)
        steps = [*_setup_steps(checkout_ref=next(w.name for w in deployed.values() if w.id == after) if after else None),
                 Step("login", f"sign in to Azure as {principal} (OIDC, no secret)", platform="login", identity=True,
                      cloud="exchanges this job's OIDC token for an Entra token of " + principal),
                 Step("download-plan", f"the saved plans of this run's plan job (artifact {artifact})",
                      platform="download", cloud="reads the artifact from the CI platform"),
                 *apply_steps(env, principal, cli)]
    else:
        steps.append(Note("deploy", f"no terraform plan or apply: {env.name} keeps its Terraform state on the machine "
                                    "that deploys it (state.backend: local), and a CI runner's disk is gone after the "
                                    f"job. Deploy {env.name} from a workstation as {principal}, or give it an "
                                    "azurerm backend and render again."))
    models = env.model_names
    source = env.promotion.from_env
    promotes = False
    if source is None:
        steps.append(Note("promote", f"no promotion: {env.name} is where models are trained (its training job "
                                     "registers them); the environments after it promote from here."))
    elif not models:
        steps.append(Note("promote", f"no promotion: {env.name} declares no models (models:)"))
    elif env.state.backend != "azurerm":
        steps.append(Note("promote", f"no promotion: {env.name}'s audit log must outlive the runner and would be kept "
                                     "in its state container, but its state is local"))
    else:
        promotes = True
        steps.append(Step("audit-pull", f"fetch {env.name}'s audit log (its state container)",
                          run=cli("ci", "audit", "pull", "--env", env.name), identity=True,
                          cloud=f"reads {env.state.storage_account}/{env.state.container} as {principal} (here the "
                                "local state folder keeps its own log)"))
    def needs_approval(model: str) -> bool:
        policy = env.policy(model)
        return policy.approval.required or any(g.type == "approval" for g in policy.gates)

    approval = any(needs_approval(m) for m in models)
    for model in models if promotes else []:
        local = cli("promote", model, "--to", env.name, "--state-dir", STATE)
        if needs_approval(model):
            steps.append(Step(
                f"promote-{model}", f"promote {model} from {source} into {env.name} (its gates, then the approval "
                                    "given to this run)", run=cli("ci", "promote", model, "--to", env.name, "--approval",
                                                             PLATFORM, "--registry", "databricks"),
                identity=True, local=local,
                cloud=f"promotes in Unity Catalog as {principal}; the approval comes from the CI platform's "
                      "environment reviewers, confirmed through its API",
                expected=((7, "stopped at the approval gate, as CI's first pass does; CI then records the "
                              "reviewer's approval of this run (approve --ci) and promotes again"),)))
        else:
            steps.append(Step(f"promote-{model}", f"promote {model} from {source} into {env.name} (its gates)",
                              run=cli("promote", model, "--to", env.name, "--registry", "databricks"),
                              identity=True, local=local, cloud=f"promotes in Unity Catalog as {principal}"))
    if promotes:
        steps.append(Step("audit-push", f"store {env.name}'s audit log back (also after a refusal)",
                          run=cli("ci", "audit", "push", "--env", env.name), identity=True, always=True,
                          cloud=f"writes {env.state.storage_account}/{env.state.container} as {principal}"))
    name = f"deploy {env.name}"
    title = (f"apply {env.name}'s approved plan as {principal}" if plan_job else f"deploy {env.name} as {principal}")
    deploy = Job("deploy", title + (", then promote from " + source if source and models else ""), tuple(steps),
                 env=env.name, identity=identity, approval=approval, timeout_minutes=120,
                 needs=plan_job.id if plan_job else None, artifact=plan_job.artifact if plan_job else None)
    return Workflow(f"deploy-{env.name}", name, event, branch, after,
                    (plan_job, deploy) if plan_job else (deploy,), env=env.name)


def evaluation_jobs(env: Environment) -> list:
    """The jobs that write the labelled table the environment's metric gates judge on
    (`promotion.evaluation.table`, per model): jobs that write tables (an `output_table`) and name it, as
    their output or as a task parameter (the feature refresh writes the hold-out beside the features)."""
    tables = {env.policy(m).evaluation_table for m in env.models}
    return [j for j in env.jobs if j.output_table and (
        j.output_table in tables or any(v in tables for t in j.tasks for v in t.parameters.values()))]


def _stand_ins(envs: Environments, workflows: Iterable[Workflow], first: Environment | None, cli):
    """Local stand-ins for what the cloud already holds when an event's first promotion runs: the local
    registry; a model registered by the first environment's training job (after the jobs whose tables it
    reads); champions up the promotion path; and, for every environment promoted into, the table its metric
    gates judge on (written there by its own scheduled job)."""
    if first is None:
        return {}, ()
    up = Step("local-up", "start the local registry (temp state folder; stands in for the workspaces)",
              run=cli("local", "up", "--state-dir", STATE), ci=False)
    stand_ins: dict[str, tuple[Step, ...]] = {}
    plan = Plan("", tuple(workflows))

    def run_job(env: Environment, job, why: str) -> Step:
        return Step(f"seed-{env.name}-{job.name}", f"{job.name} in {env.name} ({why})",
                    run=cli("run", job.name, "--env", env.name, "--state-dir", STATE), ci=False)

    for event in ("push", "release"):
        targets = [envs[w.env] for w in plan.for_event(event) if w.env and any(j.promotes for j in w.jobs)]
        if not targets:
            continue
        steps = [up]
        for training in [j for j in first.jobs if j.purpose == "training"]:
            steps += [run_job(first, j, f"writes {j.output_table}, which {training.name} reads")
                      for j in upstream_jobs(first, training)]
            steps.append(run_job(first, training, "registers the model the promotions start from"))
        path, source = [], targets[0].promotion.from_env
        while source is not None and source != first.name:
            path.insert(0, envs[source])
            source = envs[source].promotion.from_env
        for env in [*path, *targets]:
            steps += [run_job(env, j, "writes the table its gates judge on") for j in evaluation_jobs(env)]
            if env in path:
                steps += [Step(f"seed-promote-{env.name}-{m}", f"promote {m} into {env.name} (stands in "
                                                               "for its champion)",
                               run=cli("promote", m, "--to", env.name, "--state-dir", STATE), ci=False)
                          for m in env.models]
        unique = {}
        for step in steps:
            unique.setdefault(step.id, step)
        stand_ins[event] = tuple(unique.values())
    cleanup = (Step("local-down", "stop the local registry", run=cli("local", "down", "--state-dir", STATE),
                    always=True, ci=False),)
    return stand_ins, cleanup
