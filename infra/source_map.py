"""Where each value of an environment file was written: line numbers (and character spans) by field path, and the
located problem of a path (`environments/prod.yaml:14: grants[2].privileges: ...`)."""

from __future__ import annotations

from .errors import Problem

Path_ = tuple  # a field path: ('grants', 2, 'privileges')


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class SourceMap:
    """Line numbers of the values of one YAML file, by field path."""

    def __init__(self, file: str, lines: dict[Path_, int], refused: frozenset = frozenset(),
                 spans: dict | None = None, key_spans: dict | None = None, flow: frozenset = frozenset()):
        self.file = file
        self._lines = lines
        # Character offsets (start, end) in the file's text of each value and each mapping key, and the paths of
        # flow collections (`{...}`, `[...]`): what editing a file as text needs (infra/scaffold/).
        self.spans = spans or {}
        self.key_spans = key_spans or {}
        self.flow = frozenset(flow)
        # Paths whose value was refused while reading (an unknown tag, an invalid date, ...): the problem is
        # already reported there, so validation errors at or under them are consequences, not news.
        self.refused = frozenset(refused)

    def line(self, path: Path_) -> int:
        # The most specific prefix that was written: a missing field points at its parent mapping.
        for end in range(len(path), -1, -1):
            if tuple(path[:end]) in self._lines:
                return self._lines[tuple(path[:end])]
        return 1

    def locate(self, path: Path_) -> str:
        return f"{self.file}:{self.line(tuple(path))}"

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(self.file, self.line(tuple(path)), format_path(path), message)

    def is_refused(self, path: Path_) -> bool:
        path = tuple(path)
        return any(path[:end] in self.refused for end in range(len(path) + 1))
