"""Editing an environment file as text, at the places the YAML loader located (infra/yaml_source.py spans).

Only the characters of the values changed are replaced; comments, order, quoting of everything else and line
endings stay as the person wrote them. No second YAML library: what is read is what `check` reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..source_map import format_path
from ..yaml_source import load_yaml

_RESOLVER = yaml.resolver.Resolver()
_PLAIN = re.compile(r"[A-Za-z0-9_./@$][A-Za-z0-9 _./@$+=()-]*")


def scalar(value) -> str:
    """A value as a YAML scalar: plain when YAML would read it back as the same string, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and tag == "tag:yaml.org,2002:str":
        return text
    return json.dumps(text, ensure_ascii=False)


def flow(value) -> str:
    """A small value in YAML flow style, as the examples write gates and tables: `{type: signature}`."""
    if isinstance(value, dict):
        # Keys are read as plain text by the loader (`on:` stays a key, never YAML 1.1's boolean).
        return "{" + ", ".join(f"{k if _PLAIN.fullmatch(str(k)) else scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


@dataclass(frozen=True)
class Change:
    file: str
    line: int
    path: str
    old: object
    new: object

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "path": self.path, "old": self.old, "new": self.new}

    def __str__(self) -> str:
        if self.old is None:
            return f"{self.file}:{self.line}: {self.path}: added {self.new}"
        if self.new is None:
            return f"{self.file}:{self.line}: {self.path}: removed (was {self.old})"
        return f"{self.file}:{self.line}: {self.path}: {self.old} -> {self.new}"


class Document:
    """One YAML file's text, its values and their spans; edits are collected, then applied at once."""

    def __init__(self, path: Path, display: str, shown_as: str | None = None):
        self.path, self.display = path, shown_as or display
        self.original = path.read_bytes().decode("utf-8")
        bom = "\ufeff" if self.original.startswith("\ufeff") else ""
        self.bom, self.text = bom, self.original[len(bom):]
        self.data, self.source, problems = load_yaml(path, display)
        if problems or not isinstance(self.data, dict):
            raise ValueError(f"{display} cannot be edited: {problems[0] if problems else 'not a mapping'}")
        self.edits: list[tuple[int, int, str]] = []
        self._changes: list[tuple[int, int, int, str, object, object]] = []  # offset, own edit, extra line, ...

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, *path):
        value = self.data
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                return None
        return value

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def _line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def _line_end(self, offset: int) -> int:
        end = self.text.find("\n", offset)
        return len(self.text) if end < 0 else end + 1

    def indent_of(self, path: tuple) -> int:
        start = self.source.key_spans[path][0]
        return start - self._line_start(start)

    def content_end(self, path: tuple) -> int:
        """Offset just past the last value written under `path`."""
        # A block collection's end is where the next token starts (after comments that belong to it): not counted.
        ends = [end for p, (_, end) in self.source.spans.items() if p[: len(path)] == path
                and (p in self.source.flow or not isinstance(self.get(*p), (dict, list)))]
        return max(ends)

    def walk(self, value=None, path: tuple = ()):
        """(path, value) of every scalar, depth first."""
        value = self.data if value is None and not path else value
        if isinstance(value, dict):
            for key, item in value.items():
                yield from self.walk(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from self.walk(item, path + (index,))
        else:
            yield path, value

    # -- editing ------------------------------------------------------------------------------------------------
    def set(self, path: tuple, value) -> None:
        old = self.get(*path)
        if old == value:
            return
        start, end = self.source.spans[path]
        self.edits.append((start, end, scalar(value)))
        self._record(start, format_path(path), old, value)

    def rename_key(self, path: tuple, new: str) -> None:
        start, end = self.source.key_spans[path]
        self.edits.append((start, end, scalar(new)))
        self._record(start, format_path(path[:-1]) + " key", path[-1], new)

    def remove(self, path: tuple, comment: str = "") -> None:
        """Remove `key: value`; a block entry's line becomes `comment` (when given) at the key's indentation."""
        key_start, _ = self.source.key_spans[path]
        _, value_end = self.source.spans[path]
        line_start = self._line_start(key_start)
        old = self.get(*path)
        if path[:-1] not in self.source.flow and not self.text[line_start:key_start].strip():
            replacement = (" " * (key_start - line_start) + f"# {comment}\n") if comment else ""
            self.edits.append((line_start, self._line_end(value_end), replacement))
        else:
            after = re.match(r"\s*,\s*", self.text[value_end:])
            before = re.search(r",\s*$", self.text[:key_start])
            if after:
                self.edits.append((key_start, value_end + after.end(), ""))
            elif before:
                self.edits.append((before.start(), value_end, ""))
            else:
                self.edits.append((key_start, value_end, ""))
        self._record(key_start, format_path(path), old, None)

    def insert_lines(self, offset: int, text: str, path: tuple, shown) -> None:
        """Insert whole lines at the start of the line holding `offset` (or at the end of the file)."""
        at = self._line_start(offset) if offset < len(self.text) else len(self.text)
        if at == len(self.text) and self.text and not self.text.endswith("\n"):
            text = "\n" + text
        self.edits.append((at, at, text))
        self._record(at, format_path(path), None, shown, extra=1 if text.startswith("\n") else 0)

    def append_item(self, path: tuple, item: str, shown) -> None:
        """Append a rendered item to the sequence at `path`: `, item` in a flow list, `- item` after a block one's last."""
        items = self.get(*path)
        start, end = self.source.spans[path]
        if path in self.source.flow:
            close = self.text.rindex("]", start, end)
            self.edits.append((close, close, (", " if items else "") + item))
            self._record(close, format_path(path + (len(items),)), None, shown)
            return
        first = self.source.spans[path + (0,)][0]
        prefix = self.text[self._line_start(first):first]  # `    - `
        self.insert_lines(self._line_end(self.content_end(path)), prefix + item + "\n", path + (len(items),), shown)

    def after_line_of(self, offset: int) -> int:
        return self._line_end(offset)

    def prepend(self, text: str) -> None:
        """Lines before everything."""
        self.edits.append((0, 0, text))

    def _record(self, offset: int, path: str, old, new, extra: int = 0) -> None:
        self._changes.append((offset, len(self.edits) - 1, extra, path, old, new))

    @property
    def changes(self) -> list[Change]:
        """What changed, at its line in the rendered file (edits above it move it)."""
        found = []
        for offset, own, extra, path, old, new in self._changes:
            shift = sum(replacement.count("\n") - self.text.count("\n", start, end)
                        for index, (start, end, replacement) in enumerate(self.edits)
                        if index != own and (start < offset or start == end == offset))
            found.append(Change(self.display, self.line_of(offset) + shift + extra, path, old, new))
        return found

    def rendered(self) -> str:
        text = self.text
        for start, end, replacement in sorted(self.edits, key=lambda e: (e[0], e[1]), reverse=True):
            text = text[:start] + replacement + text[end:]
        return self.bom + text
