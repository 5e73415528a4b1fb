"""Argument parsing and dispatch. With no arguments lakegate synthesizes (the cdktf convention)."""

from __future__ import annotations

import argparse
import sys

from . import exit_codes


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--environments", default="environments", metavar="DIR",
                        help="folder of environment definitions (default: environments/)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output for CI")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python main.py", description=__doc__,
                                     epilog="exit codes: " + "; ".join(f"{k} {v}" for k, v in exit_codes.DESCRIPTIONS.items()))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    synth = commands.add_parser("synth", help="synthesize Terraform JSON into cdktf.out/ (the default)")
    _common(synth)
    synth.add_argument("--env", action="append", help="only this environment (repeatable)")
    synth.add_argument("--out", default="cdktf.out", help="output folder (default: cdktf.out)")

    check = commands.add_parser("check", help="validate definitions and run guardrails, without synthesizing")
    _common(check)
    check.add_argument("--env", action="append", help="only this environment's guardrails (repeatable)")

    report = commands.add_parser("report", help="reports for auditors")
    _common(report)
    report.add_argument("kind", choices=["access", "diff", "rules", "history"])
    report.add_argument("envs", nargs="*", help="diff: the two environments to compare")
    report.add_argument("--state-dir", default=".lakegate", help="local state (audit logs) folder")

    docs = commands.add_parser("docs", help="regenerate (or --check) the README field reference and RULES.md")
    _common(docs, json_flag=False)
    docs.add_argument("--check", action="store_true", help="exit 10 if the generated docs are stale")

    from .promotion_commands import add_promotion_commands

    add_promotion_commands(commands, _common)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if (argv or ["synth"])[0] in ("synth", "demo"):
        # Before anything else is imported: the jsii import is the floor of a synth, the rest overlaps it.
        from infra.preload import preload_bindings

        preload_bindings()
    parser = build_parser()
    args = parser.parse_args(argv or ["synth"])
    try:
        return args.handler(args) if hasattr(args, "handler") else _dispatch_infra(args)
    except KeyboardInterrupt:
        from . import output

        output.fail("interrupted")
        return exit_codes.UNEXPECTED


def _dispatch_infra(args) -> int:
    from . import docs_commands, infra_commands, report_commands

    handlers = {"synth": infra_commands.cmd_synth, "check": infra_commands.cmd_check,
                "docs": docs_commands.cmd_docs, "report": report_commands.cmd_report}
    return handlers[args.command](args)
