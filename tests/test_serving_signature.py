"""Serving refuses what it cannot honour: strict signature checking over HTTP on a model with every column type
(a number where a string is meant, a string or `true` for a number, null in a required column, an optional one),
the lenient mode (`mlflow models serve`'s behaviour, still never a 5xx), the OpenAPI document generated from the
signature, and a fuzzer driven by that document (hypothesis): valid bodies score, hostile ones get a 4xx naming
the field, never a 5xx or a traceback in the server's log, in bounded memory. `serve`'s options are checked
before any registry call."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_serving import ROW, saved_model

TYPED = {"amount": "double", "count": "long", "active": "boolean", "plan": "string", "seats": "integer",
         "discount": "double"}
OPTIONAL = {"seats", "discount"}
GOOD = {"amount": 9.5, "count": 3, "active": True, "plan": "gold", "seats": 2, "discount": 0.1}


class Rows:
    """A pyfunc whose prediction is the row count seen (enough to show the request reached the model)."""

    def predict(self, context, model_input, params=None):
        return [len(model_input)] * len(model_input)


def typed_model(folder: Path):
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    model = type("RowsModel", (Rows, mlflow.pyfunc.PythonModel), {})()
    schema = Schema([ColSpec(kind, name, required=name not in OPTIONAL) for name, kind in TYPED.items()])
    mlflow.pyfunc.save_model(str(folder), python_model=model, signature=ModelSignature(inputs=schema),
                             pip_requirements=["mlflow"])
    return mlflow.pyfunc.load_model(str(folder))


class ServerLog(logging.Handler):
    """Every record the server's loggers write (uvicorn's, MLflow's): none may carry a traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three endpoints on loopback: the typed model strict, the churn model strict and lenient."""
    from lakegate.pipelines.serving.app import Served, ServingApp
    from lakegate.pipelines.serving.server import UvicornThread

    root = tmp_path_factory.mktemp("signature-models")
    churn = saved_model(root / "churn", 7)
    apps = {"typed": ServingApp("typed", Served.of("prod.ml.typed", "1", typed_model(root / "typed"))),
            "churn": ServingApp("churn", Served.of("prod.ml.churn", "1", churn)),
            "lenient": ServingApp("lenient", Served.of("prod.ml.churn", "1", churn), strict=False)}
    log = ServerLog()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "mlflow")]
    for logger in loggers:
        logger.addHandler(log)
    servers = {name: UvicornThread(app) for name, app in apps.items()}
    urls = {name: f"http://127.0.0.1:{server.start()}/serving-endpoints/{name}" for name, server in servers.items()}
    http = requests.Session()
    http.trust_env = False
    try:
        yield urls, http, log
    finally:
        for server in servers.values():
            server.stop()
        for logger in loggers:
            logger.removeHandler(log)
    assert log.tracebacks() == []


TYPED_BAD = [
    ("a number for a string", {"plan": 7}, "column plan: 7 in row 0 is not a string (string expected"),
    ("a string for a number", {"amount": "9.5"}, "column amount: '9.5' in row 0 is not a number (double expected"),
    ("true for a number", {"amount": True}, "column amount: true in row 0 is not a number"),
    ("a float for an integer", {"count": 2.5}, "column count: 2.5 in row 0 is not an integer (long expected"),
    ("1 for a boolean", {"active": 1}, "column active: 1 in row 0 is not a boolean (boolean expected: true or false)"),
    ("a long for an integer", {"seats": 2**40}, "column seats: 1099511627776 in row 0 is not an integer (integer"),
    ("beyond a long", {"count": 2**70}, "column count: 1180591620717411303424 in row 0 is not an integer"),
    ("null where required", {"plan": None}, "column plan: null in row 0 (the column is required)"),
    ("null in an optional integer", {"seats": None}, "column seats: null in row 0 (a integer column takes no null"),
    ("an object for a string", {"plan": {"$gt": ""}}, 'column plan: {"$gt": ""} in row 0 is not a string'),
]


@pytest.mark.parametrize("change,message", [b[1:] for b in TYPED_BAD], ids=[b[0] for b in TYPED_BAD])
def test_a_value_of_the_wrong_type_is_refused_naming_the_column(served, change, message):
    urls, http, _ = served
    answer = http.post(urls["typed"] + "/invocations", json={"dataframe_records": [{**GOOD, **change}]})
    assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_INPUT"
    assert message in answer.json()["message"], answer.json()["message"]


def test_an_optional_column_may_be_null_or_absent_and_every_format_scores(served):
    urls, http, _ = served
    url = urls["typed"] + "/invocations"
    without = {k: v for k, v in GOOD.items() if k not in OPTIONAL}
    for body in ({"dataframe_records": [GOOD, {**GOOD, "discount": None}, {**GOOD, "discount": 0.2}]},
                 {"dataframe_records": [without] * 3},
                 {"dataframe_split": {"columns": list(GOOD)[::-1], "data": [list(GOOD.values())[::-1]] * 3}},
                 {"inputs": {k: [v] * 3 for k, v in GOOD.items()}}, {"instances": [GOOD] * 3}):
        answer = http.post(url, json=body)
        assert answer.status_code == 200 and answer.json()["predictions"] == [3, 3, 3], (body, answer.text)


def test_lenient_behaves_like_mlflow_models_serve_and_still_never_answers_5xx(served):
    """`signature_checking: lenient`: an unknown column is ignored and `true` coerced, as MLflow does; a body
    that is not UTF-8 still gets a 400 (MLflow alone answers it with a 500 and a traceback)."""
    urls, http, _ = served
    strict, lenient = urls["churn"] + "/invocations", urls["lenient"] + "/invocations"
    for body in ({"dataframe_records": [{**ROW, "discount": 0.1}]}, {"dataframe_records": [{**ROW, "support_calls": True}]}):
        assert http.post(strict, json=body).status_code == 400
        assert http.post(lenient, json=body).status_code == 200
    for url in (strict, lenient):
        answer = http.post(url, data=b'{"dataframe_records": [{"x": "\xc3\x28"}]}', headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and "not valid UTF-8 (byte 0xc3 at offset" in answer.json()["message"]
    assert http.get(urls["lenient"]).json()["signature_checking"] == "lenient"
    assert http.get(urls["churn"]).json()["signature_checking"] == "strict"


def test_the_openapi_document_is_generated_from_the_signature(served):
    urls, http, _ = served
    document = http.get(urls["typed"] + "/openapi.json").json()
    assert document["openapi"] == "3.0.3" and http.get(urls["typed"]).json()["openapi"].endswith("/typed/openapi.json")
    row = document["components"]["schemas"]["Row"]
    assert row["properties"] == {"amount": {"type": "number", "format": "double"},
                                 "count": {"type": "integer", "format": "int64"}, "active": {"type": "boolean"},
                                 "plan": {"type": "string"}, "seats": {"type": "integer", "format": "int32"},
                                 "discount": {"type": "number", "format": "double", "nullable": True}}
    assert row["required"] == ["amount", "count", "active", "plan"] and row["additionalProperties"] is False
    post = document["paths"]["/serving-endpoints/typed/invocations"]["post"]
    shapes = [set(s["properties"]) for s in post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]]
    assert shapes == [{"dataframe_records"}, {"dataframe_split"}, {"inputs"}]
    assert {"200", "400", "413", "415"} <= set(post["responses"])


# -- the fuzzer: bodies drawn from the published document ---------------------------------------------------------


def _cell(schema: dict):
    """A value the document allows for one column."""
    kind = schema.get("type")
    value = {"number": st.floats(allow_nan=False, allow_infinity=False, width=32 if schema.get("format") == "float" else 64),
             "integer": st.integers(-2**31, 2**31 - 1) if schema.get("format") == "int32" else st.integers(-2**63, 2**63 - 1),
             "boolean": st.booleans(), "string": st.text(max_size=20)}[kind]
    return st.one_of(st.none(), value) if schema.get("nullable") else value


@st.composite
def _rows(draw, row: dict):
    """1 to 5 rows: the required columns, and the same optional ones in every row (the Row schema's rule)."""
    optional = [c for c in row["properties"] if c not in row["required"]]
    given = [*row["required"], *draw(st.lists(st.sampled_from(optional), unique=True))] if optional else row["required"]
    return draw(st.lists(st.fixed_dictionaries({c: _cell(row["properties"][c]) for c in given}), min_size=1, max_size=5))


def _valid_bodies(document: dict):
    rows = _rows(document["components"]["schemas"]["Row"])

    def split(records):
        columns = sorted({c for r in records for c in r})
        return {"dataframe_split": {"columns": columns, "data": [[r.get(c) for c in columns] for r in records]}}

    return st.one_of(rows.map(lambda r: {"dataframe_records": r}), rows.map(lambda r: {"inputs": r}), rows.map(split))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=10), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _hostile_bodies(document: dict):
    """A valid body with one thing wrong (a cell replaced, an unknown or a missing column, a wrong shape), or
    arbitrary JSON, or arbitrary bytes under any content type."""
    columns = list(document["components"]["schemas"]["Row"]["properties"])

    @st.composite
    def mutated(draw):
        body = draw(_valid_bodies(document))
        key = next(iter(body))
        if key == "dataframe_split":
            return json.dumps({key: draw(JSON_VALUES)} if draw(st.booleans()) else body).encode()
        record = dict(body[key][0])
        how = draw(st.sampled_from(["cell", "unknown", "missing"]))
        if how == "cell":
            record[draw(st.sampled_from(columns))] = draw(JSON_VALUES)
        elif how == "unknown":
            record[draw(st.text(min_size=1, max_size=8).filter(lambda c: c not in columns))] = 1
        else:
            record.pop(draw(st.sampled_from(columns)), None)
        return json.dumps({key: [record, *body[key][1:]]}).encode()

    as_json = st.builds(lambda b: json.dumps(b).encode(), JSON_VALUES)
    body = st.one_of(mutated(), as_json, st.binary(max_size=200))
    types = st.sampled_from(["application/json"] * 5 + ["text/csv", "application/vnd.apache.parquet",
                             "application/json; charset=utf-16", "text/plain", None])
    return st.tuples(body, types)


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


FUZZ = settings(max_examples=100, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def test_the_api_fuzzed_from_its_openapi_document_never_answers_5xx(served):
    urls, http, log = served
    document = http.get(urls["typed"] + "/openapi.json").json()
    url = urls["typed"] + "/invocations"
    seen: dict[int, int] = {}
    before, started = _vm_hwm_mb(), time.perf_counter()

    @settings(FUZZ, max_examples=30)
    @given(_valid_bodies(document))
    def valid(body):
        answer = http.post(url, json=body)
        assert answer.status_code == 200, (body, answer.text)
        rows = len(next(iter(body.values())) if "dataframe_split" not in body else body["dataframe_split"]["data"])
        assert answer.json()["predictions"] == [rows] * rows

    @FUZZ
    @given(_hostile_bodies(document))
    def hostile(case):
        body, content_type = case
        answer = http.post(url, data=body, headers={"Content-Type": content_type} if content_type else {})
        seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (body, content_type, answer.text)
        if answer.status_code >= 400:
            payload = answer.json()
            assert set(payload) == {"error_code", "message"} and payload["message"] and "Traceback" not in answer.text

    valid()
    hostile()
    seconds, grown = time.perf_counter() - started, _vm_hwm_mb() - before
    assert seen.get(400, 0) > 30 and set(seen) <= {200, 400, 415}, seen
    assert grown < 200, f"the server's high-water mark grew by {grown:.0f} MB"
    assert seconds < 60 and log.tracebacks() == []
    print(f"fuzz: {sum(seen.values())} hostile + 30 valid requests in {seconds:.1f} s, answers {seen}, "
          f"VmHWM +{grown:.0f} MB")


# -- serve's options --------------------------------------------------------------------------------------------


def _serve(tmp_path, capsys, *args, model: str = "churn") -> tuple[int, str]:
    from lakegate.cli.app import main

    code = main(["serve", model, "--env", "prod", "--state-dir", str(tmp_path / "state"), *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("model", ["../../x", "prod.ml.../x", "/etc/passwd", "Churn", "prod.ml", "a" * 300])
def test_a_model_name_that_is_not_one_is_refused_before_any_registry_call(tmp_path, capsys, model):
    (tmp_path / "state").mkdir(mode=0o700)
    code, err = _serve(tmp_path, capsys, model=model)
    assert code == 6 and "is not a model name (churn) or full name (prod.ml.churn)" in err, (code, err)


@pytest.mark.parametrize("args,message", [
    (("--alias", "../../x"), "--alias '../../x' is not an alias name"),
    (("--alias", "latest"), "--alias 'latest' is reserved by MLflow"),
    (("--port", "70000"), "--port 70000: a port is 0 (a free one) to 65535"),
    (("--port", "-1"), "--port -1: a port is 0"),
    (("--refresh-seconds", "nan"), "--refresh-seconds nan: must be a number of seconds above 0"),
    (("--registry-timeout", "0"), "--registry-timeout 0: must be a number of seconds above 0"),
])
def test_bad_serve_options_are_refused_before_any_registry_call(tmp_path, capsys, args, message):
    """No registry runs in this state folder: a registry call would end in exit 9, not 6."""
    (tmp_path / "state").mkdir(mode=0o700)
    code, err = _serve(tmp_path, capsys, *args)
    assert code == 6 and message in err and "Traceback" not in err, (code, err)


def test_a_port_already_taken_is_refused_before_any_registry_call(tmp_path, capsys):
    import socket

    (tmp_path / "state").mkdir(mode=0o700)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _serve(tmp_path, capsys, "--port", str(port))
    assert code == 6 and f"--port {port}: cannot listen on 127.0.0.1:{port}" in err, (code, err)


def test_signature_checking_is_set_per_endpoint_in_the_yaml(tmp_path):
    from lakegate.infra.loader import load_environments
    from lakegate.pipelines.serving.server import endpoint_config

    from .helpers import copy_examples, edit, problems_of

    folder = copy_examples(tmp_path / "environments")
    assert endpoint_config(load_environments(folder)["prod"], "churn").signature_checking == "strict"   # the default
    line = edit(folder / "prod.yaml", "      scale_to_zero: false", "      scale_to_zero: false\n      signature_checking: lenient")
    assert endpoint_config(load_environments(folder)["prod"], "churn").signature_checking == "lenient"
    edit(folder / "prod.yaml", "signature_checking: lenient", "signature_checking: loose")
    found = problems_of(folder)
    assert found == [f"{folder / 'prod.yaml'}:{line + 1}: models.churn.serving.signature_checking: 'loose' is not "
                     "one of strict, lenient"], found
