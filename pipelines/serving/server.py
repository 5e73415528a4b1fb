"""`python main.py serve MODEL --env ENV [--port N]`: the environment's champion over REST on 127.0.0.1.

The server loads the version the alias (`champion`) points at, as the environment's service principal, and
checks the alias every `refresh_seconds` (one registry call, off the request path); when it moved, the new
version is loaded and swapped in between requests: the URL stays, consumers never notice a redeployment.
Requests and responses go to the endpoint's payload table (`<monitoring schema>.<endpoint>_payload`, the
name the YAML's serving endpoint gives the AI Gateway inference table on Databricks) through a batched writer
thread, so logging adds no latency. Requests are checked against the model's signature as the endpoint's
`signature_checking` says (strict by default). An endpoint serving by key (`lookup: by_key`) also answers a request
giving only the model's key, looking the features up in the feature table as the same principal (lookup.py); a
principal that may not read that table stops `serve` before the registry is asked anything. When the registry cannot be reached, the loaded version keeps
serving; the local registry's state folder says where the registry runs now, so a registry restarted on another
port (`local down && local up`) is followed; one stopped for longer than `registry_timeout` seconds ends `serve`
with a clear message (exit 9) rather than a server that silently never follows its champion again. While it runs, `<state-dir>/serving/<env>-<endpoint>.json` says where
(the deployment task uses it to check the endpoint serves the new champion).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Iterator

from lakegate.pipelines.errors import PipelineError

from .app import Served, ServingApp
from .lookup import KeyLookup
from .payload_log import PayloadLog

HOST = "127.0.0.1"


def endpoint_of(env, model: str) -> tuple[str, str]:
    """(endpoint name, payload table `schema.table`) of the environment's endpoint serving `model`."""
    monitoring = env.unity_catalog.monitoring_schema
    for endpoint in env.endpoints:
        if endpoint.model == model:
            return endpoint.name, f"{monitoring}.{endpoint.payload_table}"
    declared = ", ".join(f"{e.name} ({e.model})" for e in env.endpoints) or "none"
    raise PipelineError(f"{env.name} declares no serving endpoint for model {model} "
                        f"({env.locate('models', model) if model in env.models else env.locate('models')}; "
                        f"its endpoints: {declared})")


def endpoint_config(env, model: str):
    """The YAML's serving endpoint for `model` (None when the environment declares none: defaults apply)."""
    return next((endpoint for endpoint in env.endpoints if endpoint.model == model), None)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def record_path(state_dir: Path, env_name: str, endpoint: str) -> Path:
    """`<state-dir>/serving/<env>-<endpoint>.json`; a name that is not plain (`../x`, a slash) is refused: the
    endpoint is a job parameter (`--param endpoint=...`), and must never name a file elsewhere."""
    for name in (env_name, endpoint):
        if not _PLAIN_NAME.match(str(name)):
            raise PipelineError(f"{name!r} is not an endpoint or environment name (letters, digits, - and _)")
    return Path(state_dir) / "serving" / f"{env_name}-{endpoint}.json"


def read_record(state_dir: Path, env_name: str, endpoint: str) -> dict | None:
    """Where the local endpoint runs, if it does (its process alive)."""
    try:
        record = json.loads(record_path(state_dir, env_name, endpoint).read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(record["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return record


def _key_lookup(runtime, config) -> KeyLookup | None:
    """The endpoint's lookup by key (`serving.lookup: by_key`), reading as the runtime's (the serving) principal;
    a principal that may not read the feature table stops `serve` here (PermissionRefused, exit 4)."""
    spec = getattr(config, "feature_lookup", None)
    if spec is None:
        return None
    lookup = KeyLookup(runtime.tables, spec.table, spec.key)
    lookup.check()
    return lookup


class UvicornThread:
    """A uvicorn server for `app` on 127.0.0.1 in a daemon thread (port 0: a free one)."""

    def __init__(self, app, port: int = 0):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False,
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="lakegate-serve", daemon=True)

    def start(self, timeout: float = 30.0) -> int:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the scoring server did not start on {HOST} (port taken?)")
            time.sleep(0.02)
        return self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def serving(model, model_name: str, version: str, endpoint: str = "smoke") -> Iterator[str]:
    """Serve one loaded model version for a moment (the serving_smoke gate): yields the invocations URL."""
    app = ServingApp(endpoint, Served.of(model_name, version, model))
    server = UvicornThread(app)
    port = server.start()
    try:
        yield f"http://{HOST}:{port}/serving-endpoints/{endpoint}/invocations"
    finally:
        server.stop()


class ChampionServer:
    """The environment's endpoint for one model: follows the alias, logs every request."""

    def __init__(self, runtime, model: str, *, port: int = 0, alias: str = "champion", refresh_seconds: float = 2.0,
                 log_requests: bool = True, log_interval: float = 1.0, registry_timeout: float = 120.0):
        self.rt, self.alias, self.refresh_seconds = runtime, alias, refresh_seconds
        self.registry_timeout = registry_timeout
        self.failure: str | None = None         # why serving stopped by itself (the registry is gone)
        self._problem: str | None = None        # the last registry problem reported (each is reported once)
        self._gone_since: float | None = None
        self.full_name = runtime.model_full_name(model)
        catalog = getattr(getattr(runtime, "env", None), "unity_catalog", None)
        if catalog is not None and self.full_name.split(".")[0] != catalog.catalog:
            # prod's endpoint serves prod's models: another catalog's (staging.ml.churn, which prod's principal may
            # read) would answer under prod's endpoint name, log to prod's payload table and satisfy prod's deployment.
            raise PipelineError(f"{self.full_name} is not a model of {runtime.environment} (catalog {catalog.catalog}): "
                                f"an environment's endpoint serves only its own models")
        self.endpoint, self.payload_table = endpoint_of(runtime.env, self.full_name.split(".")[-1])
        self.port = port
        config = endpoint_config(runtime.env, self.full_name.split(".")[-1])
        self.lookup = _key_lookup(runtime, config)  # before the registry: a refused principal fails first
        version = runtime.resolve_version(self.full_name, alias)
        self.signature_checking = config.signature_checking if config is not None else "strict"
        self.log = PayloadLog(runtime.tables, self.payload_table, interval=log_interval) if log_requests else None
        self.app = ServingApp(self.endpoint, self._load(version), alias=alias, on_request=self.log,
                              strict=self.signature_checking == "strict", lookup=self.lookup)
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="lakegate-champion-watch", daemon=True)
        self._server: UvicornThread | None = None
        self.events: list[str] = []

    @property
    def version(self) -> str:
        return self.app.current.version

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/serving-endpoints/{self.endpoint}/invocations"

    def start(self) -> str:
        self._server = UvicornThread(self.app, self.port)
        self.port = self._server.start()
        self._watcher.start()
        path = record_path(self.rt.state_dir, self.rt.environment, self.endpoint)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": os.getpid(), "url": self.url, "endpoint": self.endpoint,
                                    "model": self.full_name, "port": self.port, "started_at": time.time()}))
        return self.url

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()
        if self.log is not None:
            self.log.close()
        with contextlib.suppress(OSError):
            record = record_path(self.rt.state_dir, self.rt.environment, self.endpoint)
            if json.loads(record.read_text()).get("pid") == os.getpid():
                record.unlink()

    def wait(self) -> None:
        """Block until interrupted (Ctrl-C / SIGTERM)."""
        import signal

        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass

    def check_alias(self) -> bool:
        """Serve the alias's version now if it moved; True when it did."""
        version = self.rt.resolve_version(self.full_name, self.alias)
        if version == self.app.current.version:
            return False
        previous = self.app.current.version
        self.app.swap(self._load(version))
        self._event(f"{self.full_name}@{self.alias} moved: now serving v{version} (was v{previous}), same URL")
        return True

    def _load(self, version: str) -> Served:
        model = self.rt.registry.load_pyfunc(self.full_name, version)
        served = Served.of(self.full_name, version, model)
        spec = served.lookup_spec
        if self.lookup is not None and spec is not None and spec.key != self.lookup.key:
            # a version keyed by another column would be handed the wrong rows: refused (a swap keeps the old one)
            raise PipelineError(f"{self.full_name} v{version} was trained with key {spec.key}, but the endpoint "
                                f"serves by key {self.lookup.key} ({self.lookup.full_name})")
        return served

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.check_alias()
            except Exception as error:  # noqa: BLE001 -- keep serving the loaded version, say why
                self._lost(error)
            else:
                if self._problem is not None:
                    self._event(f"the registry answers again: following {self.full_name}@{self.alias} "
                                f"(serving v{self.app.current.version})")
                self._problem, self._gone_since = None, None

    def _lost(self, error: Exception) -> None:
        """The alias could not be checked: follow the registry where it runs now, wait for it, or give up."""
        where = self._registry_now()
        if where is not None and where.state == "running" and where.url != self._registry_url():
            self._reconnect()
            self._event(f"the registry now runs at {where.url}: following {self.full_name}@{self.alias} there")
            with contextlib.suppress(Exception):  # a failure here is reported by the next round
                self.check_alias()
            self._problem, self._gone_since = None, None
            return
        if where is None or where.state == "running":
            self._gone_since = None  # reachable or not ours to watch: no stop countdown
        else:
            now = time.monotonic()
            self._gone_since = self._gone_since or now
            if now - self._gone_since >= self.registry_timeout:
                self.failure = (f"the local registry in {self.rt.registry_server.state_dir} has been stopped for "
                                f"{self.registry_timeout:g} s: serve stops (it served v{self.app.current.version}); "
                                f"start it with `python main.py local up`, then serve again")
                self._event(self.failure)
                self._stop.set()
                return
        # Once per kind of problem, not at every refresh (a connection error's text differs at each attempt).
        problem = f"{type(error).__name__} while the registry is {where.state if where is not None else 'elsewhere'}"
        if problem != self._problem:
            waiting = f"; gives up if it stays stopped for {self.registry_timeout:g} s" \
                if where is not None and where.state != "running" else ""
            self._event(f"could not check {self.full_name}@{self.alias} ({type(error).__name__}: {str(error)[:200]}); "
                        f"still serving v{self.app.current.version}, retrying every {self.refresh_seconds:g} s{waiting}")
        self._problem = problem

    def _registry_now(self):
        """Where the local registry runs now (its state folder's record), or None for another registry."""
        server = getattr(self.rt, "registry_server", None)
        return server.status() if server is not None else None

    def _registry_url(self) -> str | None:
        try:
            return self.rt.registry.url  # the URL the runtime's adapter was made for
        except Exception:  # noqa: BLE001 -- no adapter could be made: none to keep
            return None

    def _reconnect(self) -> None:
        """A fresh runtime (same environment, principal, state folder): its adapter reads the registry's new URL."""
        fresh = type(self.rt)(self.rt.envs, self.rt.environment, self.rt.state_dir, principal=self.rt.principal)
        fresh.echo = self.rt.echo
        self.rt = fresh

    def _event(self, message: str) -> None:
        self.events.append(message)
        print(f"lakegate serve: {message}", flush=True)
