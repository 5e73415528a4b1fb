"""The deploy's Terraform steps: a saved plan per stack in the plan job, exactly that plan applied in the
deploy job (ci/plan.py puts them in the jobs)."""

from __future__ import annotations

from lakegate.infra.model import Environment

from .model import PLAN_FILE, PLANS, TMP, Step


def stacks_of(env: Environment) -> tuple[str, str]:
    """The environment's stacks in deploy order (infra/synth.py names them the same way)."""
    return f"{env.name}-azure", f"{env.name}-databricks"


def _terraform(stack: str, *args: str) -> tuple[str, ...]:
    # Providers and the backend's working data go outside the stack folder, so the artifact holds the
    # configuration, its lock file and the saved plan, not a few hundred MB of provider binaries.
    return ("env", f"TF_DATA_DIR={TMP}/terraform-data/{stack}", "terraform", f"-chdir={PLANS}/stacks/{stack}", *args)


def plan_steps(env: Environment, principal: str, cli) -> list[Step]:
    """Synth, then per stack in deploy order: init (the azurerm backend) and plan, saved as tfplan."""
    steps = [Step("synth", f"synth {env.name}'s stacks (into a temp folder)",
                  run=cli("synth", "--env", env.name, "--out", PLANS))]
    for stack in stacks_of(env):
        steps += [
            Step(f"init-{stack}", f"terraform init {stack} (its state container)",
                 run=_terraform(stack, "init", "-input=false"), identity=True,
                 cloud=f"initializes the azurerm backend {env.state.storage_account}/{env.state.container} as "
                       + principal),
            Step(f"plan-{stack}", f"terraform plan {stack}, saved as {PLAN_FILE} (what the reviewer reads)",
                 run=_terraform(stack, "plan", "-input=false", f"-out={PLAN_FILE}"), identity=True,
                 cloud=f"reads the state and Azure as {principal}"),
        ]
    return steps


def apply_steps(env: Environment, principal: str, cli) -> list[Step]:
    """Per stack in deploy order: init, then apply exactly the saved plan (no new plan is made here). The
    databricks stack was planned against the azure stack's outputs: it is applied only if the azure plan
    changed none of them (ci/saved_plan.py)."""
    steps = []
    azure, databricks = stacks_of(env)
    for stack in stacks_of(env):
        if stack == databricks:
            steps.append(Step(f"outputs-{azure}", f"{azure}'s plan changed none of the outputs {databricks} was "
                                                  "planned against",
                              run=("env", f"TF_DATA_DIR={TMP}/terraform-data/{azure}",
                                   *cli("ci", "plan-outputs", "--stack", f"{PLANS}/stacks/{azure}", "--reader",
                                        databricks)),
                              identity=True, cloud=f"shows the applied plan of {azure} (its initialized backend)"))
        steps += [
            Step(f"apply-init-{stack}", f"terraform init {stack} (the downloaded folder)",
                 run=_terraform(stack, "init", "-input=false"), identity=True,
                 cloud=f"initializes the azurerm backend {env.state.storage_account}/{env.state.container} as "
                       + principal),
            Step(f"apply-{stack}", f"terraform apply {stack}: the saved plan {PLAN_FILE}, nothing else",
                 run=_terraform(stack, "apply", "-input=false", PLAN_FILE), identity=True,
                 cloud=f"applies the approved plan to Azure and Databricks as {principal}"),
        ]
    return steps
