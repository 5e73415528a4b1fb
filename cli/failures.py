"""The one error path of the CLI: every command runs through `run_command`, which turns a failure into its
kind's exit code (cli/exit_codes.py) and a one-line message (JSON on stdout too with --json).

An error states its kind itself (a `kind` class attribute naming an exit code: PromotionError, PipelineError,
CliRefusal, ...); an OSError is a path the user named that cannot be used (6); registry and network errors that
cannot carry a kind are mapped by promotion.errors.failure_kind.
An error of no known kind is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import exit_codes, output


class CliRefusal(Exception):
    """A refusal decided by the command line itself (an unusable --out, an unknown --env)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


class UsageParser(argparse.ArgumentParser):
    """argparse with its own exit code for usage errors (argparse's 2 is ours for invalid definitions), no
    prefix guessing (`--env` is never read as `--environments`), and "did you mean" for an unknown option.

    Subparsers are made with the parser's own class (argparse's default), so this holds for every command."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 - argparse's hook
        # Refused by the innermost parser that read them: the one whose options the suggestion comes from.
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._suggestion(extras)}")
        return namespace, extras

    def _suggestion(self, extras: list[str]) -> str:
        from lakegate.infra.suggest import did_you_mean

        options = [o for o in self._option_string_actions if o.startswith("--")]
        unknown = next((e.split("=", 1)[0] for e in extras if e.startswith("--")), None)
        return did_you_mean(unknown, options) if unknown else ""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.print_usage(sys.stderr)
        self.exit(exit_codes.USAGE, f"{self.prog}: error: {message}\n")


def kind_of(error: BaseException) -> str | None:
    """The exit-code name of `error`, or None when it is a bug."""
    kind = getattr(error, "kind", None)
    if isinstance(kind, str) and kind != "UNEXPECTED" and isinstance(getattr(exit_codes, kind, None), int):
        return kind
    if isinstance(error, OSError) and not isinstance(error, ConnectionError):
        return "INVALID_REQUEST"  # a path the user named cannot be read, written or served on
    from lakegate.promotion.errors import failure_kind

    found = failure_kind(error)
    return None if found == "UNEXPECTED" else found


def run_command(handler, args) -> int:
    """Run one command's handler; every refusal leaves with its kind's exit code, never a traceback."""
    from lakegate.infra.errors import DefinitionError

    try:
        return handler(args)
    except DefinitionError as error:
        if getattr(args, "json", False):
            output.emit_json({"ok": False, "problems": [p.as_dict() for p in error.problems]})
        output.problems(error.problems)
        return exit_codes.INVALID_DEFINITIONS
    except KeyboardInterrupt:
        output.fail("interrupted")
        return exit_codes.UNEXPECTED
    except Exception as error:  # noqa: BLE001 - every refusal gets its kind's exit code, a bug its traceback
        kind = kind_of(error)
        if kind is None:
            raise
        return refused(args, kind, str(error))


def refused(args, kind: str, message: str) -> int:
    """Report one refusal (stderr, and JSON on stdout with --json); its exit code."""
    if getattr(args, "json", False):
        output.emit_json({"ok": False, "error": kind.lower(), "message": message})
    output.fail(message)
    return getattr(exit_codes, kind)


def handler_in(module: str, function: str):
    """A command's handler, imported when the command runs (`cli.<module>.<function>`): building the parser imports
    no handler, so `--help` and the cheap commands never pay for the heavy ones."""
    def handler(args):
        import importlib

        return getattr(importlib.import_module(f"lakegate.cli.{module}"), function)(args)

    return handler
