"""Turning a plan step's argv into a shell line for a CI platform, or into a real argv for simulate."""

from __future__ import annotations

import shlex

from .plan import PLATFORM, PYTHON, TMP

VENV_PYTHON = ".venv/bin/python"


def shell_line(argv: tuple[str, ...], tmp: str, platform: str) -> str:
    """One shell command line. `tmp` is the platform's temp folder as a shell expression (it is put in
    double quotes, so it expands); everything else is quoted for the shell as a literal."""
    words = []
    for arg in argv:
        arg = arg.replace(PYTHON, VENV_PYTHON).replace(PLATFORM, platform)
        if TMP in arg:
            words.append('"' + arg.replace(TMP, tmp) + '"')
        else:
            words.append(shlex.quote(arg))
    return " ".join(words)


def local_argv(argv: tuple[str, ...], python: str, tmp: str, platform: str) -> list[str]:
    return [arg.replace(PYTHON, python).replace(TMP, tmp).replace(PLATFORM, platform) if arg != PYTHON else python
            for arg in argv]
