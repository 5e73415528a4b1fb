"""The preflight framework of `python main.py doctor --env ENV`: outcomes, the context, `@check`, the runner.
The checks themselves: checks_azure.py (identity, subscription, state, roles), checks_databricks.py.

A check has an id (`DOC-<AREA>-<NNN>`), a one-line title and answers an `Outcome`: passed, failed (with
the exact fix to run), warning (worth a look, does not fail the run) or skipped (with why). A check may
need earlier ones (`needs`): when one of those failed, it is skipped and says which.
Checks read ARM only through `Context.arm` (infra/preflight/arm.py); the roles expected come from
`infra.access.deployer_roles`, the one place they are derived (the account stack assigns the same ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lakegate.infra.access import state_container_id
from lakegate.infra.model import Environment, Environments
from lakegate.infra.model.account import ACCOUNT_FILE, ACCOUNT_STACK

from .arm import Arm
from .identity import Caller

PASSED, FAILED, WARNING, SKIPPED = "passed", "failed", "warning", "skipped"
REQUIRED_PROVIDERS = ("Microsoft.Databricks", "Microsoft.Storage", "Microsoft.Network", "Microsoft.ManagedIdentity",
                      "Microsoft.OperationalInsights")
DEPLOY_ACCOUNT_STACK = f"deploy the account stack: cdktf deploy {ACCOUNT_STACK}"
ACCOUNT_PROBE_TIMEOUT = 15


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str
    fix: str = ""


def passed(detail: str) -> Outcome:
    return Outcome(PASSED, detail)


def failed(detail: str, fix: str) -> Outcome:
    return Outcome(FAILED, detail, fix)


def warning(detail: str, fix: str = "") -> Outcome:
    return Outcome(WARNING, detail, fix)


def skipped(why: str) -> Outcome:
    return Outcome(SKIPPED, why)


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: str
    detail: str
    fix: str

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Context:
    env: Environment
    envs: Environments
    arm: Arm
    caller: Caller
    http_get: Callable | None = None          # requests.get by default (the Databricks account probe)
    results: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def subscription(self) -> str:
        return self.env.azure.subscription_id

    @property
    def state(self):
        return self.env.state

    @property
    def state_subscription(self) -> str:
        return self.env.state.subscription_id or self.env.azure.subscription_id

    @property
    def state_account_id(self) -> str:
        s = self.env.state
        return (f"/subscriptions/{self.state_subscription}/resourceGroups/{s.resource_group}"
                f"/providers/Microsoft.Storage/storageAccounts/{s.storage_account}")

    @property
    def state_container_id(self) -> str:
        return state_container_id(self.env.state, self.env.azure.subscription_id)

    def account_file(self) -> str:
        where = self.env.locate("name")
        return str(Path(where.rsplit(":", 1)[0]).parent / ACCOUNT_FILE) if ":" in where else ACCOUNT_FILE


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[Context], Outcome]
    needs: tuple[str, ...] = ()


CHECKS: list[Check] = []


def check(id: str, title: str, needs: tuple[str, ...] = ()):
    def register(fn: Callable[[Context], Outcome]):
        CHECKS.append(Check(id, title, fn, needs))
        return fn
    return register


def run_checks(ctx: Context, checks: list[Check] | None = None) -> list[CheckResult]:
    """Every check in order. `Unreachable` and `CredentialsError` end the run (the caller maps them to exit
    codes); any other exception inside a check fails that check (fail closed) and the run goes on."""
    from lakegate.promotion.errors import CredentialsError

    from .arm import Unreachable

    results = []
    for c in checks if checks is not None else CHECKS:
        blocked = [ctx.results[n] for n in c.needs if n in ctx.results and ctx.results[n].status == FAILED]
        if blocked:
            outcome = skipped(f"needs {blocked[0].id} ({blocked[0].title}), which failed")
        else:
            try:
                outcome = c.run(ctx)
            except (Unreachable, CredentialsError):
                raise
            except Exception as error:  # noqa: BLE001 - a crashing check fails, visibly
                outcome = failed(f"the check crashed: {type(error).__name__}: {error}",
                                 "a bug in lakegate's doctor: please report it with this line")
        result = CheckResult(c.id, c.title, outcome.status, outcome.detail, outcome.fix)
        ctx.results[c.id] = result
        results.append(result)
    return results


__all__ = ["CHECKS", "Check", "CheckResult", "Context", "Outcome", "check", "failed", "passed", "run_checks",
           "skipped", "warning"]
