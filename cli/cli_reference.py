"""The documentation site's command and exit-code references, generated from the argparse parser (cli/app.py)
and cli/exit_codes.py, so a command, an option or a code can never be missing from the docs or stale in them."""

from __future__ import annotations

import argparse

from . import exit_codes

PROG = "lakegate"  # what the docs call the command (`python main.py` runs the same parser)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str,
                                                                                     argparse.ArgumentParser]]:
    """Every command that runs something (a leaf of the parser tree), depth first: (words, help, parser)."""
    commands = []
    for name, help_text, sub in _subcommands(parser):
        if _subcommands(sub):
            commands += walk(sub, path + (name,))
        else:
            commands.append((path + (name,), help_text, sub))
    return commands


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:
        text = text % {**vars(action), "prog": prog}  # argparse's own expansion (`5 %% sample`)
    return " ".join(text.split()).replace("|", "\\|")


def _metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _synopsis_part(action: argparse.Action) -> str:
    value = _metavar(action)
    if not action.option_strings:
        return {"?": f"[{value}]", "*": f"[{value} ...]", "+": f"{value} [{value} ...]"}.get(action.nargs, value)
    word = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    part = f"{word} {value}" if _takes_value(action) else word
    return part if action.required else f"[{part}]"


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _default(action: argparse.Action) -> str:
    if action.required or not _takes_value(action) or action.default in (None, argparse.SUPPRESS, [], False):
        return ""
    return f"`{action.default}`"


def command_section(words: tuple[str, ...], help_text: str, parser: argparse.ArgumentParser) -> list[str]:
    arguments = _arguments(parser)
    synopsis = " ".join([PROG, *words, *(_synopsis_part(a) for a in arguments if not a.option_strings),
                         *(_synopsis_part(a) for a in arguments if a.option_strings)])
    lines = [f"## `{PROG} {' '.join(words)}`", "", " ".join(help_text.split()) + ("." if help_text else ""), "",
             "```text", synopsis, "```", "", "| argument | value | default | description |", "|---|---|---|---|"]
    for action in arguments:
        name = ", ".join(action.option_strings) or action.dest
        value = f"`{_metavar(action)}`" if _takes_value(action) else ""
        if action.option_strings and action.required:
            value += " (required)"
        lines.append(f"| `{name}` | {value} | {_default(action)} | {_help(action, parser.prog)} |")
    return lines + [""]


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    if parser is None:
        from .app import build_parser

        parser = build_parser()
    commands = walk(parser)
    lines = ["# Command reference", "",
             "Generated from the command line's own parser (`cli/app.py`) by `lakegate docs`; a test fails when this "
             "page is stale. `python main.py` in the repository runs the same commands. Every command's exit codes are "
             "in [Exit codes](exit-codes.md).", "",
             "| command | what it does |", "|---|---|"]
    lines += [f"| [`{PROG} {' '.join(w)}`](#{_anchor(w)}) | {' '.join(h.split()).replace('|', chr(92) + '|')} |"
              for w, h, _ in commands]
    lines.append("")
    for words, help_text, sub in commands:
        lines += command_section(words, help_text, sub)
    return "\n".join(lines).rstrip() + "\n"


def _anchor(words: tuple[str, ...]) -> str:
    # Python-Markdown's toc slug of "`lakegate a b`": lowercase words joined by '-'.
    return "-".join([PROG, *words]).lower()


def exit_codes_reference() -> str:
    names = {value: name for name, value in vars(exit_codes).items() if name.isupper() and isinstance(value, int)}
    lines = ["# Exit codes", "",
             "Generated from `cli/exit_codes.py` by `lakegate docs`; a test fails when this page is stale. Each failure "
             "kind has its own code, so CI can tell them apart; with `--json` a refusal also prints "
             "`{\"ok\": false, \"error\": \"<kind>\", \"message\": ...}` on stdout.", "",
             "| code | kind | meaning |", "|---|---|---|"]
    lines += [f"| {code} | `{names[code].lower()}` | {text.replace('|', chr(92) + '|')} |"
              for code, text in exit_codes.DESCRIPTIONS.items()]
    missing = sorted(set(names) - set(exit_codes.DESCRIPTIONS))
    if missing:
        raise ValueError(f"exit codes without a description in cli/exit_codes.py: {missing}")
    return "\n".join(lines) + "\n"
