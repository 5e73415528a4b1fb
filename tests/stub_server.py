"""Test-only: the threaded 127.0.0.1 HTTP(S) server under every REST fake of the tests (tests/databricks_stub.py,
tests/arm_stub.py, tests/ci_stub.py, ...), recording every request (method, path, query, body, principal - never
the Authorization header).

A fake that sets `vendor_routes` (tests/vendor_routes.py) has every answer checked against the vendor's own
definition of it (tests/vendor_shapes.py) before it leaves: an answer that disagrees becomes a 500 naming the
disagreement, is kept in `shape_failures`, and `stop()` (the end of the `with` block) raises ShapeError, so the
test that received it fails even if it swallowed the 500. `shape_checks` counts the checks per route and model.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any                 # parsed JSON, {"bytes": n} for file uploads, or a form dict (secrets removed)
    principal: str | None     # who the bearer token belongs to (None: no or unknown token)
    authorized: bool          # an Authorization header was present


class StubError(Exception):
    def __init__(self, status: int, error_code: str, message: str, payload: dict | None = None):
        self.status, self.error_code, self.message = status, error_code, message
        # Databricks' error shape unless the service has its own (Entra's OAuth errors)
        self.payload = payload or {"error_code": error_code, "message": message}


class StubServer:
    """A threaded HTTP(S) server on 127.0.0.1:<free port> dispatching to `self.routes`."""

    routes: list[tuple[str, re.Pattern, Callable]]
    vendor_routes = None    # tests.vendor_routes.Table: check every answer against the vendor's model of it
    vendor_error = None     # (status, payload) -> problems: the vendor's error shape

    def __init__(self, tls: tuple[Path, Path] | None = None):
        self.requests: list[Recorded] = []
        self.shape_checks: Counter = Counter()   # (method, route pattern, vendor model, "answer" | "error") -> count
        self.shape_failures: list[str] = []
        self.lock = threading.RLock()
        self._tls = tls
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):  # keep test output quiet (and header-free)
                pass

            def _handle(self):
                stub._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        if self.shape_failures:
            from tests.vendor_shapes import ShapeError

            raise ShapeError(f"{type(self).__name__} was sent or answered what the vendor's models do not allow:\n"
                             + "\n".join(self.shape_failures))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def calls(self, method: str | None = None, prefix: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix)]

    def principal_of(self, handler) -> str | None:
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler):
        parts = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(parts.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        principal = self.principal_of(handler)
        status, payload, headers = 404, self.no_route(handler.command, path), {}
        body: Any = _json(raw) if "json" in (handler.headers.get("Content-Type") or "") and raw else (
            {"bytes": len(raw)} if raw else None)
        route = path                           # what the answer is counted under: the fake's route that answered
        refused = self._request_problems(handler.command, path, query, body)
        for method, pattern, fn in self.routes:
            match = pattern.fullmatch(path)
            if method != handler.command or not match:
                continue
            route = pattern.pattern
            if refused:   # a request the vendor's definition refuses: the client (an adapter) is wrong
                status, payload = 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "; ".join(refused)}
                break
            try:
                recorded, result = fn(principal=principal, query=query, raw=raw, handler=handler, **match.groupdict())
                body = recorded if recorded is not None else body
                status, payload, headers = 200, result, {}
                if isinstance(result, tuple):
                    status, payload, headers = result
            except StubError as e:
                status, payload = e.status, e.payload
            except Exception as e:  # a stub bug must fail the test visibly, not hang up the client
                status, payload = 500, {"error_code": "INTERNAL_ERROR", "message": f"stub: {e!r}"}
            break
        headers = {"Content-Type": "application/json", **headers}
        if self.vendor_routes is not None:
            problems = self._vendor_check(handler.command, path, route, query, status, payload, headers)
            if problems:
                with self.lock:
                    self.shape_failures += [f"{handler.command} {path} (HTTP {status}): {p}" for p in problems]
                status, headers = 500, {"Content-Type": "application/json"}
                payload = {"error_code": "INTERNAL_ERROR", "message": "the fake disagrees with the vendor's model: "
                           + "; ".join(problems)}
        with self.lock:
            self.requests.append(Recorded(handler.command, path, query, body, principal,
                                          "Authorization" in handler.headers))
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type"))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def no_route(self, method: str, path: str):
        """What the service answers for a path it does not have (Databricks' shape unless overridden)."""
        return {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for '{method} {path}'"}

    def _request_problems(self, method, path, query, body) -> list[str]:
        """What the client sent, against the vendor's request message where one is known (kept in shape_failures)."""
        from tests.vendor_routes import lookup

        found = lookup(self.vendor_routes, method, path) if self.vendor_routes is not None else None
        if found is None or found[1].request is None:
            return []
        problems = found[1].request(body, query)
        with self.lock:
            self.shape_failures += [f"{method} {path} (request): {p}" for p in problems]
            self.shape_checks[(method, found[0], found[1].model, "request")] += 1
        return problems

    def _vendor_check(self, method, path, route, query, status, payload, headers) -> list[str]:
        """The vendor's definition of this answer, counted in `shape_checks`; the problems found (none: it agrees)."""
        try:
            return self._vendor_problems(method, path, route, query, status, payload, headers)
        except Exception as e:  # noqa: BLE001 - a checker's own bug must fail the test too, not hang up the client
            return [f"checking against the vendor's model failed: {e!r}"]

    def _vendor_problems(self, method, path, route, query, status, payload, headers) -> list[str]:
        from tests.vendor_routes import lookup

        found = lookup(self.vendor_routes, method, path)
        if status >= 400 and found is not None and found[1].other_service:
            model, problems = found[1].model, []     # another service's error (e.g. cloud storage's XML)
        elif status >= 400:
            model, check = "error", self.vendor_error
            problems = check(status, payload) if check else []
        elif found is None:
            return [f"no vendor model is known for {method} {path}: add it to tests/vendor_routes.py"]
        else:
            model, check = found[1].model, found[1].check
            lowered = {k.lower(): v for k, v in headers.items()}
            if isinstance(payload, bytes):
                lowered["content-length"] = str(len(payload))
            problems = check(payload, query, lowered) if check else []
        with self.lock:
            self.shape_checks[(method, route, model, "error" if status >= 400 else "answer")] += 1
        return problems


def _json(raw: bytes) -> dict:
    return json.loads(raw or b"{}")


def _now_ms() -> int:
    return int(time.time() * 1000)

