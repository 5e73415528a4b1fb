"""Everything printed for people has a --json twin for CI. People get rich tables on stdout; errors on stderr."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column fallback.
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(highlight=False, width=_WIDTH)
errors = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


def emit_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list], caption: str | None = None) -> Table:
    result = Table(title=title, caption=caption, title_justify="left")
    for column in columns:
        result.add_column(column)
    for row in rows:
        # Cells are data (`LG-UC-002[binding=dev->staging]`), never rich markup.
        result.add_row(*[escape(str(cell)) for cell in row])
    return result


def fail(message: str) -> None:
    errors.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def problems(lines) -> None:
    """Located problems, one per line, plain (editors and CI annotate file:line: prefixes)."""
    for line in lines:
        errors.print(escape(str(line)), soft_wrap=True)
