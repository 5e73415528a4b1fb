"""The local embedded registry: one MLflow server on 127.0.0.1, detached, with its state in a folder.

    registry = LocalRegistry(Path(".lakegate"))
    status = registry.up(plan)      # start (if needed) + provision; idempotent
    registry.status()               # running / stopped / stale-pid
    registry.down()                 # SIGTERM, then SIGKILL after a timeout; safe when stopped

The server runs `mlflow server --app-name basic-auth --enable-workspaces --workers 1` with a sqlite
backend and a proxied artifact store under the state folder, `MLFLOW_SERVER_ENABLE_JOB_EXECUTION
=false` (no job runner processes), and an auth ini we write: `default_permission = NO_PERMISSIONS`
(nobody sees anything without a grant) and `auth_cache_ttl_seconds` set (without it every request
pays a ~78 ms PBKDF2 password hash). Secrets are generated once and kept in the mode-0600 credentials
file. The admin password reaches the server through the auth ini (mode 0600, in the 0700 state
folder), never through its environment: a process's environment is inherited by everything it
starts and readable in /proc/<pid>/environ for as long as it runs. The one secret MLflow only reads
from its environment is the Flask secret key (CSRF protection of the login form, not a password).
The state folder is made private (0700) before anything is written in it (promotion/state_dir.py).

State folder layout: server.json (pid, port, url), credentials.json (0600), auth.ini, mlflow.db,
auth.db, artifacts/, server.log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lakegate.project import project_root
from typing import TYPE_CHECKING, Iterator, Literal

import requests

from lakegate.infra import progress
from lakegate.promotion.local import process, secret_file
from lakegate.promotion.local.rest import MlflowHttp
from lakegate.promotion.registry import RegistryError

if TYPE_CHECKING:
    from lakegate.promotion.local.adapter import LocalRegistryAdapter
    from lakegate.promotion.local.provision import LocalAccessPlan

DEFAULT_STATE_DIR = project_root() / ".lakegate"  # git-ignored
HOST = "127.0.0.1"
RECORD_FILE = "server.json"
LOG_FILE = "server.log"
AUTH_INI = "auth.ini"
AUTH_CACHE_TTL_SECONDS = 300

State = Literal["running", "stopped", "stale-pid"]


class LocalRegistryError(RegistryError):
    """The local server could not be started, reached or stopped."""


@dataclass
class LocalRegistryStatus:
    state: State
    url: str = ""
    pid: int = 0
    port: int = 0
    healthy: bool = False
    started: bool = False                # this call started the server
    stopped: bool = False                # this call stopped the server
    ready_seconds: float | None = None   # start-up time when this call started it
    changes: list[str] = field(default_factory=list)  # provisioning changes made by this call
    state_dir: str = ""

    @property
    def changed(self) -> bool:
        return self.started or self.stopped or bool(self.changes)

    def to_dict(self) -> dict:
        return {**asdict(self), "changed": self.changed}


class LocalRegistry:
    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        *,
        ready_timeout: float = 90.0,
        stop_timeout: float = 15.0,
    ):
        self.state_dir = Path(state_dir).resolve()
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout

    # -- public API ----------------------------------------------------------------------------

    def status(self) -> LocalRegistryStatus:
        record = self._read_record()
        if record is None:
            return LocalRegistryStatus("stopped", state_dir=str(self.state_dir))
        base = dict(url=record["url"], pid=record["pid"], port=record["port"], state_dir=str(self.state_dir))
        if not process.is_alive(record["pid"], record.get("start_ticks")):
            return LocalRegistryStatus("stale-pid", **base)
        return LocalRegistryStatus("running", healthy=_healthy(record["url"]), **base)

    def up(self, plan: LocalAccessPlan | None = None) -> LocalRegistryStatus:
        """Start the server unless it runs, then apply `plan`. A second call changes nothing."""
        with self._lock():
            current = self.status()
            started, ready = False, None
            if current.state == "running":
                if not current.healthy:
                    self._wait_healthy(current.url, pid=current.pid, log_offset=None)
            else:
                if current.state == "stale-pid":
                    self._stop_orphans(current.pid)
                    self._record_path.unlink(missing_ok=True)
                with progress.step("start the MLflow server"):
                    ready = self._start()
                started = True
            changes: list[str] = []
            if plan is not None:
                from lakegate.promotion.local.provision import apply_plan

                with progress.step("provision workspaces, principals and grants"):
                    changes = apply_plan(self.admin_http(), plan, self.state_dir)
            status = self.status()
            status.started, status.ready_seconds, status.changes = started, ready, changes
            return status

    def down(self) -> LocalRegistryStatus:
        """Stop the server (SIGTERM, then SIGKILL after stop_timeout). Safe when already stopped."""
        with self._lock():
            current = self.status()
            if current.state == "running":
                process.stop_group(current.pid, self.stop_timeout)
            elif current.state == "stale-pid":
                self._stop_orphans(current.pid)
            self._record_path.unlink(missing_ok=True)
            return LocalRegistryStatus(
                "stopped",
                stopped=current.state == "running",
                state_dir=str(self.state_dir),
            )

    @property
    def url(self) -> str:
        record = self._read_record()
        if record is None:
            raise LocalRegistryError(f"the local registry in {self.state_dir} is not running (run `local up`)")
        return record["url"]

    def admin_http(self) -> MlflowHttp:
        username, password = secret_file.admin_credentials(self.state_dir)
        return MlflowHttp(self.url, username, password)

    def adapter(self, principal: str) -> LocalRegistryAdapter:
        """A registry adapter acting as `principal`, signed in with its generated password (the
        `local-password` credential strategy reads it from the credentials file)."""
        from lakegate.promotion.credentials.chain import local_login
        from lakegate.promotion.local.adapter import LocalRegistryAdapter

        login = local_login(secret_file.credentials_path(self.state_dir), principal)
        return LocalRegistryAdapter(self.url, principal, login.password.reveal(), state_dir=self.state_dir)

    def _stop_orphans(self, pgid: int) -> None:
        """The recorded `mlflow server` died but its uvicorn worker may still hold the port and the
        sqlite files: stop what is left of its process group, if it is still ours (MLflow's)."""
        members = process.group_members(pgid) if pgid > 0 else []
        if members and all("mlflow" in cmdline for _pid, cmdline in members):
            process.stop_group(pgid, self.stop_timeout)

    # -- start-up ------------------------------------------------------------------------------

    @property
    def _record_path(self) -> Path:
        return self.state_dir / RECORD_FILE

    def _read_record(self) -> dict | None:
        try:
            return json.loads(self._record_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            return {"pid": 0, "port": 0, "url": ""}  # a torn record is reported as stale

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialize up/down across processes (two `local up` at once must not start two servers)."""
        from lakegate.promotion.state_dir import ensure_state_dir

        ensure_state_dir(self.state_dir)  # 0700 whatever existed before: auth.db holds password hashes
        with open(self.state_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write_auth_ini(self, secrets: dict) -> Path:
        path = self.state_dir / AUTH_INI
        password = secrets["admin"]["password"]
        if any(c in password for c in "\r\n%"):  # generated url-safe: never; a hand-edited file might
            raise LocalRegistryError(f"the admin password in {secret_file.credentials_path(self.state_dir)} "
                                     "cannot be written to an ini file (newline or %)")
        text = "\n".join([
            "[mlflow]",
            "default_permission = NO_PERMISSIONS",
            f"database_uri = sqlite:///{self.state_dir / 'auth.db'}",
            f"admin_username = {secrets['admin']['username']}",
            f"admin_password = {password}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            "grant_default_workspace_access = false",
            f"auth_cache_ttl_seconds = {AUTH_CACHE_TTL_SECONDS}",
            "auth_cache_max_size = 1000",
            "",
        ])  # holds the admin password: written like the credentials file (mode 0600, atomically)
        if not path.exists() or stat.S_IMODE(path.stat().st_mode) & 0o077 or path.read_text() != text:
            secret_file.write_private(path, text)
        return path

    def _server_env(self, secrets: dict) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update({
            "MLFLOW_AUTH_CONFIG_PATH": str(self._write_auth_ini(secrets)),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets["flask_secret_key"],
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def _argv(self, port: int) -> list[str]:
        return [
            sys.executable, "-m", "mlflow", "server",
            "--app-name", "basic-auth",
            "--enable-workspaces",
            "--workers", "1",
            "--host", HOST,
            "--port", str(port),
            "--backend-store-uri", f"sqlite:///{self.state_dir / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination", str(self.state_dir / "artifacts"),
            # The access log costs time on every call and adds nothing the audit log lacks.
            "--uvicorn-opts", "--no-access-log",
        ]

    def _start(self) -> float:
        secrets = secret_file.ensure_server_secrets(self.state_dir)
        env = self._server_env(secrets)
        log_path = self.state_dir / LOG_FILE
        last_error: LocalRegistryError | None = None
        for _attempt in range(3):  # the free port can be taken between our probe and the bind
            port = process.free_port(HOST)
            url = f"http://{HOST}:{port}"
            log_offset = log_path.stat().st_size if log_path.exists() else 0
            began = time.monotonic()
            proc = process.spawn_detached(self._argv(port), env, self.state_dir, log_path)
            record = {
                "pid": proc.pid,
                "start_ticks": process.start_ticks(proc.pid),
                "port": port,
                "url": url,
                "started_at": time.time(),
            }
            self._record_path.write_text(json.dumps(record, indent=2))
            try:
                self._wait_healthy(url, pid=proc.pid, log_offset=log_offset)
            except LocalRegistryError as exc:
                process.stop_group(proc.pid, self.stop_timeout)
                self._record_path.unlink(missing_ok=True)
                last_error = exc
                if "address already in use" in str(exc).lower():
                    continue
                raise
            self._check_admin_login(url, secrets)
            return round(time.monotonic() - began, 2)
        assert last_error is not None
        raise last_error

    def _wait_healthy(self, url: str, *, pid: int, log_offset: int | None) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if not process.is_alive(pid):
                raise LocalRegistryError(
                    f"the MLflow server exited during start-up; last lines of "
                    f"{self.state_dir / LOG_FILE}:\n{self._log_tail(log_offset)}"
                )
            if _healthy(url):
                return
            time.sleep(0.1)
        raise LocalRegistryError(
            f"the MLflow server at {url} was not healthy after {self.ready_timeout:.0f} s; last lines of "
            f"{self.state_dir / LOG_FILE}:\n{self._log_tail(log_offset)}"
        )

    def _check_admin_login(self, url: str, secrets: dict) -> None:
        admin = MlflowHttp(url, secrets["admin"]["username"], secrets["admin"]["password"])
        try:
            admin.call("GET", "/api/2.0/mlflow/users/current")
        except RegistryError as exc:
            if getattr(exc, "status", None) == 401:
                raise LocalRegistryError(
                    f"the admin password in {secret_file.credentials_path(self.state_dir)} does not match "
                    f"the user store {self.state_dir / 'auth.db'} (was the credentials file replaced?); "
                    f"run `local down` and delete {self.state_dir} to start afresh"
                ) from None
            raise

    def _log_tail(self, offset: int | None, lines: int = 40) -> str:
        path = self.state_dir / LOG_FILE
        if not path.exists():
            return "(no log)"
        with open(path, "rb") as handle:
            if offset:
                handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _healthy(url: str) -> bool:
    with requests.Session() as session:
        session.trust_env = False  # an HTTP(S)_PROXY in the environment must not catch 127.0.0.1
        try:
            return session.get(f"{url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False
