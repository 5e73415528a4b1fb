"""YAML that remembers where every value was written, so errors can name file and line."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import Problem

Path_ = tuple  # a field path: ('grants', 2, 'privileges')


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class SourceMap:
    """Line numbers of the values of one YAML file, by field path."""

    def __init__(self, file: str, lines: dict[Path_, int]):
        self.file = file
        self._lines = lines

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


def _to_python(node: yaml.Node, path: Path_, lines: dict, problems: list[Problem], file: str):
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                problems.append(Problem(file, key_node.start_mark.line + 1, format_path(path), "keys must be plain strings"))
                continue
            if key in result:
                problems.append(Problem(file, key_node.start_mark.line + 1, format_path(path + (key,)),
                                        "duplicate key (YAML would silently keep the last one)"))
                continue
            lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, path + (key,), lines, problems, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (i,), lines, problems, file) for i, item in enumerate(node.value)]
    return _LOADER.construct_object(node, deep=True)


_LOADER = yaml.SafeLoader("")


def load_yaml(file_path: Path, display_name: str) -> tuple[object, SourceMap, list[Problem]]:
    """Parse one file. Returns (data, source map, problems); data is None when the YAML is unreadable."""
    problems: list[Problem] = []
    lines: dict[Path_, int] = {}
    try:
        text = file_path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return None, SourceMap(display_name, {}), [Problem(display_name, line, "", f"invalid YAML: {exc.problem}")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, SourceMap(display_name, {}), [Problem(display_name, 0, "", f"cannot read: {exc}")]
    if node is None:
        return None, SourceMap(display_name, {}), [Problem(display_name, 1, "", "the file is empty")]
    data = _to_python(node, (), lines, problems, display_name)
    return data, SourceMap(display_name, lines), problems
