"""check and the shared loading/guardrail helpers of the infrastructure commands (synth: synth_command.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from lakegate.infra.errors import DefinitionError
from lakegate.infra.loader import load_environments, read_environments
from lakegate.infra.suggest import did_you_mean

from . import exit_codes, output
from .failures import CliRefusal
from .presenters import print_guardrails

if TYPE_CHECKING:  # the guardrails are imported by `check` alone: the registry commands only load
    from lakegate.infra.guardrails.runner import GuardrailReport


def load_or_report(args):
    """The environments, or None after printing every located problem."""
    try:
        return load_environments(Path(args.environments))
    except DefinitionError as exc:
        report_problems(args, exc.problems)
        return None


def report_problems(args, problems, extra: dict | None = None) -> None:
    """Every located problem on stderr (and the JSON twin on stdout with --json, with `extra` fields)."""
    problems = sorted(problems)
    if getattr(args, "json", False):
        output.emit_json({"ok": False, "problems": [p.as_dict() for p in problems], **(extra or {})})
    output.problems(problems)
    output.errors.print(f"{len(problems)} problem(s) in {args.environments}")


def require_environment(*wanted: str, known: list[str]) -> None:
    """Refuse (exit 6, with the closest names) an --env that names no environment file of the folder."""
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise CliRefusal("INVALID_REQUEST", "; ".join(
            f"--env: unknown environment '{n}'{did_you_mean(n, known)} (known: {', '.join(known)})" for n in unknown))


def _selected(args, names: list[str]) -> list[str] | None:
    """--env as given, refused when a file of that name is not in the folder (none at all: the folder's problem)."""
    wanted = getattr(args, "env", None) or None
    if wanted and names:
        require_environment(*wanted, known=names)
    return wanted


def load_selected(args):
    """(environments, the --env selection or None), or None after reporting every problem. An unknown --env
    is refused first (exit 6)."""
    loaded = read_environments(Path(args.environments))
    only = _selected(args, loaded.names)
    if loaded.problems:
        report_problems(args, loaded.problems)
        return None
    return loaded.environments, only


def cmd_check(args) -> int:
    """Every problem of every file at once: definition problems, and the guardrails of every environment whose
    file validated (a problem in one file never hides another file's findings). Exit 2 when any definition
    problem exists, else 3 when a guardrail is violated."""
    from lakegate.infra.guardrails.runner import check_environments

    loaded = read_environments(Path(args.environments))
    only = _selected(args, loaded.names)
    envs = loaded.environments
    report = check_environments(envs, only=only)
    results = {"environments": envs.names, "rules_run": report.rules_run,
               "findings": [f.as_dict() for f in report.findings]}
    if loaded.problems:
        if envs and not args.json:
            output.console.print(f"{len(envs)} environment file(s) valid on their own: {', '.join(envs.names)}; "
                                 "their guardrails:")
            print_guardrails(report)
        refuse(report)
        report_problems(args, loaded.problems, results)
        return exit_codes.INVALID_DEFINITIONS
    if args.json:
        output.emit_json({"ok": report.passed, "problems": [], **results})
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
