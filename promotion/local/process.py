"""Detached child processes: start one in its own session, tell whether it still runs, stop it.

Linux-first (reads /proc to tell a live process from a zombie or a recycled pid); elsewhere it
falls back to `kill(pid, 0)`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

# Popen objects of servers this interpreter started, so they are reaped (no zombies) and Python
# does not warn about dropping a running child.
_OWN_CHILDREN: dict[int, subprocess.Popen] = {}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def spawn_detached(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen:
    """Start argv in a new session (its own process group) so it outlives the caller."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _OWN_CHILDREN[proc.pid] = proc
    return proc


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (tells a recycled pid apart), if known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of proc(5); fields[0] is field 3


def _reap(pid: int) -> bool:
    """True when pid was our child and has exited (and is now reaped)."""
    proc = _OWN_CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return False
        _OWN_CHILDREN.pop(pid, None)
        return True
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def is_alive(pid: int, expected_ticks: int | None = None) -> bool:
    if pid <= 0 or _reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    stat_path = Path(f"/proc/{pid}/stat")
    if stat_path.exists():
        try:
            state = stat_path.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        if expected_ticks is not None and start_ticks(pid) != expected_ticks:
            return False  # the pid was recycled by an unrelated process
    return True


def group_members(pgid: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes of a process group with their command lines (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            tail = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(tail[2]) != pgid or tail[0] in ("Z", "X"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError, ValueError):
            continue
        members.append((int(entry.name), cmdline))
    return members


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").exists():
        return True
    return bool(group_members(pgid))  # killpg(0) also succeeds when only zombies are left


def stop_group(pid: int, timeout: float, leader_grace: float = 1.0) -> str:
    """SIGTERM the process group led by pid, SIGKILL it after `timeout` s. Returns how it ended.

    When the leader had children and they have all exited, the leader alone gets `leader_grace` s more, then
    SIGKILL: `mlflow server` only waits for its uvicorn child, then spends seconds of CPU tearing its
    interpreter down (strace: no system call between the child's exit and closing its idle sqlite handles;
    ~4 s on a loaded 2-core machine), and `local down` would wait for that with nothing left to stop."""
    had_children = len(group_members(pid)) > 1
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        _reap(pid)
        return "already-exited"
    deadline = time.monotonic() + timeout
    alone_since = None
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid):
            return "terminated"
        if had_children and [member for member, _cmd in group_members(pid)] == [pid]:
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= leader_grace:
                _kill_and_reap(pid)
                return "terminated"
        time.sleep(0.05)
    _kill_and_reap(pid)
    return "killed"


def _kill_and_reap(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_alive(pid):
        _reap(pid)
        time.sleep(0.05)
    _reap(pid)
