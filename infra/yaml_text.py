"""An environment file's bytes to text, bounded and checked before YAML sees it: a regular file of at most
MAX_FILE_BYTES, UTF-8, without the characters YAML does not allow or reviewers cannot see; and YAML's own syntax
errors as located problems (infra/yaml_source.py builds the values from the text)."""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

import yaml

from .errors import Problem

# Each far above a real environment file (the examples: ~10 KB) and far below what costs noticeable time or memory
# (1 MB of YAML parses in about a second).
MAX_FILE_BYTES = 1_000_000

# What YAML does not allow raw in a stream (PyYAML's own rule: C0 and C1 controls except tab, line feed,
# carriage return and NEL; DEL; surrogates; U+FFFE and U+FFFF). In values (escaped: "\0", "\a") the same set.
NOT_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
# Raw in a file, also the line breaks that YAML counts and editors and reviewers do not show (NEL, LS, PS):
# with them a reviewed line is not the line YAML reads, and every line number after them is off.
_NOT_ALLOWED_RAW = re.compile("[^\x09\x0A\x0D\x20-\x7E\xA0-\u2027\u202A-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_C0_NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN "
             "EM SUB ESC FS GS RS US").split()


def describe_character(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return f"control character U+{code:04X} ({_C0_NAMES[code]})"
    if code == 0x7F:
        return "control character U+007F (DEL)"
    if 0x80 <= code < 0xA0:
        return f"control character U+{code:04X}"
    name = unicodedata.name(char, "")
    return f"character U+{code:04X}" + (f" ({name})" if name else "")


def read_text(file_path: Path, display_name: str) -> tuple[str | None, list[Problem]]:
    """The file's text, or problems: unreadable, too big, not UTF-8, characters YAML does not allow."""
    try:
        info = os.stat(file_path)
        if not stat.S_ISREG(info.st_mode):
            return None, [Problem(display_name, 0, "", "cannot read: not a regular file")]
        if info.st_size > MAX_FILE_BYTES:
            return None, [too_big(display_name, info.st_size)]
        with open(file_path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Problem(display_name, 0, "", f"cannot read: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:  # grew since stat
        return None, [too_big(display_name, len(raw))]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return None, [Problem(display_name, 1, "", "the file is UTF-16 or UTF-32 (byte order mark); save it as UTF-8")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = line_and_column(raw[: exc.start].decode("utf-8", "replace"))
        return None, [Problem(display_name, line, "",
                              f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {column}; save the file as UTF-8")]
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark (some Windows editors write one) is harmless
    bad = _NOT_ALLOWED_RAW.search(text)
    if bad:
        line, column = line_and_column(text[: bad.start()])
        more = len(_NOT_ALLOWED_RAW.findall(text)) - 1
        also = f" ({more} more in the file)" if more else ""
        return None, [Problem(display_name, line, "",
                              f"{describe_character(bad.group())} at column {column} is not allowed in an "
                              f"environment file; remove it{also}")]
    return text, []


def line_and_column(before: str) -> tuple[int, int]:
    """Line and column (1-based) of the character after `before`, counting line breaks as YAML does."""
    breaks = list(re.finditer("\r\n|\r|\n", before))
    return len(breaks) + 1, len(before) - (breaks[-1].end() if breaks else 0) + 1


def too_big(display_name: str, size: int) -> Problem:
    return Problem(display_name, 1, "", f"the file is {size:,} bytes; an environment file may have at most "
                                        f"{MAX_FILE_BYTES:,} bytes")


def syntax_problem(exc: yaml.YAMLError, text: str, display_name: str, fallback_line: int) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif getattr(exc, "position", None) is not None:  # ReaderError
        line = text.count("\n", 0, exc.position) + 1
    else:
        line = fallback_line
    message = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or ["unreadable"])[0]
    if mark is not None:
        lines = text.splitlines() or [""]
        source_line = lines[min(mark.line, len(lines) - 1)]
        if "\t" in source_line[: mark.column + 1]:
            message += " (a tab: YAML indents with spaces only)"
    return Problem(display_name, line, "", f"invalid YAML: {message}")
