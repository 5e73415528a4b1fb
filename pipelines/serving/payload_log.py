"""The serving payload log: requests and responses appended to the payload table off the request path.

Requests put one row each on a queue (microseconds); a writer thread appends what has accumulated every
`interval` seconds (or at `batch` rows) as one Delta commit, as the environment's principal, in the shape of
the Databricks AI Gateway inference table (`<endpoint>_payload`: databricks_request_id, timestamp_ms, date,
status_code, execution_duration_ms, request, response, served_entity_id, request_metadata). A failed write is
retried with the next batch and reported once; `close()` writes what is left.
"""

from __future__ import annotations

import queue
import sys
import threading
from datetime import datetime, timezone


class PayloadLog:
    def __init__(self, tables, table: str, *, interval: float = 1.0, batch: int = 512):
        self.tables, self.table, self.interval, self.batch = tables, table, interval, batch
        self.written = 0
        self.last_error: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()     # one Delta commit at a time from this log
        self._thread = threading.Thread(target=self._run, name="lakegate-payload-log", daemon=True)
        self._thread.start()

    def __call__(self, row: dict) -> None:
        self._queue.put(row)

    def flush(self) -> int:
        """Write everything queued now (from any thread); returns the rows written."""
        with self._lock:
            rows = self._drain()
            return self._write(rows) if rows else 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.interval)
            with self._lock:
                rows = self._drain()
                if rows:
                    self._write(rows)  # on failure the rows go back on the queue, for the next round

    def _drain(self) -> list[dict]:
        rows = []
        try:
            while True:
                rows.append(self._queue.get_nowait())
        except queue.Empty:
            return rows

    def _write(self, rows: list[dict]) -> int:
        import pandas as pd

        frame = pd.DataFrame(rows)
        frame.insert(2, "date", [datetime.fromtimestamp(ms / 1000, timezone.utc).date() for ms in frame["timestamp_ms"]])
        try:
            self.tables.write(self.table, frame, mode="append")
        except Exception as error:  # noqa: BLE001 -- the endpoint keeps answering; the rows are retried
            if self.last_error is None:
                print(f"lakegate serve: could not log {len(rows)} request(s) to {self.table}: {error}", file=sys.stderr)
            self.last_error = str(error)
            for row in rows:
                self._queue.put(row)
            return 0
        self.last_error = None
        self.written += len(rows)
        return len(rows)
