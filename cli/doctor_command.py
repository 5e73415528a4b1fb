"""`doctor --env ENV`: preflight of one environment against Azure, as the environment's own principal.

Exit codes: 0 nothing failed (warnings allowed), 12 a check failed, 11 no usable credentials, 9 ARM or
Entra ID cannot be reached at all, 2 invalid definitions or an unknown --env.
"""

from __future__ import annotations

import logging

from infra.errors import Problem

from . import exit_codes, output
from .infra_commands import load_or_report

STATUSES = ("passed", "failed", "warning", "skipped")


def cmd_doctor(args) -> int:
    envs = load_or_report(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    if args.env not in envs:
        problem = Problem(str(args.environments), 0, "--env",
                          f"unknown environment '{args.env}' (known: {', '.join(envs.names)})")
        if args.json:
            output.emit_json({"ok": False, "problems": [problem.as_dict()]})
        output.problems([problem])
        return exit_codes.INVALID_DEFINITIONS

    from infra.preflight import Unreachable, diagnose
    from promotion.credentials import CredentialsError

    # azure-identity logs every failed token request (a warning, multi-line); the failure is reported here once.
    logging.getLogger("azure").addHandler(logging.NullHandler())
    try:
        caller, results = diagnose(envs[args.env], envs)
    except CredentialsError as error:
        return _refused(args, "credentials", str(error), exit_codes.CREDENTIALS)
    except Unreachable as error:
        return _refused(args, "unreachable", str(error), exit_codes.REGISTRY_UNAVAILABLE)

    failed = [r for r in results if r.status == "failed"]
    if args.json:
        output.emit_json([r.as_dict() for r in results])
    else:
        _print_for_people(args.env, caller, results)
    return exit_codes.PREFLIGHT_FAILED if failed else exit_codes.OK


def _print_for_people(env_name: str, caller, results) -> None:
    table = output.table(f"doctor {env_name}: as {caller.strategy}, object id {caller.object_id}",
                         ["id", "check", "status", "detail"], [[r.id, r.title, r.status, r.detail] for r in results])
    for column in table.columns:     # scopes and URLs are long words: fold them, never crop them
        column.overflow = "fold"
    output.console.print(table)
    # Fixes below the table, unwrapped, so that each command can be copied as one line.
    for r in results:
        if r.fix:
            output.console.print(f"{r.id} ({r.status}) fix:", soft_wrap=True)
            for line in r.fix.splitlines():
                output.console.print(f"  {line}", soft_wrap=True, markup=False)
    counts = ", ".join(f"{sum(r.status == s for r in results)} {'warning(s)' if s == 'warning' else s}"
                       for s in STATUSES)
    output.console.print(f"doctor {env_name}: {counts}", soft_wrap=True)


def _refused(args, kind: str, message: str, code: int) -> int:
    if args.json:
        output.emit_json({"ok": False, "error": kind, "message": message})
    output.fail(message)
    return code
