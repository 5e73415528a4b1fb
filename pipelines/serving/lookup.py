"""Serving by key: `{"dataframe_records": [{"<key>": ...}, ...]}` answered with the features of those keys, looked up
in the environment's feature table as the serving principal, then scored like any request.

On Databricks the endpoint reads the table's online copy in the environment's online store (the feature-refresh
job publishes it, pipelines/features/online.py). Here the lookup reads the Delta table itself, through the
serving principal's LocalTables, so the grants decide exactly as for a job (pipelines/grants.py): a principal
without SELECT on the table is refused (403), at start-up and on every request. The rows are held in memory as
a key -> features map, the local stand-in for the online table: reloaded when the table's Delta version moved
(checked at most every `refresh_seconds`, off the per-request cost), so a feature refresh is seen within that.

What a request by key may be, and the answers (one line each, naming the field and the row):
- every row an object holding only the key (the looked-up row gives every feature the signature names);
  a row that also names features, or misses the key, is refused (400): a request is by key or by features;
- the key's value of the key's type (the type recorded with the model at training, else the table's);
- keys with no row in the table: 404 naming them (up to 10) and the table; the table not written yet, or without
  a feature the model needs: 503 (the environment's state, not the request, is at fault);
- `dataframe_split` with only the key column is accepted too; other shapes by key are refused (400).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from .signature import Refused, _kind, _shown, parse_json

_SHOWN_KEYS = 10
_ROWS = ("dataframe_records", "dataframe_split")


class LookupFailed(Exception):
    """A request by key that cannot be answered: `status` (403/404/503), `code` and a one-line message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class LookupSpec:
    """What the served version recorded of its features at training (pipelines/training/train.py)."""

    table: str                      # catalog-relative, `schema.table`
    key: str
    key_type: str | None            # MLflow type name of the key (string, long, ...)
    feature_names: tuple[str, ...]

    @classmethod
    def of(cls, model) -> "LookupSpec | None":
        """The version's recorded lookup (MLmodel metadata `feature_lookups`), None for a version logged without."""
        metadata = getattr(getattr(model, "metadata", None), "metadata", None) or {}
        lookups = metadata.get("feature_lookups") or []
        if not lookups or not isinstance(lookups[0], dict):
            return None
        first = lookups[0]
        key = (first.get("lookup_key") or [""])[0]
        return cls(str(first.get("table_name", "")), str(key), (first.get("key_types") or {}).get(key),
                   tuple(first.get("feature_names") or ()))


def _a(kind: str) -> str:
    return f"{'an' if kind[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {kind}"


def key_type_problem(value: Any, kind: str | None, row: int) -> str | None:
    """Why `value` is not a key of MLflow type `kind` (None: it is); `kind` None: a string or an integer."""
    if kind in ("long", "integer"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind in ("double", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    else:  # unknown or another type: a JSON scalar (a list or an object is never a key)
        ok = isinstance(value, (str, int)) and not isinstance(value, bool) if kind is None else \
            isinstance(value, (str, int, float, bool))
    expected = _a(kind) if kind else "a string or an integer"
    return None if ok else f"{'null' if value is None else _shown(value)} in row {row} is not {expected}"


class KeyLookup:
    """The features of the environment's feature table `table`, read by key as `tables`' principal."""

    def __init__(self, tables, table: str, key: str, *, refresh_seconds: float = 1.0):
        self.tables, self.table, self.key = tables, table, key
        self.full_name = tables.full_name(table)
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._version: int | None = None
        self._checked = 0.0
        self._rows: dict[Any, tuple] = {}
        self._columns: tuple[str, ...] = ()
        self._key_type: str | None = None
        self.loads = 0

    @property
    def principal(self) -> str:
        return self.tables.principal

    def check(self) -> None:
        """Refuse now (PermissionRefused) if the serving principal may not read the table: `serve` fails at start-up
        with the permission's exit code instead of answering every request by key with a 403."""
        self.tables.exists(self.table)

    # -- the request --------------------------------------------------------------------------------------

    def wanted(self, body: bytes) -> bool:
        """Cheap test before parsing: can this body be a request by key?"""
        return self.key.encode() in body

    def keys_of(self, body: bytes, key_type: str | None) -> list | None:
        """The keys a request by key gives, in row order; None for a request by features. Refused: a malformed
        request by key."""
        from .signature import decode

        payload = parse_json(decode(body))
        if not isinstance(payload, dict):
            return None
        name = next((k for k in payload if k in _ROWS), None)
        rows = payload.get(name) if name else None
        if name == "dataframe_split":
            if not isinstance(rows, dict) or rows.get("columns") != [self.key]:
                return None
            data = rows.get("data")
            if not isinstance(data, list) or not data:
                raise Refused("INVALID_INPUT", "dataframe_split.data must be a non-empty list of rows")
            records = [{self.key: r[0]} if isinstance(r, list) and len(r) == 1 else r for r in data]
        elif name == "dataframe_records" and isinstance(rows, list) and any(
                isinstance(r, dict) and self.key in r for r in rows):
            records = rows
        else:
            if name is None and any(isinstance(v, list) and any(isinstance(r, dict) and self.key in r for r in v)
                                    for v in payload.values()):
                raise Refused("INVALID_INPUT", f"a request by key is {{\"dataframe_records\": [{{\"{self.key}\": "
                                               f"...}}]}}, not {', '.join(sorted(map(str, payload)))[:100]}")
            return None
        if len(payload) != 1:
            raise Refused("INVALID_INPUT", f"the body must hold only {name} (got keys: "
                                           f"{', '.join(sorted(map(str, payload)))[:200]})")
        keys = []
        for row, record in enumerate(records):
            where = f"{name}[{row}]"
            if not isinstance(record, dict):
                raise Refused("INVALID_INPUT", f"{where} must be an object {{\"{self.key}\": ...}}, not a {_kind(record)}")
            if self.key not in record:
                raise Refused("INVALID_INPUT", f"{where}: missing the key {self.key} (a request by key gives the key in "
                                               "every row)")
            extra = sorted(str(c) for c in record if c != self.key)
            if extra:
                raise Refused("INVALID_INPUT", f"{where}: a request by key gives only {self.key}, not "
                                               f"{', '.join(extra)[:200]} (send the key alone, or every feature "
                                               "without the key)")
            kind = key_type or self._key_type
            problem = key_type_problem(record[self.key], kind, row)
            if problem:
                raise Refused("INVALID_INPUT", f"column {self.key}: {problem} (the key {self.key} is "
                                               f"{_a(kind) if kind else 'a string or an integer'})")
            keys.append(record[self.key])
        return keys

    def features(self, keys: list, columns: tuple[str, ...]) -> bytes:
        """A `dataframe_split` request of the signature's `columns` for `keys`, in order (LookupFailed if not)."""
        from lakegate.promotion.registry import PermissionRefused

        try:
            rows, known = self._snapshot()
        except PermissionRefused as refused:
            raise LookupFailed(403, "PERMISSION_DENIED", f"{refused} ({refused.detail}): the serving principal "
                                                         f"cannot look features up by key") from None
        absent = [c for c in columns if c not in known]
        if absent:
            raise LookupFailed(503, "FEATURES_UNAVAILABLE", f"{self.full_name} has no column {', '.join(absent)[:200]} "
                                                            "the model needs: run the feature refresh for this model")
        missing = list(dict.fromkeys(k for k in keys if k not in rows))
        if missing:
            shown = ", ".join(_shown(k) for k in missing[:_SHOWN_KEYS]) + (" ..." if len(missing) > _SHOWN_KEYS else "")
            raise LookupFailed(404, "RESOURCE_DOES_NOT_EXIST", f"no row in {self.full_name} for {self.key} {shown} "
                                                               f"({len(missing)} of {len(keys)} key(s))")
        positions = [known.index(c) for c in columns]
        data = [[_plain(rows[k][i]) for i in positions] for k in keys]
        return json.dumps({"dataframe_split": {"columns": list(columns), "data": data}}).encode()

    # -- the in-memory copy -------------------------------------------------------------------------------

    def _snapshot(self) -> tuple[dict, tuple[str, ...]]:
        """The key -> row map and its columns; the grant is checked on every call, the Delta version at most every
        refresh_seconds."""
        from lakegate.pipelines.errors import MissingTable

        if not self.tables.exists(self.table):  # the READ check (PermissionRefused) for every request
            raise LookupFailed(503, "FEATURES_UNAVAILABLE", f"{self.full_name} does not exist yet: run the model's "
                                                            "feature-refresh job")
        now = time.monotonic()
        if self._version is not None and now - self._checked < self.refresh_seconds:
            return self._rows, self._columns
        with self._lock:
            version = self.tables.version(self.table)
            self._checked = time.monotonic()
            if version != self._version or not self._rows:
                try:
                    frame = self.tables.to_pandas(self.tables.read(self.table))
                except MissingTable:
                    raise LookupFailed(503, "FEATURES_UNAVAILABLE", f"{self.full_name} does not exist yet") from None
                if self.key not in frame.columns:
                    raise LookupFailed(503, "FEATURES_UNAVAILABLE", f"{self.full_name} has no key column {self.key}")
                frame = frame.drop_duplicates(subset=[self.key], keep="last")
                columns = tuple(str(c) for c in frame.columns)
                self._rows = dict(zip(frame[self.key].tolist(), map(tuple, frame.to_numpy(dtype=object).tolist())))
                self._columns, self._version = columns, version
                self._key_type = _mlflow_type(frame[self.key])
                self.loads += 1
            return self._rows, self._columns


def _plain(value: Any) -> Any:
    """A table value as JSON takes it: numpy scalars as Python's, NaN as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _mlflow_type(series) -> str | None:
    kind = series.dtype.kind
    return {"i": "long", "u": "long", "f": "double", "b": "boolean", "O": "string", "U": "string"}.get(kind)


def openapi_by_key(document: dict, key: str, kind: str | None, table: str) -> dict:
    """The endpoint's OpenAPI document (signature.openapi) with the request by key and its answers added."""
    from .signature import JSON, _schema_of

    post = next(iter(document["paths"].values()))["post"]
    by_key = {"type": "object", "additionalProperties": False, "required": ["dataframe_records"],
              "description": f"by key: the features are looked up in {table}",
              "properties": {"dataframe_records": {"type": "array", "minItems": 1, "items": {
                  "type": "object", "additionalProperties": False, "required": [key],
                  "properties": {key: _schema_of(kind or "string", False)}}}}}
    post["requestBody"]["content"][JSON]["schema"]["oneOf"].append(by_key)
    error = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    post["responses"].update({
        "403": {"description": "the serving principal may not read the feature table", "content": error},
        "404": {"description": "a key has no row in the feature table (the message names it)", "content": error},
        "503": {"description": "the feature table is not written yet", "content": error}})
    return document
