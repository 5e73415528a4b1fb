"""Preflight (`python main.py doctor --env ENV`): is this environment ready to deploy, as its own principal?

    identity.py  the environment's credentials (the chain of promotion/credentials/) as an ARM TokenCredential
    arm.py       the ARM reads, thin (azure-mgmt-resource, azure-mgmt-authorization)
    checks.py    outcomes, the context, `@check` and the runner
    checks_azure.py, checks_databricks.py    one small function per check, each with an id, a title and the fix

`diagnose` raises `CredentialsError` (no usable credentials: exit 11) and `Unreachable` (ARM or Entra ID
cannot be reached at all: exit 9); everything else is a check result.
"""

from __future__ import annotations

from lakegate.infra.model import Environment, Environments

from .arm import Arm, ArmSettings, Unreachable
from . import checks_azure, checks_databricks  # noqa: F401 - their @check functions fill CHECKS, in this order
from .checks import CHECKS, CheckResult, Context, run_checks
from .identity import Caller, identify, resolve_arm_credential


def diagnose(env: Environment, envs: Environments, *, http_get=None) -> tuple[Caller, list[CheckResult]]:
    settings = ArmSettings.from_environment()
    credential = resolve_arm_credential(env.credentials.strategy)
    caller = identify(credential, settings.scope)
    arm = Arm(credential, settings, env.azure.subscription_id)
    return caller, run_checks(Context(env, envs, arm, caller, http_get))


__all__ = ["CHECKS", "ArmSettings", "Caller", "CheckResult", "Unreachable", "diagnose"]
