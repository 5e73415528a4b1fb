"""Everything printed for people has a --json twin for CI. People get rich tables on stdout; errors on stderr."""

from __future__ import annotations

import contextlib
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


# ------------------------------------------------------------------------------------------ progress

def progress_wanted(json_output: bool) -> bool:
    """Progress is for a person watching: never with --json, only when stderr is a terminal, and not when
    LAKEGATE_PROGRESS=0."""
    import os

    return not json_output and os.environ.get("LAKEGATE_PROGRESS", "") != "0" and sys.stderr.isatty()


class _Through:
    """Stdout as the live display redirected it, for the rich console: rich unwraps its own proxy and would write
    under the display, so a person's terminal would show both on one line."""

    def __init__(self, proxy):
        self._proxy = proxy

    def write(self, text: str) -> int:
        return self._proxy.write(text)

    def flush(self) -> None:
        self._proxy.flush()

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._proxy.fileno()


class Progress:
    """What runs now (a spinner each) and what ended (a mark each), drawn on stderr while a command works and
    erased when it ends: its results are printed after, on stdout, as without a terminal."""

    KEEP = 14  # finished lines shown: the last ones (a demo runs hundreds of steps)

    def __init__(self, title: str, listed: tuple[str, ...] | None):
        self.title, self.listed = title, listed
        self.finished: list = []
        self.running: dict[str, tuple[float, object]] = {}
        self.copied: tuple[int, int] | None = None
        from rich.spinner import Spinner

        self._idle = Spinner("dots", style="cyan")  # beside the title while no step of its own runs

    def observe(self, event) -> None:
        import time

        from rich.spinner import Spinner

        if event.ok is None:
            self.running[event.label] = (time.perf_counter(), Spinner("dots", style="cyan"))
            return
        self.running.pop(event.label, None)
        if self.listed is None or event.label.startswith(self.listed):
            self.finished = (self.finished + [event])[-self.KEEP:]

    def copy(self, done: int, total: int) -> None:
        """promote's artifact-copy callback: bytes copied so far, of how many."""
        self.copied = None if total and done >= total else (done, total)

    def __rich__(self):
        import time

        from rich.console import Group
        from rich.text import Text

        lines: list = []
        if self.title:
            self._idle.update(text=Text(self.title, style="bold"))
            lines.append(self._idle if not self.running else Text("  " + self.title, style="bold"))
        for event in self.finished:  # one line each, cut at the terminal's width (never wrapped)
            line = Text.assemble(("✓", "green") if event.ok else ("✗", "red"), " ", event.label,
                                 no_wrap=True, overflow="ellipsis")
            if event.seconds is not None:
                line.append(f"  {event.seconds:.1f} s", style="dim")
            if event.detail and not event.ok:
                line.append(f"  {event.detail.splitlines()[0]}", style="red")
            lines.append(line)
        now = time.perf_counter()
        for label, (began, spinner) in self.running.items():
            spinner.update(text=Text(label).append(f"  {now - began:.1f} s", style="dim"))
            lines.append(spinner)
        if self.copied is not None:
            done, total = self.copied
            lines.append(Text(f"↳ copying artifacts: {done / 1e6:.1f}" + (f" of {total / 1e6:.1f}" if total else "")
                              + " MB", style="cyan"))
        return Group(*lines)


@contextlib.contextmanager
def progress(enabled: bool, title: str = "", listed: tuple[str, ...] | None = None):
    """Yield a Progress drawn on stderr while the block runs (None when not `enabled`: nothing is drawn, and the
    library's progress reports go nowhere). `listed`: label prefixes whose ends stay listed (None: all)."""
    if not enabled:
        yield None
        return
    from rich.live import Live

    from lakegate.infra import progress as reports

    view = Progress(title, listed)
    stdout_is_terminal = sys.stdout.isatty()
    with Live(view, console=errors, transient=True, refresh_per_second=8, redirect_stdout=stdout_is_terminal,
              redirect_stderr=True), reports.observed(view.observe):
        saved = console._file  # None: whatever sys.stdout is (rich's own default), restored as it was
        if stdout_is_terminal:
            console.file = _Through(sys.stdout)
        try:
            yield view
        finally:
            console._file = saved
