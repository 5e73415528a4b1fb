"""`doctor --env ENV`: preflight of one environment against Azure, as the environment's own principal.

Exit codes: 0 nothing failed (warnings allowed), 12 a check failed, 11 no usable credentials, 9 ARM or
Entra ID cannot be reached at all, 2 invalid definitions, 6 an unknown --env.
"""

from __future__ import annotations

import logging

from . import exit_codes, output
from .infra_commands import load_or_report, require_environment
from .presenters import print_doctor

def cmd_doctor(args) -> int:
    envs = load_or_report(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    require_environment(args.env, known=envs.names)  # exit 6 with the closest name

    from lakegate.infra.preflight import Unreachable, diagnose
    from lakegate.promotion.errors import CredentialsError

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
        print_doctor(args.env, caller, results)
    return exit_codes.PREFLIGHT_FAILED if failed else exit_codes.OK


def _refused(args, kind: str, message: str, code: int) -> int:
    if args.json:
        output.emit_json({"ok": False, "error": kind, "message": message})
    output.fail(message)
    return code
