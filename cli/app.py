"""Argument parsing and dispatch. With no arguments lakegate synthesizes (the cdktf convention)."""

from __future__ import annotations

import argparse
import sys

from . import exit_codes
from .failures import UsageParser, handler_in, run_command


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--environments", default="environments", metavar="DIR",
                        help="folder of environment definitions (default: environments/)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output for CI")


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(prog="lakegate", description=__doc__,
                                     epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in exit_codes.DESCRIPTIONS.items()))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    synth = commands.add_parser("synth", help="synthesize Terraform JSON into cdktf.out/ (the default)")
    _common(synth)
    _lazy(synth, "synth_command", "cmd_synth")
    synth.add_argument("--env", action="append", help="only this environment (repeatable)")
    synth.add_argument("--out", default=None,
                       help="output folder (default: $CDKTF_OUTDIR when the cdktf CLI runs us, else cdktf.out); "
                            "an existing folder must be a previous synth output")

    check = commands.add_parser("check", help="validate definitions and run guardrails, without synthesizing")
    _common(check)
    _lazy(check, "infra_commands", "cmd_check")
    check.add_argument("--env", action="append", help="only this environment's guardrails (repeatable)")

    report = commands.add_parser("report", help="reports for auditors")
    _common(report)
    _lazy(report, "report_commands", "cmd_report")
    report.add_argument("kind", choices=["access", "diff", "rules", "history", "site", "evidence"],
                        help="access matrix, environment diff, guardrail results, promotion history, the static site, "
                             "or one promotion's evidence pack")
    report.add_argument("envs", nargs="*", help="diff: the two environments to compare; evidence: the model")
    from .registry_access import state_dir_option
    from .report_commands import add_report_options

    state_dir_option(report, "the audit logs the history and evidence read")

    add_report_options(report)

    doctor = commands.add_parser("doctor", help="preflight one environment against Azure as its own principal "
                                                "(subscription, providers, resource group, state, roles, Databricks account)")
    _common(doctor)
    _lazy(doctor, "doctor_command", "cmd_doctor")
    doctor.add_argument("--env", required=True, metavar="ENV", help="the environment to check (its credentials are used)")

    docs = commands.add_parser("docs", help="regenerate (or --check) the documentation's generated references (fields, rules, commands, exit "
                                            "codes) and RULES.md")
    _common(docs)
    _lazy(docs, "docs_commands", "cmd_docs")
    docs.add_argument("--check", action="store_true", help="exit 10 if the generated docs are stale")

    from .promotion_commands import add_promotion_commands

    add_promotion_commands(commands, _common)

    from .ci_commands import add_ci_commands

    add_ci_commands(commands, _common)

    from .pipeline_commands import add_pipeline_commands

    add_pipeline_commands(commands, _common)

    from .scaffold_commands import add_scaffold_commands

    add_scaffold_commands(commands, _common)

    from .project_commands import add_project_commands

    add_project_commands(commands, _common)

    from .approvers_commands import add_approvers_commands

    add_approvers_commands(commands, _common)

    from .demo import add_demo_command

    add_demo_command(commands, _common)

    from .cdktf_command import add_cdktf_command

    add_cdktf_command(commands)
    return parser


def _lazy(parser: argparse.ArgumentParser, module: str, function: str) -> None:
    # Imported when run: `synth` with nothing to do must not pay for the model and the reports.
    parser.set_defaults(handler=handler_in(module, function))


def main(argv: list[str] | None = None, *, leaving: bool = False) -> int:
    """Run one command; its exit code. `leaving`: the process ends right after (the entry points), so a background
    import a command started (promotion/model_stack.py) is not waited for."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _main(argv)
    finally:
        stack = sys.modules.get("lakegate.promotion.model_stack")
        if stack is not None and not leaving:
            stack.ready()  # a caller that carries on in this process never races the import a command left running


def _main(argv: list[str]) -> int:
    if (argv or ["synth"])[0] == "demo":
        # Before anything else is imported: the jsii import is the floor of a synth, the rest overlaps it.
        # (`synth` starts it itself, after checking whether anything changed at all.)
        from lakegate.infra.preload import preload_bindings

        preload_bindings()
    if argv[:1] == ["cdktf"] and argv[1:2] != ["-h"] and argv[1:2] != ["--help"]:
        # Everything after `cdktf` is the CLI's own (argparse would read `cdktf --version` as ours).
        from .cdktf_command import run_cdktf

        return run_command(lambda _: run_cdktf(argv[1:]), argparse.Namespace())
    parser = build_parser()
    args = parser.parse_args(argv or ["synth"])
    if not hasattr(args, "handler"):  # a command group without its subcommand (`python main.py ci`)
        parser.print_help()
        return exit_codes.USAGE
    _run_from_project_root(args)
    return run_command(args.handler, args)


def run() -> None:
    """The `lakegate` command, main.py and `python -m lakegate`: main(), then a fast exit (cli/process_exit.py)."""
    from .process_exit import exit_now

    try:
        code: object = main(leaving=True)
    except SystemExit as stop:  # argparse: --help, --version, a usage error
        code = stop.code
    exit_now(code)


# Options naming a file or folder: given relative to where the command was typed. Their defaults are the project's.
_PROJECT_DEFAULTS = ("environments", ".lakegate", ".")
PATH_OPTIONS = ("environments", "state_dir", "out", "root", "code_dir", "key", "signature", "statement", "verify",
                "public_key", "directory", "wheel")


def _run_from_project_root(args: argparse.Namespace) -> None:
    """Typed in a subfolder of a project (the folder holding cdktf.json), a command runs from the project's root, as
    the cdktf CLI does: its defaults (environments/, .lakegate/, cdktf.out/) are the project's, and the paths given
    keep meaning what they meant where they were typed."""
    import os
    from pathlib import Path

    from lakegate.project import enclosing_project

    here = Path.cwd()
    root = enclosing_project(here)
    if root is None or root == here.resolve():
        return
    for name in PATH_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value and not os.path.isabs(value) and value not in _PROJECT_DEFAULTS:
            setattr(args, name, os.path.normpath(os.path.join(here, value)))
    os.chdir(root)
