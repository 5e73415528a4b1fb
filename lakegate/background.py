"""Work started once per process in a background thread and joined where its result is first needed: the imports
that are the floor of a command (jsii's bindings for synth: infra/preload.py; the model stack for promote:
promotion/model_stack.py), started while the command does or waits on something else."""

from __future__ import annotations

import threading
from typing import Callable


class OnceInBackground:
    def __init__(self, name: str, work: Callable[[], None]):
        self._name, self._work = name, work
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the work (once: later calls, from any thread, do nothing)."""
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()

    def join(self) -> None:
        """Wait for started work to finish (nothing to wait for when it never started)."""
        if self._thread is not None:
            self._thread.join()
