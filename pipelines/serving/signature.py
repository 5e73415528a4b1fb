"""What a scoring request must look like, from the served model's signature: the strict check `serve` applies
before MLflow sees a request, and the OpenAPI 3 document the endpoint publishes (the same rules, as a schema).

Strict (the default, `signature_checking: strict` in the YAML): every column the signature names and nothing
else; a double/float column takes a JSON number, integer/long a JSON integer, boolean true/false, string a JSON
string; null only in a column the signature marks optional; at least one row. MLflow itself would ignore an
unknown column and coerce `true` to 1.0 (lenient, `mlflow models serve`'s behaviour): a client's mistake then
scores silently. Each refusal is one line naming the field, the row and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

JSON = "application/json"
INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_NUMBER = ("double", "float")
_INTEGER = {"integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}
_SHOWN = 40
# Types whose pandas column holds a missing value: null is allowed there in an optional column. An optional
# integer or boolean column can only be left out of every row (MLflow cannot cast a column with a gap to int).
_NULLABLE = ("double", "float", "string", "binary", "datetime")


class Refused(ValueError):
    """A request the signature does not allow: `code` (MALFORMED_REQUEST / INVALID_INPUT) and a one-line message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value) if not isinstance(value, str) else repr(value)
    except (RecursionError, ValueError, TypeError):  # nested as deep as the parser allows: say what it is
        text = f"a {_kind(value)}"
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _name(column: Any) -> str:
    """A column name as a message shows it: plain names as they are, anything else quoted (no control bytes)."""
    text = str(column)
    return text if text and text.isprintable() and text.strip() == text and "," not in text else _shown(text)


def decode(body: bytes) -> str:
    """The body as text; a body that is not UTF-8 is refused, naming the first bad byte."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refused("MALFORMED_REQUEST", f"the body is not valid UTF-8 (byte 0x{body[error.start]:02x} at offset "
                                           f"{error.start})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise Refused("MALFORMED_REQUEST", "the body is nested too deeply to be a scoring request") from None
    except json.JSONDecodeError as error:
        raise Refused("MALFORMED_REQUEST", f"the body is not valid JSON ({error.msg} at line {error.lineno} column "
                                           f"{error.colno})") from None
    except ValueError as error:  # NaN / Infinity
        raise Refused("MALFORMED_REQUEST", f"the body is not valid JSON ({error})") from None


class Signature:
    """The served model's input columns: name -> MLflow type name, and which may be null or absent."""

    def __init__(self, columns: tuple[str, ...], types: dict[str, str], required: frozenset[str]):
        self.columns, self.types, self.required = columns, types, required
        self.expected = ", ".join(columns)

    # -- the strict check ----------------------------------------------------------------------------------

    def check(self, body: bytes, mime: str) -> None:
        """Raise Refused unless the body is a request the signature allows (JSON or CSV; parquet: columns only)."""
        if not self.columns:
            return  # no column signature: nothing to check against, MLflow decides
        if mime == JSON:
            return self.check_json(parse_json(decode(body)))
        if mime == "text/csv":
            return self._check_csv(decode(body))
        return self._check_parquet(body)

    def check_json(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise Refused("INVALID_INPUT", f"the body must be a JSON object with one of {', '.join(INPUT_KEYS)}, "
                                           f"not a {_kind(payload)}")
        keys = [k for k in payload if k in INPUT_KEYS]
        others = sorted(k for k in payload if k not in INPUT_KEYS)
        if len(keys) != 1 or others:
            got = ", ".join(sorted(payload))[:200] or "none"
            raise Refused("INVALID_INPUT", f"the body must hold exactly one of {', '.join(INPUT_KEYS)} and nothing "
                                           f"else (got keys: {got})")
        key = keys[0]
        value = payload[key]
        if key == "dataframe_split":
            return self._check_split(value)
        if key in ("inputs", "instances") and isinstance(value, dict):
            return self._check_columnar(key, value)
        if not isinstance(value, list):
            raise Refused("INVALID_INPUT", f"{key} must be a list of rows (objects), not a {_kind(value)}")
        if not value:
            raise Refused("INVALID_INPUT", f"{key} is empty: send at least one row")
        for row, record in enumerate(value):
            if not isinstance(record, dict):
                raise Refused("INVALID_INPUT", f"{key}[{row}] must be an object of column: value, not a {_kind(record)}")
            self._columns(list(record), f"{key}[{row}]")
            for column, cell in record.items():
                self._value(column, cell, row)
        for column in self.columns:
            if column not in self.required and self.types[column] not in _NULLABLE:
                given = [column in record for record in value]
                if any(given) and not all(given):
                    raise Refused("INVALID_INPUT", f"column {column}: missing in row {given.index(False)} (a "
                                                   f"{self.types[column]} column is given in every row or in none)")

    def _check_split(self, split: Any) -> None:
        if not isinstance(split, dict) or not {"columns", "data"} <= set(split) or set(split) - {"columns", "data", "index"}:
            raise Refused("INVALID_INPUT", "dataframe_split must be an object with columns and data (and optionally "
                                           "index)")
        columns, rows = split["columns"], split["data"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise Refused("INVALID_INPUT", "dataframe_split.columns must be a list of column names")
        self._columns(columns, "dataframe_split.columns")
        if not isinstance(rows, list) or not rows:
            raise Refused("INVALID_INPUT", "dataframe_split.data must be a non-empty list of rows")
        index = split.get("index")
        if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
            raise Refused("INVALID_INPUT", "dataframe_split.index must be a list with one entry per row of data")
        for row, values in enumerate(rows):
            if not isinstance(values, list) or len(values) != len(columns):
                raise Refused("INVALID_INPUT", f"dataframe_split.data[{row}] must be a list of {len(columns)} values "
                                               f"(one per column)")
            for column, cell in zip(columns, values):
                self._value(column, cell, row)

    def _check_columnar(self, key: str, value: dict) -> None:
        self._columns(list(value), key)
        lengths = {len(v) if isinstance(v, list) else 1 for v in value.values()}
        if len(lengths) > 1:
            raise Refused("INVALID_INPUT", f"{key}: every column must hold the same number of values")
        if lengths == {0}:
            raise Refused("INVALID_INPUT", f"{key} is empty: send at least one row")
        for column, cells in value.items():
            for row, cell in enumerate(cells if isinstance(cells, list) else [cells]):
                self._value(column, cell, row)

    def _check_csv(self, text: str) -> None:
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as error:
            raise Refused("MALFORMED_REQUEST", f"the body is not valid CSV ({error})") from None
        if not rows:
            raise Refused("INVALID_INPUT", "the CSV body is empty: send a header and at least one row")
        header, data = rows[0], [r for r in rows[1:] if r]
        self._columns(header, "the CSV header")
        if not data:
            raise Refused("INVALID_INPUT", "the CSV body has a header and no rows: send at least one row")
        for row, values in enumerate(data):
            if len(values) != len(header):
                raise Refused("INVALID_INPUT", f"CSV row {row}: {len(values)} values for {len(header)} columns")
            for column, cell in zip(header, values):
                self._value(column, _csv_cell(cell, self.types.get(column)), row)

    def _check_parquet(self, body: bytes) -> None:
        import pandas as pd

        try:
            frame = pd.read_parquet(io.BytesIO(body))
        except Exception as error:  # noqa: BLE001 -- any reader failure is a malformed body, never a 500
            raise Refused("MALFORMED_REQUEST", f"the body is not a readable parquet file ({type(error).__name__})") from None
        self._columns([str(c) for c in frame.columns], "the parquet file")
        if frame.empty:
            raise Refused("INVALID_INPUT", "the parquet file has no rows: send at least one row")

    # -- one column list, one value -----------------------------------------------------------------------

    def _columns(self, given: list, where: str) -> None:
        duplicated = sorted({_name(c) for c in given if given.count(c) > 1})
        missing = [c for c in self.columns if c in self.required and c not in given]
        unknown = [_name(c) for c in given if c not in self.types]
        if duplicated or missing or unknown:
            parts = ([f"column(s) given twice {', '.join(duplicated)}"] if duplicated else []) + \
                    ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                    ([f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
            raise Refused("INVALID_INPUT", f"{where}: " + "; ".join(parts)[:300] + f" (expected: {self.expected})")

    def _value(self, column: str, value: Any, row: int) -> None:
        kind = self.types.get(column, "")
        if value is None:
            if column in self.required:
                raise Refused("INVALID_INPUT", f"column {column}: null in row {row} (the column is required)")
            if kind not in _NULLABLE:
                raise Refused("INVALID_INPUT", f"column {column}: null in row {row} (a {kind} column takes no null: "
                                               f"leave it out of every row instead)")
            return
        if kind in _NUMBER:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        elif kind in _INTEGER:
            low, high = _INTEGER[kind]
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        elif kind == "boolean":
            ok = isinstance(value, bool)
        elif kind in ("string", "binary", "datetime"):
            ok = isinstance(value, str)
        else:
            ok = True  # a type this check does not know (arrays, objects): MLflow's own enforcement decides
        if not ok:
            raise Refused("INVALID_INPUT", f"column {column}: {_shown(value)} in row {row} is not {_article(kind)} "
                                           f"({kind} expected: {_json_type(kind)})")

    # -- the OpenAPI document -----------------------------------------------------------------------------

    def row_schema(self) -> dict:
        if not self.columns:
            return {"type": "object", "description": "the model has no column signature: the model decides"}
        return {"type": "object", "additionalProperties": False,
                "required": [c for c in self.columns if c in self.required],
                "description": "an optional integer or boolean column is given in every row or in none",
                "properties": {c: _schema_of(self.types[c], c not in self.required and self.types[c] in _NULLABLE)
                               for c in self.columns}}


def openapi(endpoint: str, model_name: str, version: str, signature: Signature) -> dict:
    """OpenAPI 3.0 for the invocations path: the request body from the signature, the answers `serve` gives."""
    row = {"$ref": "#/components/schemas/Row"}
    cell = {"anyOf": [_schema_of(signature.types[c], c not in signature.required and signature.types[c] in _NULLABLE)
                      for c in signature.columns]} \
        if signature.columns else {}
    body = {"oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["dataframe_records"],
         "properties": {"dataframe_records": {"type": "array", "minItems": 1, "items": row}}},
        {"type": "object", "additionalProperties": False, "required": ["dataframe_split"],
         "properties": {"dataframe_split": {
             "type": "object", "additionalProperties": False, "required": ["columns", "data"],
             "description": "each row of data holds one value per entry of columns, of that column's type",
             "properties": {"columns": {"type": "array", "uniqueItems": True,
                                        "items": {"type": "string", "enum": list(signature.columns)}},
                            "data": {"type": "array", "minItems": 1, "items": {"type": "array", "items": cell}}}}}},
        {"type": "object", "additionalProperties": False, "required": ["inputs"],
         "properties": {"inputs": {"type": "array", "minItems": 1, "items": row}}},
    ]}
    error = {"$ref": "#/components/schemas/Error"}
    answers = {str(status): {"description": text, "content": {JSON: {"schema": error}}} for status, text in (
        (400, "the body is not a request the signature allows (the message names the field)"),
        (413, "the body is larger than 16 MB"), (415, "no or an unsupported Content-Type (JSON, CSV; UTF-8)"))}
    path = f"/serving-endpoints/{endpoint}/invocations"
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{endpoint}: {model_name} version {version}", "version": str(version),
                 "description": "Generated from the served model's signature; the endpoint refuses what it does not "
                                "allow (strict signature checking)."},
        "paths": {path: {"post": {
            "operationId": "invoke", "summary": f"score rows with {model_name}",
            "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
            "responses": {"200": {"description": "one prediction per row", "content": {JSON: {"schema": {
                "type": "object", "required": ["predictions"], "properties": {"predictions": {"type": "array"}}}}}},
                **answers}}}},
        "components": {"schemas": {"Row": signature.row_schema(), "Error": {
            "type": "object", "required": ["error_code", "message"],
            "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}}}}},
    }


def _schema_of(kind: str, nullable: bool) -> dict:
    schema = {"double": {"type": "number", "format": "double"}, "float": {"type": "number", "format": "float"},
              "integer": {"type": "integer", "format": "int32"}, "long": {"type": "integer", "format": "int64"},
              "boolean": {"type": "boolean"}, "string": {"type": "string"},
              "binary": {"type": "string", "format": "byte"},
              "datetime": {"type": "string", "format": "date-time"}}.get(kind, {})
    return {**schema, "nullable": True} if nullable and schema else schema


def _csv_cell(cell: str, kind: str | None) -> Any:
    """A CSV field as the JSON value it stands for (a CSV has no types: a number column's field must parse)."""
    if cell == "":
        return None
    if kind in _NUMBER or kind in _INTEGER:
        try:
            return int(cell) if kind in _INTEGER else float(cell)
        except ValueError:
            return cell
    if kind == "boolean":
        return {"true": True, "false": False}.get(cell.lower(), cell)
    return cell


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__)


def _json_type(kind: str) -> str:
    return {"double": "a finite JSON number", "float": "a finite JSON number", "integer": "a JSON integer (32 bits)",
            "long": "a JSON integer (64 bits)", "boolean": "true or false"}.get(kind, "a JSON string")


def _article(kind: str) -> str:
    return {"integer": "an integer", "long": "an integer", "boolean": "a boolean"}.get(
        kind, "a number" if kind in _NUMBER else "a string")
