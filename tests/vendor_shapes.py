"""The vendor's own message definitions, as checks on what the test fakes answer.

A fake is only as good as its answers: these checks hold every response of tests/databricks_stub.py and
tests/arm_stub.py against the definitions the vendor's clients parse them with, so a field the fake invents,
drops or types wrongly fails the test that received it instead of passing against an API that does not exist.

* Databricks REST: `databricks-sdk`'s dataclasses (`Cls.from_dict(payload).as_dict()` must give the payload back:
  no unknown field, no unknown enum value; every field the dataclass has no default for present; every value of
  its annotated type).
* Unity Catalog model registry (`/api/2.0/mlflow/unity-catalog/*`, not in the SDK): MLflow's protobuf response
  messages, `json_format.Parse(..., ignore_unknown_fields=False)` plus proto2 `required` fields; and what the client
  sent, against the RPC's request message (MLflow's `validate_required` fields included).
* Databricks errors: `{error_code, message[, details]}` whose code the SDK maps to an error class consistent with
  the HTTP status (a 404 with INVALID_STATE is not something the SDK would map to NotFound).
* ARM: azure-mgmt-resource 26's models (typespec "hybrid" models: every key must be a rest field of the model,
  every value of its type, every non-Optional field present) and azure-mgmt-authorization 4.0.0's msrest models
  of the api-version the request asked for (`deserialize`, the `_validation` required fields, and the
  `serialize(keep_readonly=True)` round trip); ARM's `{"error": {code, message}}` envelope.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
import typing
from typing import Any, Callable

Problems = list[str]
Check = Callable[[Any, dict, dict], Problems]     # (payload, request query, response headers) -> problems


class ShapeError(AssertionError):
    """A fake answered something the vendor's definition of that response does not allow."""


@dataclasses.dataclass(frozen=True)
class Vendor:
    """How one route's answers are checked: `model` names the vendor definition (or why there is none)."""

    model: str
    check: Check | None            # None: no vendor model exists for this route (`model` says why)
    other_service: bool = False    # its errors are another service's (not the fake's service's error shape)
    request: Callable[[Any, dict], Problems] | None = None   # (JSON body, query) -> problems of what the client sent


# ---------------------------------------------------------------------------------------------------- helpers


def _absent(value) -> bool:
    return value is None or value == [] or value == {}


def _instant(value):
    """An ISO 8601 timestamp as a datetime (ARM writes 7 fractional digits; Python reads at most 6), else None."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _same_instant(a, b) -> bool:
    return _instant(a) is not None and _instant(a) == _instant(b)


def diff(sent, back, where: str) -> Problems:
    """What a round trip through a vendor model lost or changed (omitted empties are not a difference)."""
    if isinstance(sent, dict) and isinstance(back, dict):
        problems = []
        for key, value in sent.items():
            if key not in back:
                if not _absent(value):
                    problems.append(f"{where}.{key}: unknown field (or unknown enum value {value!r})")
            else:
                problems += diff(value, back[key], f"{where}.{key}")
        return problems + [f"{where}.{k}: added by the model's round trip" for k, v in back.items()
                           if k not in sent and not _absent(v)]
    if isinstance(sent, list) and isinstance(back, list) and len(sent) == len(back):
        return [p for n, (a, b) in enumerate(zip(sent, back)) for p in diff(a, b, f"{where}[{n}]")]
    if sent == back and type(sent) is type(back) or _same_instant(sent, back):
        return []
    if isinstance(sent, float) and isinstance(back, (int, float)) and sent == back:
        return []
    return [f"{where}: {sent!r} came back as {back!r}"]


def _type_problems(value, hint, where: str, nested: Callable[[type, Any, str], Problems]) -> Problems:
    """Is `value` (JSON) of the annotated type `hint`? `nested` checks objects of a model class."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None:
            return []
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return []
    if origin in (list, typing.List):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r}"]
        return [p for n, item in enumerate(value) for p in _type_problems(item, args[0], f"{where}[{n}]", nested)]
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        return [p for k, item in value.items() for p in _type_problems(item, args[1], f"{where}.{k}", nested)]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        known = {str(m.value).lower() for m in hint}
        return [] if isinstance(value, str) and value.lower() in known else [
            f"{where}: {value!r} is not a value of {hint.__name__} ({', '.join(sorted(str(m.value) for m in hint))})"]
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean, got {value!r}"]
    if hint is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{where}: expected an integer, got {value!r}"]
    if hint is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [
            f"{where}: expected a number, got {value!r}"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {value!r}"]
    if isinstance(hint, type):
        return nested(hint, value, where)
    return []


# ---------------------------------------------------------------------------------------------- databricks-sdk


def sdk_problems(cls: type, payload, where: str = "") -> Problems:
    """`payload` against a databricks-sdk dataclass: types, required fields, then the from_dict/as_dict round trip."""
    where = where or cls.__name__
    if not isinstance(payload, dict):
        return [f"{where}: expected an object, got {payload!r}"]
    hints = typing.get_type_hints(cls)
    problems = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and payload.get(f.name) is None:
            problems.append(f"{where}.{f.name}: required by {cls.__name__} but missing")
        if f.name in payload:
            problems += _type_problems(payload[f.name], hints[f.name], f"{where}.{f.name}", _nested_sdk)
    return problems or diff(payload, cls.from_dict(payload).as_dict(), where)


def _nested_sdk(cls: type, value, where: str) -> Problems:
    if dataclasses.is_dataclass(cls):
        return sdk_problems(cls, value, where)
    return []  # e.g. a protobuf Timestamp: the SDK's own parser takes it as it comes


def sdk(cls: type) -> Vendor:
    return Vendor(f"{cls.__module__}.{cls.__qualname__}", lambda payload, query, headers: sdk_problems(cls, payload))


# ------------------------------------------------------------------------------------------ MLflow's protobufs


def proto_problems(message_cls, payload) -> Problems:
    from google.protobuf import json_format

    message = message_cls()
    try:
        json_format.Parse(json.dumps(payload), message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        return [f"{message_cls.__name__}: {e}"]
    return [f"{message_cls.__name__}.{name}: required but missing" for name in message.FindInitializationErrors()]


def proto_request_problems(message_cls, body, query: dict) -> Problems:
    """What a client sent, against the RPC's request message: the JSON body (POST) or the query (GET), with the
    fields MLflow marks `validate_required` present."""
    from google.protobuf import json_format
    from mlflow.protos import databricks_pb2

    fields = message_cls.DESCRIPTOR.fields_by_name
    sent = body if isinstance(body, dict) else {}
    if query:
        unknown = sorted(set(query) - set(fields))
        if unknown:
            return [f"{message_cls.__name__}: no field named {', '.join(unknown)} (query)"]
        sent = {**sent, **{k: (int(v) if fields[k].cpp_type in (1, 2, 3, 4) and v.lstrip("-").isdigit() else v)
                            for k, v in query.items()}}
    message = message_cls()
    try:
        json_format.Parse(json.dumps(sent), message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        return [f"{message_cls.__name__}: {e}"]
    return [f"{message_cls.__name__}.{name}: required but not sent" for name, f in fields.items()
            if f.GetOptions().Extensions[databricks_pb2.validate_required] and name not in sent]


def proto(message_cls, request_cls=None) -> Vendor:
    return Vendor(message_cls.DESCRIPTOR.full_name, lambda payload, query, headers: proto_problems(message_cls, payload),
                  request=(lambda body, query: proto_request_problems(request_cls, body, query)) if request_cls else None)


def empty(reason: str) -> Vendor:
    """A response whose body the vendor documents as empty (`{}`) and the client discards."""
    return Vendor(f"empty body ({reason})", lambda payload, query, headers: [] if payload in ({}, b"", None) else [
        f"expected an empty body, got {payload!r}"])


def no_model(reason: str, other_service: bool = False) -> Vendor:
    return Vendor(f"no vendor model: {reason}", None, other_service)


def databricks_error_problems(status: int, payload) -> Problems:
    """An error answer as the SDK reads it: {error_code, message[, details]} mapped to a class fitting `status`."""
    from databricks.sdk.errors import platform

    if not isinstance(payload, dict) or set(payload) - {"error_code", "message", "details"}:
        return [f"Databricks error: expected {{error_code, message[, details]}}, got {payload!r}"]
    code, message = payload.get("error_code"), payload.get("message")
    if not (isinstance(code, str) and code.isupper() and isinstance(message, str) and message):
        return [f"Databricks error: error_code and message must be non-empty strings, got {payload!r}"]
    by_status, by_code = platform.STATUS_CODE_MAPPING.get(status), platform.ERROR_CODE_MAPPING.get(code)
    if by_status is None:
        return [f"Databricks error: the SDK maps no error class to HTTP {status}"]
    if by_code is not None and not issubclass(by_code, by_status):
        return [f"Databricks error: {code} is {by_code.__name__} in the SDK, not a {by_status.__name__} (HTTP {status})"]
    return []


# ------------------------------------------------------------------------------------------------------ Azure


def hybrid_problems(cls: type, payload, where: str = "") -> Problems:
    """`payload` against an azure-mgmt-resource 26 (typespec) model: known rest fields only, typed, required present."""
    where = where or cls.__name__
    if not isinstance(payload, dict):
        return [f"{where}: expected an object, got {payload!r}"]
    if "_attr_to_rest_field" not in cls.__dict__:
        cls({})                     # the model base computes a class's rest fields at its first instance
    fields = {rf._rest_name: attr for attr, rf in cls._attr_to_rest_field.items()}
    import sys

    from azure.mgmt.resource.resources import models

    namespace = {**vars(sys.modules[cls.__module__]), "_models": models}   # `_models` is imported for type checkers only
    hints = typing.get_type_hints(cls, namespace, namespace)
    problems = [f"{where}.{k}: not a field of {cls.__name__}" for k in payload if k not in fields]
    for rest, attr in fields.items():
        hint = hints.get(attr)
        if hint is None:
            continue
        if typing.get_origin(hint) is not typing.Union and rest not in payload:
            problems.append(f"{where}.{rest}: required by {cls.__name__} but missing")
        elif rest in payload:
            problems += _type_problems(payload[rest], hint, f"{where}.{rest}", _nested_hybrid)
    return problems


def _nested_hybrid(cls: type, value, where: str) -> Problems:
    from azure.mgmt.resource.resources._utils.model_base import Model

    return hybrid_problems(cls, value, where) if issubclass(cls, Model) else []


def hybrid(cls: type, list_of: bool = False) -> Vendor:
    """A model, or (list_of) ARM's `{"value": [model...], "nextLink"}` list of it."""
    def check(payload, query, headers):
        if not list_of:
            return hybrid_problems(cls, payload)
        if not isinstance(payload, dict) or set(payload) - {"value", "nextLink"} or not isinstance(payload.get("value"), list):
            return [f"list of {cls.__name__}: expected {{value: [...], nextLink}}, got {payload!r}"]
        return [p for n, item in enumerate(payload["value"]) for p in hybrid_problems(cls, item, f"value[{n}]")]
    return Vendor(f"{cls.__module__}.{cls.__name__}" + (" (list)" if list_of else ""), check)


def _msrest_required(model, where: str) -> Problems:
    """The fields an msrest model's `_validation` marks required, in it and every model nested in it."""
    problems = [f"{where}.{attr}: required by {type(model).__name__} but missing"
                for attr, rules in getattr(model, "_validation", {}).items()
                if rules.get("required") and getattr(model, attr, None) is None]
    for attr in getattr(model, "_attribute_map", {}):
        value = getattr(model, attr, None)
        for n, item in enumerate(value if isinstance(value, list) else [value]):
            if hasattr(item, "_attribute_map"):
                problems += _msrest_required(item, f"{where}.{attr}" + (f"[{n}]" if isinstance(value, list) else ""))
    return problems


def msrest_problems(cls: type, payload) -> Problems:
    """An azure-mgmt-authorization (msrest) model: deserialize, required fields, serialize(keep_readonly) round trip."""
    model = cls.deserialize(payload)
    problems = _msrest_required(model, cls.__name__)
    return problems + diff(payload, model.serialize(keep_readonly=True), cls.__name__)


def authorization(name: str) -> Vendor:
    """azure-mgmt-authorization's model `name` of the api-version the request asked for."""
    import importlib

    def check(payload, query, headers):
        version = query.get("api-version", "")
        try:
            models = importlib.import_module(f"azure.mgmt.authorization.v{version.replace('-', '_')}.models")
        except ImportError:
            return [f"azure-mgmt-authorization 4.0.0 has no models for api-version {version!r}"]
        return msrest_problems(getattr(models, name), payload)
    return Vendor(f"azure.mgmt.authorization.v<api-version>.models.{name}", check)


def arm_error_problems(status: int, payload) -> Problems:
    """ARM's error envelope: {"error": ErrorResponse} (azure-mgmt-resource's model of ARM's common ErrorDetail)."""
    from azure.mgmt.resource.resources.models import ErrorResponse

    if not isinstance(payload, dict) or set(payload) != {"error"}:
        return [f"ARM error: expected {{error: {{code, message}}}}, got {payload!r}"]
    problems = hybrid_problems(ErrorResponse, payload["error"], "error")
    missing = [k for k in ("code", "message") if not payload["error"].get(k)]
    return problems + [f"error.{k}: ARM always sends it" for k in missing]
