"""A thin ASGI layer over MLflow's scoring server: one stable URL, the current champion behind it, clean errors.

    POST /serving-endpoints/<endpoint>/invocations   (also /invocations)   MLflow's scoring protocol:
         {"dataframe_split": {...}} | {"dataframe_records": [...]} | {"instances": ...} | {"inputs": ...}, or CSV
         -> {"predictions": [...]}, header `x-lakegate-model-version`
    GET  /serving-endpoints/<endpoint>   what it serves (model, version, alias), Databricks' endpoint shape
    GET  /serving-endpoints/<endpoint>/openapi.json   OpenAPI 3 of the invocations path, from the model's signature
    GET  /ping, /health, /version        MLflow's own

Every request is answered by MLflow's own app (`mlflow.pyfunc.scoring_server.init(model)`) for the model
version being served; when the champion moves, a new app is built for the new version and swapped in
between two requests, so the URL never changes and no request fails during a redeployment.
What this layer adds: a refusal before MLflow for what MLflow cannot answer cleanly (no or unsupported
content type, empty body, a body that is not UTF-8), the strict signature check (signature.py: an unknown
column or a value of the wrong type is refused, not ignored or coerced; `strict=False` is MLflow's own lenient
behaviour), a request by key turned into the request by features it stands for (lookup.py, when the endpoint
serves by key), and every error answer rewritten as `{"error_code", "message"}` JSON with a 4xx
status and no stack trace or data dump (the message says which column, which row, what was expected).
Each answered request is handed to `on_request` (the payload log) after the response is sent.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from .lookup import KeyLookup, LookupFailed, LookupSpec, openapi_by_key
from .signature import Refused, Signature, decode, openapi

JSON = "application/json"
SUPPORTED = ("application/json", "text/csv", "application/vnd.apache.parquet")
VERSION_HEADER = b"x-lakegate-model-version"
_MAX_MESSAGE = 400
# Databricks Model Serving refuses a request body above 16 MB; so does this layer, before reading more of it
# (a 1 GB body would otherwise be held in memory, parsed into frames and written whole to the payload table).
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Served:
    """One model version being served: its MLflow scoring app and its input schema."""

    model_name: str
    version: str
    model: Any
    app: Any
    columns: tuple[str, ...]
    types: dict[str, str]
    required: frozenset[str]
    loaded_at: float
    lookup_spec: LookupSpec | None = None     # the features the version recorded at training (serving by key)

    @property
    def signature(self) -> Signature:
        return Signature(self.columns, self.types, self.required)

    @classmethod
    def of(cls, model_name: str, version: str, model) -> "Served":
        from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
        from mlflow.pyfunc import scoring_server

        before = os.environ.get(_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name)
        app = scoring_server.init(model)
        if before is None:  # init() marks the whole process as a serving container; only its app is one
            os.environ.pop(_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name, None)
        schema = model.metadata.get_input_schema()
        columns, types, required = (), {}, frozenset()
        if schema is not None and schema.has_input_names():
            columns = tuple(schema.input_names())
            types = {spec.name: str(getattr(spec.type, "name", spec.type)) for spec in schema.inputs}
            required = frozenset(spec.name for spec in schema.inputs if getattr(spec, "required", True))
        return cls(model_name, str(version), model, app, columns, types, required, time.time(), LookupSpec.of(model))


class ServingApp:
    """The ASGI application `serve` runs. `current` is swapped by the champion watcher (server.py)."""

    def __init__(self, endpoint: str, served: Served, *, alias: str = "champion",
                 on_request: Callable[[dict], None] | None = None, strict: bool = True,
                 lookup: KeyLookup | None = None):
        self.endpoint, self.current, self.alias, self.on_request = endpoint, served, alias, on_request
        self.strict, self.lookup = strict, lookup
        self.invocation_paths = {"/invocations", f"/serving-endpoints/{endpoint}/invocations"}
        self.info_path = f"/serving-endpoints/{endpoint}"
        self.openapi_paths = {"/openapi.json", f"/serving-endpoints/{endpoint}/openapi.json"}

    def swap(self, served: Served) -> None:
        self.current = served  # one reference assignment: each request uses the version it started with

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http":
            return
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        if path in self.invocation_paths:
            if method != "POST":
                return await _json(send, 405, {"error_code": "METHOD_NOT_ALLOWED", "message": f"use POST on {path}"})
            return await self._invoke(scope, receive, send)
        if path == self.info_path and method == "GET":
            return await _json(send, 200, self.describe())
        if path in self.openapi_paths and method == "GET":
            served = self.current
            document = openapi(self.endpoint, served.model_name, served.version, served.signature)
            if self.lookup is not None:
                spec = served.lookup_spec
                document = openapi_by_key(document, self.lookup.key, spec.key_type if spec else None,
                                          self.lookup.full_name)
            return await _json(send, 200, document)
        if path in ("/ping", "/health", "/version"):
            return await self.current.app(scope, receive, send)
        return await _json(send, 404, {"error_code": "NOT_FOUND",
                                       "message": f"no such path {path}; POST to {sorted(self.invocation_paths)[-1]}"})

    def describe(self) -> dict:
        served = self.current
        return {"name": self.endpoint, "state": {"ready": "READY", "config_update": "NOT_UPDATING"},
                "config": {"served_entities": [{"entity_name": served.model_name, "entity_version": served.version,
                                                "alias": self.alias}]},
                "signature_checking": "strict" if self.strict else "lenient",
                "feature_lookup": None if self.lookup is None else {
                    "table": self.lookup.full_name, "key": self.lookup.key, "principal": self.lookup.principal},
                "openapi": f"{self.info_path}/openapi.json"}

    async def _invoke(self, scope, receive, send):
        started = time.perf_counter()
        served = self.current
        content_type = _header(scope, b"content-type")
        body = await _read_body(receive, _declared_length(scope))
        if body is None:
            payload = {"error_code": "PAYLOAD_TOO_LARGE",
                       "message": f"the request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB: send fewer rows "
                                  "per request"}
            await _json(send, 413, payload)
            return self._logged(scope, b"", 413, json.dumps(payload), served, started)
        refusal = _precheck(body, content_type)
        if refusal is None and self.lookup is not None:
            refusal, body = self._by_key(body, content_type, served)
        refusal = refusal or self._check(body, content_type, served)
        if refusal is not None:
            status, payload = refusal
            await _json(send, status, payload)
            return self._logged(scope, body, status, json.dumps(payload), served, started)
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], list(message.get("headers") or [])
                if message["status"] < 400:
                    headers = [*captured["headers"], (VERSION_HEADER, served.version.encode())]
                    await send({**message, "headers": headers})
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
                if captured["status"] < 400:
                    await send(message)

        headers = [(k, v) for k, v in scope.get("headers") or () if k.lower() != b"content-length"]
        forward = {**scope, "path": "/invocations", "raw_path": b"/invocations",
                   "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        try:
            await served.app(forward, replay, capture)
        except Exception as error:  # noqa: BLE001 -- answered as a clean 500, never a traceback
            captured["status"], captured["body"] = 500, [json.dumps({"message": type(error).__name__}).encode()]
        answer = b"".join(captured["body"])
        if captured["status"] >= 400:
            try:
                status, payload = explain(captured["status"], answer, body, content_type, served)
            except RecursionError:  # json's parser gives up on deep nesting: a clean 400, not uvicorn's 500
                status, payload = 400, {"error_code": "MALFORMED_REQUEST",
                                        "message": "the body is nested too deeply to be a scoring request"}
            await _json(send, status, payload)
            return self._logged(scope, body, status, json.dumps(payload), served, started)
        return self._logged(scope, body, captured["status"], answer.decode("utf-8", "replace"), served, started)

    def _by_key(self, body: bytes, content_type: str, served: Served) -> tuple[tuple[int, dict] | None, bytes]:
        """(refusal, body): a request by key becomes the request by features it stands for (lookup.py); any other
        body is left as it is. The looked-up request is what the payload log records (monitoring reads features)."""
        if content_type.split(";")[0].strip().lower() != JSON or not self.lookup.wanted(body):
            return None, body
        spec = served.lookup_spec
        try:
            keys = self.lookup.keys_of(body, spec.key_type if spec is not None else None)
            if keys is None:
                return None, body
            return None, self.lookup.features(keys, served.columns or (spec.feature_names if spec else ()))
        except Refused as refused:
            return (400, {"error_code": refused.code, "message": str(refused)[:_MAX_MESSAGE]}), body
        except LookupFailed as failed:
            return (failed.status, {"error_code": failed.code, "message": str(failed)[:_MAX_MESSAGE]}), body
        except Exception as error:  # noqa: BLE001 - the table unreadable now (registry, disk, a value JSON cannot hold)
            return (503, {"error_code": "TEMPORARILY_UNAVAILABLE",
                          "message": f"the features of these keys cannot be looked up now: {type(error).__name__}"}), body

    def _check(self, body: bytes, content_type: str, served: Served) -> tuple[int, dict] | None:
        """The signature check (strict), or only the encoding (lenient: MLflow's parser takes the rest)."""
        mime = content_type.split(";")[0].strip().lower()
        try:
            if self.strict:
                served.signature.check(body, mime)
            elif mime in (JSON, "text/csv"):
                decode(body)
        except Refused as refused:
            return 400, {"error_code": refused.code, "message": str(refused)[:_MAX_MESSAGE]}
        return None

    def _logged(self, scope, body: bytes, status: int, response: str, served: Served, started: float) -> None:
        if self.on_request is None:
            return
        now = time.time()
        self.on_request({
            "databricks_request_id": str(uuid.uuid4()),
            "client_request_id": _header(scope, b"x-request-id"),
            "timestamp_ms": int(now * 1000),
            "status_code": status,
            "execution_duration_ms": int((time.perf_counter() - started) * 1000),
            "request": body.decode("utf-8", "replace"),
            "response": response,
            "served_entity_id": f"{served.model_name}-{served.version}",
            "request_metadata": {"endpoint_name": self.endpoint, "model_name": served.model_name,
                                 "model_version": served.version},
        })


def request_for(example) -> dict:
    """A logged input example (MLflow stores it split-oriented) as a scoring request."""
    if isinstance(example, dict) and "columns" in example and "data" in example:
        return {"dataframe_split": {"columns": example["columns"], "data": example["data"]}}
    if isinstance(example, dict) and "dataframe_split" in example:
        return {"dataframe_split": example["dataframe_split"]}
    if isinstance(example, list):
        return {"dataframe_records": example}
    return {"dataframe_records": [example]}


def _precheck(body: bytes, content_type: str | None) -> tuple[int, dict] | None:
    """What MLflow would answer with a 500 or a text/plain page."""
    if not content_type:
        return 415, {"error_code": "UNSUPPORTED_MEDIA_TYPE",
                     "message": f"no Content-Type header: send {JSON} (or text/csv)"}
    mime, _, parameters = content_type.partition(";")
    if mime.strip().lower() not in SUPPORTED:
        return 415, {"error_code": "UNSUPPORTED_MEDIA_TYPE",
                     "message": f"Content-Type {mime.strip()!r} is not supported: send {JSON} (or text/csv)"}
    charset = parameters.strip().lower().removeprefix("charset=").strip() if parameters.strip() else "utf-8"
    if charset not in ("utf-8", "utf8"):
        return 415, {"error_code": "UNSUPPORTED_MEDIA_TYPE", "message": f"charset {charset!r}: only UTF-8 is accepted"}
    if not body.strip():
        return 400, {"error_code": "BAD_REQUEST", "message": "empty request body: send a JSON object with one of "
                     "dataframe_split, dataframe_records, instances or inputs"}
    return None


def explain(status: int, answer: bytes, body: bytes, content_type: str | None, served: Served) -> tuple[int, dict]:
    """A clean error for an answer MLflow refused: which column, which row, what was expected."""
    status = status if 400 <= status < 500 else 400 if status == 500 else status
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime == JSON:
        try:
            payload = json.loads(body)
        except ValueError as error:
            return 400, {"error_code": "MALFORMED_REQUEST", "message": f"the body is not valid JSON ({error.msg} at "
                         f"line {error.lineno} column {error.colno})"}
        problem = _frame_problem(payload, served)
        if problem:
            return 400, {"error_code": "INVALID_INPUT", "message": problem}
    try:
        message = json.loads(answer).get("message") or ""
    except (ValueError, AttributeError):
        message = answer.decode("utf-8", "replace")
    first = message.split("\n")[0].strip()
    if first.startswith("Failed to predict data"):  # MLflow repeats the whole input there
        first = message.rsplit("Error:", 1)[-1].strip().split("\n")[0]
    return status, {"error_code": "INVALID_INPUT" if status == 400 else "BAD_REQUEST",
                    "message": (first or "the model refused the input")[:_MAX_MESSAGE]}


def _frame_problem(payload: Any, served: Served) -> str | None:
    from lakegate.pipelines.monitoring.unpack_inference_table import request_frame

    if not isinstance(payload, dict):
        return f"the body must be a JSON object with one of dataframe_split, dataframe_records, instances or inputs, " \
               f"not a {type(payload).__name__}"
    try:
        frame = request_frame(json.dumps(payload))
    except (ValueError, TypeError) as error:
        keys = ", ".join(sorted(payload)) or "none"
        return f"the body must hold one of dataframe_split, dataframe_records, instances or inputs (got keys: {keys}; {error})"
    if not served.columns:
        return None
    missing = [c for c in served.columns if c in served.required and c not in frame.columns]
    unexpected = [str(c) for c in frame.columns if c not in served.columns]
    if missing or unexpected:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown column(s) {', '.join(unexpected)}"] if unexpected else [])
        return "; ".join(parts) + f" (expected: {', '.join(served.columns)})"
    for column in served.columns:
        if column not in frame.columns:
            continue
        values = list(frame[column])
        for row, value in enumerate(values):
            if value is None or (isinstance(value, float) and value != value):
                if column not in served.required:
                    continue
                return f"column {column}: null in row {row} (the column is required)"
            if served.types.get(column) in ("double", "float", "long", "integer") and \
                    (isinstance(value, bool) or not isinstance(value, (int, float))):
                return f"column {column}: {value!r} in row {row} is not a number ({served.types[column]} expected)"
    return None


def _declared_length(scope) -> int | None:
    try:
        return int(_header(scope, b"content-length") or "")
    except ValueError:
        return None


async def _read_body(receive, declared: int | None = None) -> bytes | None:
    """The whole body, or None once it is (or says it is) larger than MAX_BODY_BYTES: the rest is not read."""
    if declared is not None and declared > MAX_BODY_BYTES:
        return None
    chunks, more, size = [], True, 0
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
