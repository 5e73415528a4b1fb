"""Copy one artifact file through the server: download and upload at the same time.

The server's artifact proxy is the bottleneck (it is one Python process), so what matters on our
side is to keep both of its directions busy: a reader thread pulls the download into a bounded queue
of large chunks while the calling thread's upload sends them. Memory stays bounded by
(QUEUE_DEPTH + 2) chunks per file. While the bytes stream past, their SHA-256 is computed and, when
a sink is given, they are written to it too (the adapter's local copy cache, see copy_cache.py), so
the copied version can later be loaded without downloading it again.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from promotion.local.http import MlflowHttp
from promotion.registry import RegistryError

CHUNK = 4 * 1024 * 1024
QUEUE_DEPTH = 4
_POLL_S = 0.05
_END = object()


@dataclass(frozen=True)
class CopiedFile:
    relpath: str   # relative to the copied root, posix separators
    size: int      # bytes streamed (and checked against the download's announced length)
    sha256: str    # of exactly those bytes


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def copy_file(http: MlflowHttp, source: tuple[str, str], target: tuple[str, str], relpath: str, *,
              expected_size: int, on_bytes: Callable[[int], None], sink: BinaryIO | None = None) -> CopiedFile:
    """Stream `source` (workspace, proxy path) into `target` (workspace, proxy path).

    The download is opened before any upload starts, so a refused or missing source fails cleanly.
    `sink` (optional) receives the same bytes; a failing sink only stops caching, never the copy."""
    download = http.open_artifact(*source, headers={"Accept-Encoding": "identity"})
    size = _announced_length(download, expected_size)
    digest = hashlib.sha256()
    if size <= CHUNK:  # small file: one read, no thread (most files of a model are small)
        try:
            data = download.raw.read(decode_content=True) if size else b""
        finally:
            download.close()
        _check_length(len(data), size, source[1])
        digest.update(data)
        _write(sink, data)
        http.upload_artifact(*target, data)
        on_bytes(len(data))
        return CopiedFile(relpath, len(data), digest.hexdigest())

    chunks: queue.Queue = queue.Queue(QUEUE_DEPTH)
    stop = threading.Event()
    reader = threading.Thread(target=_read_into, args=(download, chunks, digest, sink, stop),
                              name="lakegate-copy-read", daemon=True)
    reader.start()
    body = _QueuedBody(chunks, size, source[1], on_bytes)
    try:
        http.upload_artifact(*target, body)
    finally:
        stop.set()
        _drain(chunks)  # unblocks a reader waiting on a full queue
        reader.join()
    _check_length(body.sent, size, source[1])
    return CopiedFile(relpath, body.sent, digest.hexdigest())


class _QueuedBody:
    """The upload body: chunks from the reader, with a known length (the server wants one)."""

    def __init__(self, chunks: queue.Queue, size: int, source_path: str, on_bytes: Callable[[int], None]):
        self._chunks, self._size, self._source_path, self._on_bytes = chunks, size, source_path, on_bytes
        self.sent = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._chunks.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise RegistryError(f"download of {self._source_path} failed mid-copy: {item.error}") from item.error
            self.sent += len(item)
            if self.sent > self._size:  # never send more than announced: the upload would be corrupt
                raise RegistryError(f"{self._source_path} grew while it was copied (over {self._size} bytes)")
            self._on_bytes(len(item))
            yield item


def _read_into(download, chunks: queue.Queue, digest, sink: BinaryIO | None, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            chunk = download.raw.read(CHUNK, decode_content=True)
            if not chunk:
                break
            digest.update(chunk)  # hashlib drops the GIL for large buffers: overlaps with the upload
            sink = _write(sink, chunk)
            _put(chunks, chunk, stop)
        _put(chunks, _END, stop)
    except BaseException as error:  # noqa: BLE001 -- handed to the uploading thread, which raises it
        _put(chunks, _Failed(error), stop)
    finally:
        download.close()


def _put(chunks: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            chunks.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def _drain(chunks: queue.Queue) -> None:
    try:
        while True:
            chunks.get_nowait()
    except queue.Empty:
        pass


def _write(sink: BinaryIO | None, data: bytes) -> BinaryIO | None:
    """Write to the cache sink; on a disk error give up caching this file (the copy goes on)."""
    if sink is None:
        return None
    try:
        sink.write(data)
        return sink
    except (OSError, ValueError):
        _abandon(sink)
        return None


def _abandon(sink: BinaryIO) -> None:
    try:
        sink.close()
    except OSError:
        pass


def _announced_length(download, expected: int) -> int:
    header = download.headers.get("Content-Length")
    return int(header) if header and header.isdigit() else expected


def _check_length(got: int, announced: int, source_path: str) -> None:
    if got != announced:
        raise RegistryError(f"download of {source_path} ended after {got} of {announced} bytes")
