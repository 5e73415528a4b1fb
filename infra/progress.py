"""Progress of long work (a gate, a job's task, the registry starting), for whoever watches: the CLI on a terminal.

Library code says what starts and how it ended; it never prints. The CLI installs an observer for the duration of
one command (`observed`) and draws it on stderr (cli/output.py `Progress`); with no observer (JSON output, no
terminal, tests, a job on a cluster) a report costs one context-variable read. Only the thread that installed the
observer reports (context variables do not flow into worker threads): work done in parallel is reported by the step
that waits for it.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator


@dataclass(frozen=True)
class Event:
    label: str                       # what runs: "gate metric_threshold:accuracy", "task train"
    ok: bool | None = None           # None: it starts; True/False: it ended, passed or not
    detail: str = ""                 # one line: why it failed, what it produced
    seconds: float | None = None     # how long it took (ends only)


Observer = Callable[[Event], None]
_observer: ContextVar[Observer | None] = ContextVar("lakegate_progress", default=None)


@contextlib.contextmanager
def observed(observer: Observer | None) -> Iterator[None]:
    """Send this context's progress events to `observer` (None: nobody watches)."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


def started(label: str) -> None:
    observer = _observer.get()
    if observer is not None:
        observer(Event(label))


def ended(label: str, ok: bool, detail: str = "", seconds: float | None = None) -> None:
    observer = _observer.get()
    if observer is not None:
        observer(Event(label, ok, detail, seconds))


@contextlib.contextmanager
def step(label: str, detail: str = "") -> Iterator[None]:
    """A step that ends well unless it raises (the error's first line is the detail)."""
    if _observer.get() is None:
        yield
        return
    began = time.perf_counter()
    started(label)
    try:
        yield
    except BaseException as error:
        ended(label, False, (str(error).splitlines() or [type(error).__name__])[0][:160], time.perf_counter() - began)
        raise
    ended(label, True, detail, time.perf_counter() - began)
