"""check and the shared loading/guardrail helpers of the infrastructure commands (synth: synth_command.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from infra.errors import DefinitionError
from infra.guardrails.runner import GuardrailReport, check_environments
from infra.loader import load_environments

from . import exit_codes, output
from .presenters import print_guardrails


def load_or_report(args):
    """The environments, or None after printing every located problem."""
    try:
        return load_environments(Path(args.environments))
    except DefinitionError as exc:
        if getattr(args, "json", False):
            output.emit_json({"ok": False, "problems": [p.as_dict() for p in exc.problems]})
        output.problems(exc.problems)
        output.errors.print(f"{len(exc.problems)} problem(s) in {args.environments}")
        return None


def _selected(args, envs) -> list[str] | None:
    names = getattr(args, "env", None) or None
    if names:
        unknown = [n for n in names if n not in envs]
        if unknown:
            raise DefinitionError([_unknown_env(args, n, envs) for n in unknown])
    return names


def _unknown_env(args, name, envs):
    from infra.errors import Problem

    return Problem(str(args.environments), 0, "--env", f"unknown environment '{name}' (known: {', '.join(envs.names)})")


def load_selected(args):
    """(environments, the --env selection or None), or None after reporting every problem."""
    envs = load_or_report(args)
    if envs is None:
        return None
    try:
        return envs, _selected(args, envs)
    except DefinitionError as exc:
        output.problems(exc.problems)
        return None


def cmd_check(args) -> int:
    loaded = load_selected(args)
    if loaded is None:
        return exit_codes.INVALID_DEFINITIONS
    envs, only = loaded
    report = check_environments(envs, only=only)
    if args.json:
        output.emit_json({"ok": report.passed, "environments": envs.names, "rules_run": report.rules_run,
                          "findings": [f.as_dict() for f in report.findings]})
    else:
        output.console.print(f"{len(envs)} environment(s) valid: {', '.join(envs.names)}")
        print_guardrails(report)
    return exit_codes.OK if report.passed else refuse(report)


def refuse(report: GuardrailReport) -> int:
    """Every unwaived violation on stderr, located and with its rule id; the guardrail exit code."""
    for finding in report.violations:
        output.errors.print(output.escape(str(finding)), soft_wrap=True)
    return exit_codes.GUARDRAIL_VIOLATION


def resource_counts(stack_json: dict) -> Counter:
    return Counter({rtype: len(items) for rtype, items in stack_json.get("resource", {}).items()})
