"""YAML that remembers where every value was written, so errors can name file and line.

An environment file is untrusted input until it has been reviewed, so reading it is bounded and never
raises: whatever the bytes are, `load_yaml` returns located problems. Only the plain core schema is read
(mappings with string keys, sequences, strings, numbers, booleans, null, dates); no tag ever constructs a
Python object.

The values are built here from the parser's events, not by PyYAML's composer and constructor, because
that is where the limits have to be enforced:

- the composer recurses once per nesting level (thousands of `[[[[` end in RecursionError) and aliases
  make the expanded document exponentially larger than the text ("billion laughs": nine aliases to the
  previous anchor, ten times over, is 10^10 values in a few hundred bytes);
- the parsers themselves (libyaml and the pure-Python one) keep explicit stacks, never recurse, and
  produce events lazily, so stopping at a limit stops the work there.

Aliases are allowed but bounded, not refused: anchors are valid YAML that people copy from other tools
(a shared cluster spec, a list of e-mail addresses), and refusing them gains nothing once expansion is
counted. What is counted is the expanded size: every alias adds the number of values of what it names,
and past MAX_ALIAS_VALUES the file is refused at that alias. A recursive alias (inside the value it
names) and an alias used before its anchor are located errors. Merge keys (`<<: *defaults`) are refused:
their explicit keys silently override merged ones, which is exactly what duplicate keys are refused for.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import Problem
from .source_map import Path_, SourceMap, format_path
from .yaml_text import NOT_PRINTABLE, describe_character, read_text, syntax_problem

# Limits, each far above anything a real environment (the examples: ~1,500 values, 8 levels deep) needs and far
# below what costs noticeable time or memory; the file's size is bounded before parsing (infra/yaml_text.py).
MAX_DEPTH = 100  # nesting levels; also keeps every recursion over the data (pydantic's too) shallow
MAX_VALUES = 100_000  # values in one file, aliases counted expanded
MAX_ALIAS_VALUES = 10_000  # values produced by aliases

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + name: kind for name, kind in (
    ("str", "string"), ("int", "integer"), ("float", "number"), ("bool", "boolean"), ("null", "null"),
    ("timestamp", "date"),
)}
_MERGE = _CORE + "merge"
_IMPLICIT_ONLY = {_MERGE, _CORE + "value"}  # `<<` and `=`: PyYAML resolves them, as values they are strings


def short(text: str, limit: int = 60) -> str:
    """A value quoted in a message, cut to a readable length."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def display_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class _Invalid:
    """Stands for a value that was refused (its problem is reported): validation skips it."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID = _Invalid()
_NOTHING = object()


class _Fatal(Exception):
    """Reading stops: the rest of the file cannot be trusted or would cost too much."""

    def __init__(self, line: int, path: Path_, message: str):
        super().__init__(message)
        self.line, self.message = line, message
        # Past the depth limit a path is a hundred `[0]`: its start says where.
        self.path = format_path(path) if len(path) <= 12 else format_path(path[:6]) + "..."


class _Collection:
    """A sequence or mapping whose end event has not come yet."""

    __slots__ = ("value", "path", "line", "anchor", "size", "height", "skip", "refused", "tainted", "pending")

    def __init__(self, value, path, line, anchor, skip, refused):
        self.value, self.path, self.line, self.anchor = value, path, line, anchor
        self.size, self.height = 1, 1
        self.skip = skip  # inside the value of a refused key: built (for anchors and problems), not kept
        self.refused = refused  # an unknown tag on the collection itself
        self.tainted = refused  # something inside was refused
        self.pending = None  # mappings: None while a key is expected, else (key or None, drop the value)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BUILD_SCALAR = {
    _CORE + "str": _CONSTRUCTOR.construct_yaml_str,
    _CORE + "int": _CONSTRUCTOR.construct_yaml_int,
    _CORE + "float": _CONSTRUCTOR.construct_yaml_float,
    _CORE + "bool": _CONSTRUCTOR.construct_yaml_bool,
    _CORE + "null": _CONSTRUCTOR.construct_yaml_null,
    _CORE + "timestamp": _CONSTRUCTOR.construct_yaml_timestamp,
}
_RESOLVER = yaml.resolver.Resolver()


class _Builder:
    """Python values and their lines from a stream of YAML events, within the limits above."""

    def __init__(self, file: str):
        self.file = file
        self.lines: dict[Path_, int] = {}
        self.spans: dict[Path_, tuple[int, int]] = {}
        self.key_spans: dict[Path_, tuple[int, int]] = {}
        self.flow: set[Path_] = set()
        self._key_span = (0, 0)
        self.problems: list[Problem] = []
        self.refused: set[Path_] = set()
        self.stack: list[_Collection] = []
        self.anchors: dict[str, tuple] = {}  # name -> (value, size, height, tainted, line)
        self.open_anchors: set[str] = set()
        self.values = 0
        self.alias_values = 0
        self.root = _NOTHING
        self.line = 1  # of the last event, for errors raised inside the parser

    # -- reporting --------------------------------------------------------------------------------------
    def _problem(self, line: int, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.file, line, format_path(path), message))

    def _refuse(self, line: int, path: Path_, message: str) -> _Invalid:
        self._problem(line, path, message)
        self.refused.add(path)
        return INVALID

    # -- where the next node goes -----------------------------------------------------------------------
    def _position(self) -> tuple[Path_, str, bool]:
        """(path, role, skip) of the node that starts now; role is root, item, key or value."""
        if not self.stack:
            return (), "root", False
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),), "item", parent.skip
        if parent.pending is None:
            return parent.path, "key", parent.skip
        key, drop = parent.pending
        return (parent.path + (key,) if key is not None else parent.path), "value", parent.skip or drop

    def _count(self, values: int, line: int, path: Path_) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise _Fatal(line, path, f"more than {MAX_VALUES:,} values (aliases counted expanded); "
                                     "an environment file is far smaller")

    # -- events -----------------------------------------------------------------------------------------
    def feed(self, event) -> None:
        if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
            return
        line = event.start_mark.line + 1 if event.start_mark is not None else self.line
        self.line = line
        if isinstance(event, yaml.DocumentStartEvent):
            if self.root is not _NOTHING:
                raise _Fatal(line, (), "a second YAML document (---): an environment file holds exactly one")
            return
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            frame = self.stack.pop()
            self.open_anchors.discard(frame.anchor)
            if frame.path in self.spans and event.end_mark is not None:
                self.spans[frame.path] = (self.spans[frame.path][0], event.end_mark.index)
            value = frame.value
            if frame.refused:
                value = INVALID
            self._done(value, frame.size, frame.height, frame.tainted, frame.line, frame.anchor, key=None)
            return
        path, role, skip = self._position()
        self._count(1, line, path)
        if isinstance(event, yaml.AliasEvent):
            self._alias(event, line, path, role)
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event, line, path, role, skip)
        else:
            self._start(event, line, path, role, skip)

    def _start(self, event, line: int, path: Path_, role: str, skip: bool) -> None:
        if len(self.stack) + 1 > MAX_DEPTH:
            raise _Fatal(line, path, f"nested deeper than {MAX_DEPTH} levels")
        is_list = isinstance(event, yaml.SequenceStartEvent)
        kind, expected = ("sequence", _CORE + "seq") if is_list else ("mapping", _CORE + "map")
        refused = False
        if role == "key":
            skip = True  # `? [a, b]`: refused as a key when it ends, nothing inside is a field
        elif event.tag not in (None, "!", expected):
            refused = True
            self._tag_problem(event.tag, kind, line, path)
        if not skip:
            self.lines.setdefault(path, line)
            if path not in self.spans and event.start_mark is not None:
                self.spans[path] = (event.start_mark.index, event.start_mark.index)
                if event.flow_style:
                    self.flow.add(path)
        if event.anchor is not None:
            self._define(event.anchor, line, path)
            self.open_anchors.add(event.anchor)
        self.stack.append(_Collection([] if is_list else {}, path, line, event.anchor, skip, refused))

    def _tag_problem(self, tag: str, kind: str, line: int, path: Path_) -> None:
        if tag in _SCALAR_TAGS or tag in (_CORE + "seq", _CORE + "map"):
            self._refuse(line, path, f"YAML tag '{display_tag(tag)}' does not apply to a {kind}")
        else:
            self._refuse(line, path, f"unknown YAML tag '{display_tag(tag)}'")

    def _define(self, anchor: str, line: int, path: Path_) -> None:
        if anchor in self.anchors:
            self._problem(line, path, f"anchor '&{anchor}' is already defined (line {self.anchors[anchor][4]})")

    def _scalar(self, event, line: int, path: Path_, role: str, skip: bool) -> None:
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(yaml.ScalarNode, text, event.implicit)
            if tag in _IMPLICIT_ONLY and role != "key":
                tag = _CORE + "str"
            explicit = False
        else:
            explicit = True
        if event.anchor is not None:
            self._define(event.anchor, line, path)
        marks = (event.start_mark.index, event.end_mark.index) if event.start_mark is not None else None
        if role == "key":
            self._key_span = marks
            self._done(text, 1, 0, False, line, event.anchor, key=(tag, explicit, text))
            return
        if not skip:
            self.lines.setdefault(path, line)
            if marks is not None:
                self.spans.setdefault(path, marks)
        value, tainted = self._scalar_value(tag, text, line, path, event)
        self._done(value, 1, 0, tainted, line, event.anchor, key=None)

    def _scalar_value(self, tag: str, text: str, line: int, path: Path_, event) -> tuple[object, bool]:
        if tag not in _SCALAR_TAGS:
            return self._refuse(line, path, f"unknown YAML tag '{display_tag(tag)}'"), True
        try:
            value = _BUILD_SCALAR[tag](yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style))
        except Exception:  # noqa: BLE001 - whatever a core constructor trips on, the value is invalid
            # e.g. `expires: 2027-13-45` (a date by its shape, not a real day), 5,000 digits, `!!bool maybe`
            return self._refuse(line, path, f"invalid {_SCALAR_TAGS[tag]} '{short(text)}'"), True
        if isinstance(value, str):
            bad = NOT_PRINTABLE.search(value)
            if bad:
                return self._refuse(line, path, f"{describe_character(bad.group())} in the value; remove it"), True
        return value, False

    def _alias(self, event, line: int, path: Path_, role: str) -> None:
        name = event.anchor
        if role == "key":
            self._done(INVALID, 1, 0, True, line, None, key=("alias", True, None))
            return
        if name in self.open_anchors:
            self._problem(line, path, f"recursive alias '*{name}': it is inside the value it names")
            self.refused.add(path)
            for frame in self.stack:  # the named value is refused as a whole: it has no finite meaning
                if frame.anchor == name:
                    frame.refused = frame.tainted = True
                    self.refused.add(frame.path)
            self._done(INVALID, 1, 0, True, line, None, key=None)
            return
        if name not in self.anchors:
            value = self._refuse(line, path, f"alias '*{name}' has no anchor '&{name}' before it")
            self._done(value, 1, 0, True, line, None, key=None)
            return
        value, size, height, tainted, _ = self.anchors[name]
        self.alias_values += size
        if self.alias_values > MAX_ALIAS_VALUES:
            raise _Fatal(line, path, f"aliases expand to more than {MAX_ALIAS_VALUES:,} values "
                                     f"(at '*{name}'); write the values out or use fewer aliases")
        self._count(size - 1, line, path)
        if len(self.stack) + height > MAX_DEPTH:
            raise _Fatal(line, path, f"nested deeper than {MAX_DEPTH} levels (through alias '*{name}')")
        self.lines.setdefault(path, line)
        if tainted:
            self.refused.add(path)  # its problems are reported at the anchor
        self._done(value, size, height, tainted, line, None, key=None)

    # -- a node is complete: attach it to its parent ----------------------------------------------------
    def _done(self, value, size: int, height: int, tainted: bool, line: int, anchor, key) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size, height, tainted, line)
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        parent.tainted = parent.tainted or tainted
        if isinstance(parent.value, list):
            parent.value.append(value)
            return
        if parent.pending is None:
            parent.pending = self._key(parent, value, line, key)
            return
        name, drop = parent.pending
        parent.pending = None
        if not drop:
            parent.value[name] = value

    def _key(self, parent: _Collection, value, line: int, key) -> tuple:
        """(key, drop its value) for the key node just completed."""
        path = parent.path

        def refuse(message: str, name=None) -> tuple:
            # The mapping is incomplete: errors about what it lacks would be consequences.
            self._refuse(line, path, message)
            parent.tainted = True
            return name, True

        if key is None or key[0] == "alias":
            return refuse("keys must be plain strings")
        tag, explicit, text = key
        if explicit and tag not in _SCALAR_TAGS:
            return refuse(f"unknown YAML tag '{display_tag(tag)}'")
        if tag == _MERGE:
            return refuse("merge keys (<<) are not supported: write the fields out")
        if text == "":
            return refuse("empty key")
        bad = NOT_PRINTABLE.search(text)
        if bad:
            return refuse(f"{describe_character(bad.group())} in a key; remove it")
        if text in parent.value:
            self._problem(line, path + (text,), "duplicate key (YAML would silently keep the last one)")
            return text, True
        if not parent.skip:
            self.lines[path + (text,)] = line
            if self._key_span is not None:
                self.key_spans[path + (text,)] = self._key_span
        return text, parent.skip


def _parser(text: str):
    # libyaml when PyYAML has it (about twenty times faster on big input), else the pure-Python parser.
    # Only the parser is used: both produce events lazily from explicit stacks, without recursion.
    loader_class = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    return loader_class(text)


def load_yaml(file_path: Path, display_name: str) -> tuple[object, SourceMap, list[Problem]]:
    """Parse one file. Returns (data, source map, problems); data is None when the YAML is unreadable.

    Never raises for any content: every problem is located (file, line and, when known, field path).
    """
    text, problems = read_text(file_path, display_name)
    if text is None:
        return None, SourceMap(display_name, {}), problems
    builder = _Builder(display_name)
    parser = _parser(text)
    try:
        while True:
            event = parser.get_event()
            if event is None:
                break
            builder.feed(event)
            if isinstance(event, yaml.StreamEndEvent):
                break
    except _Fatal as fatal:
        problems = builder.problems + [Problem(display_name, fatal.line, fatal.path, fatal.message)]
        return None, SourceMap(display_name, builder.lines), problems
    except yaml.YAMLError as exc:
        problems = builder.problems + [syntax_problem(exc, text, display_name, builder.line)]
        return None, SourceMap(display_name, builder.lines), problems
    except RecursionError:  # not expected (nothing above recurses), but never a traceback
        return None, SourceMap(display_name, builder.lines), [
            Problem(display_name, builder.line, "", f"nested too deeply to read (at most {MAX_DEPTH} levels)")]
    finally:
        parser.dispose()
    source = SourceMap(display_name, builder.lines, frozenset(builder.refused), builder.spans, builder.key_spans,
                       frozenset(builder.flow))
    if builder.root is _NOTHING:
        return None, source, builder.problems + [Problem(display_name, 1, "", "the file is empty")]
    if builder.root is INVALID:
        return None, source, builder.problems
    if builder.root is None:  # `---`, `~`: data None must never mean "nothing to report"
        return None, source, builder.problems + [
            Problem(display_name, source.line(()), "", "an environment file holds a mapping of fields")]
    return builder.root, source, builder.problems
