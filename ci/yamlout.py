"""A small, deterministic YAML emitter for the generated pipelines.

PyYAML cannot write comments, and a pinned action needs one (`uses: owner/action@<sha> # v1.2.3`), as do
the notes that explain why a step is not there. So the generator builds plain dicts and lists, with two
extras: `Commented(value, comment)` (a scalar with a trailing comment) and `Comment(text)` (a comment line
inside a mapping or a list). Scalars are quoted exactly when PyYAML would quote them (or when a platform
reads them as something other than a string, e.g. `"3.11"`), multi-line strings become literal blocks.
The output is parsed back by the tests (yaml.safe_load) and linted by actionlint.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml

INDENT = "  "


@dataclass(frozen=True)
class Commented:
    value: Any
    comment: str


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Quoted:
    """A value that comes from the definitions: always a double-quoted YAML string, whatever it holds."""

    value: str


def dump(document: dict, header: str = "") -> str:
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    lines += _mapping(document, 0)
    return "\n".join(lines) + "\n"


def _mapping(mapping: dict, level: int) -> list[str]:
    pad = INDENT * level
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(value, Comment):   # the key only keeps the mapping's keys unique
            lines.extend(_comment(value.text, pad))
            continue
        name = _scalar(key)
        comment = ""
        if isinstance(value, Commented):
            value, comment = value.value, f" # {value.comment}"
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{name}:{comment}")
            lines.extend(_mapping(value, level + 1))
        elif isinstance(value, list) and value:
            lines.append(f"{pad}{name}:{comment}")
            lines.extend(_sequence(value, level + 1))
        elif isinstance(value, str) and "\n" in value:
            lines.append(f"{pad}{name}: {_block_indicator(value)}{comment}")
            lines.extend(_block(value, level + 1))
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}{comment}")
    return lines


def _sequence(items: list, level: int) -> list[str]:
    pad = INDENT * level
    lines: list[str] = []
    for item in items:
        if isinstance(item, Comment):
            lines.extend(_comment(item.text, pad))
            continue
        comment = ""
        if isinstance(item, Commented):
            item, comment = item.value, f" # {item.comment}"
        if isinstance(item, dict) and item:
            inner = _mapping(item, level + 1)
            first = next(i for i, line in enumerate(inner) if not line.lstrip().startswith("#"))
            lines.extend(inner[:first])
            lines.append(f"{pad}- {inner[first].lstrip()}")
            lines.extend(inner[first + 1:])
        elif isinstance(item, list) and item:
            inner = _sequence(item, level + 1)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines.extend(inner[1:])
        elif isinstance(item, str) and "\n" in item:
            lines.append(f"{pad}- {_block_indicator(item)}{comment}")
            lines.extend(_block(item, level + 1))
        else:
            lines.append(f"{pad}- {_scalar(item)}{comment}")
    return lines


def _comment(text: str, pad: str, width: int = 110) -> list[str]:
    lines = []
    for paragraph in text.splitlines() or [""]:
        wrapped = textwrap.wrap(paragraph, width=max(40, width - len(pad) - 2), break_long_words=False,
                                break_on_hyphens=False) or [""]
        lines += [f"{pad}# {line}".rstrip() for line in wrapped]
    return lines


def _block_indicator(text: str) -> str:
    return "|" if text.endswith("\n") else "|-"


def _block(text: str, level: int) -> list[str]:
    pad = INDENT * level
    return [f"{pad}{line}" if line else "" for line in text.rstrip("\n").split("\n")]


_NUMBER_LIKE = re.compile(r"[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?|0[xXoObB][0-9a-fA-F_]+")


def _scalar(value: Any) -> str:
    if isinstance(value, Quoted):
        return _double_quoted(value.value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    # Strings any YAML 1.1 or 1.2 reader could take for a number, a boolean or null stay strings.
    if _NUMBER_LIKE.fullmatch(text) or text.lower() in {"y", "n", "yes", "no", "on", "off", "true", "false",
                                                        "null", "~", ""}:
        return _double_quoted(text)
    dumped = yaml.safe_dump(text, default_flow_style=False, width=10_000, allow_unicode=False)
    dumped = dumped.removesuffix("\n").removesuffix("\n...").removesuffix("...")
    return dumped.strip() if "\n" not in dumped.strip() else _double_quoted(text)


def _double_quoted(text: str) -> str:
    # JSON's escapes are YAML's: a quote, a backslash, a line break or any control character stays inside
    # the string.
    return json.dumps(text, ensure_ascii=True)
