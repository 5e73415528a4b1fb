"""Copy one artifact file through the server, hashing the bytes on the way.

Three shapes, by what is fastest on the local registry, whose server (one Python process) is the
bottleneck of every copy:
- a small file (up to CHUNK) is read in one go and uploaded from memory;
- a file that goes to the copy cache (a `sink`, see copy_cache.py) is relayed through it: downloaded
  whole into the cache file, then uploaded from that file, the upload checking that it sends the
  very bytes downloaded (same SHA-256). Measured on a 200 MB model, this costs the
  server a little less CPU than serving the download and the upload at the same time (its event loop
  and its file threads then contend for one GIL), and the cache is filled on the way;
- otherwise the download and the upload are pipelined: a reader thread fills a bounded queue of
  large chunks while the calling thread uploads them, so nothing touches the disk and memory stays
  bounded by (QUEUE_DEPTH + 2) chunks.
The download is always opened before any upload starts, so a refused or missing source fails
cleanly, and an upload never sends other than the announced length (a short or long download
aborts it instead of leaving the server waiting).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from lakegate.promotion.local.rest import MlflowHttp
from lakegate.promotion.registry import RegistryError

CHUNK = 4 * 1024 * 1024
QUEUE_DEPTH = 4
_POLL_S = 0.05
_END = object()
Location = tuple[str, str]  # (workspace, proxy path)


@dataclass(frozen=True)
class CopiedFile:
    relpath: str   # relative to the copied root, posix separators
    size: int      # bytes copied (checked against the download's announced length)
    sha256: str    # of exactly those bytes


def copy_file(http: MlflowHttp, source: Location, target: Location, relpath: str, *, expected_size: int,
              on_bytes: Callable[[int], None], sink: BinaryIO | None = None) -> CopiedFile:
    """Copy `source` to `target`; `on_bytes(n)` reports progress, summing to the file's size.

    With `sink`, the bytes are also written to it; if the disk fails, the sink is closed early
    (the copy cache then rejects that file) and the copy goes on, pipelined."""
    download = http.open_artifact(*source, headers={"Accept-Encoding": "identity"})
    size = _announced_length(download, expected_size)
    digest = hashlib.sha256()
    if size <= CHUNK:
        try:
            data = _read(download, source[1], size) if size else b""
        finally:
            download.close()
        _check_length(len(data), size, source[1])
        digest.update(data)
        _write(sink, data)
        http.upload_artifact(*target, data)
        on_bytes(len(data))
        return CopiedFile(relpath, len(data), digest.hexdigest())
    reported = 0
    if sink is not None:
        relayed, reported = _relay(http, download, target, size, digest, sink, on_bytes, source[1])
        if relayed:
            return CopiedFile(relpath, size, digest.hexdigest())
        # the cache file could not be written: copy again without it (progress resumes where it was)
        download, digest = http.open_artifact(*source, headers={"Accept-Encoding": "identity"}), hashlib.sha256()
    sent = _pipe(http, download, target, size, digest, _after(reported, on_bytes), source[1])
    return CopiedFile(relpath, sent, digest.hexdigest())


# -- relayed through the cache file -----------------------------------------------------------------


def _relay(http: MlflowHttp, download, target: Location, size: int, digest, sink: BinaryIO,
           on_bytes: Callable[[int], None], source_path: str) -> tuple[bool, int]:
    """Download into `sink`, then upload from it: (True, _) once uploaded, (False, bytes reported)
    when the sink failed before anything was uploaded. Progress counts half of each chunk when it
    is downloaded and the other half when it is uploaded."""
    got = reported = 0
    try:
        while chunk := _read(download, source_path):
            digest.update(chunk)  # the bytes as the source gave them; the upload checks it sends the same
            if _write(sink, chunk) is None:
                return False, reported
            got += len(chunk)
            on_bytes(len(chunk) // 2)
            reported += len(chunk) // 2
    finally:
        download.close()
    _check_length(got, size, source_path)
    try:
        sink.flush()
        source_file = open(sink.name, "rb")
    except (OSError, ValueError):
        _close(sink)
        return False, reported
    with source_file:
        body = _FileBody(source_file, size, on_bytes, size - reported, digest.hexdigest())
        http.upload_artifact(*target, body)
    return True, size


class _FileBody:
    """An upload body read from the cache file in large chunks, with a known length. It hashes what
    it sends and refuses to finish unless that is the downloaded content (`expected_sha256`), so
    the target gets the source's bytes even though they passed through a local file. Reports
    `to_report` bytes of progress in all: the other half of each chunk, the rest with the last one."""

    def __init__(self, handle: BinaryIO, size: int, on_bytes: Callable[[int], None], to_report: int,
                 expected_sha256: str):
        self._handle, self._size, self._on_bytes, self._to_report = handle, size, on_bytes, to_report
        self._expected, self._digest = expected_sha256, hashlib.sha256()

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        sent, left = 0, self._to_report
        while sent < self._size and (chunk := self._handle.read(min(CHUNK, self._size - sent))):
            self._digest.update(chunk)
            sent += len(chunk)
            share = left if sent >= self._size else min(left, len(chunk) - len(chunk) // 2)
            left -= share
            if share:
                self._on_bytes(share)
            yield chunk
        if sent != self._size or self._digest.hexdigest() != self._expected:
            raise RegistryError(f"{self._handle.name} changed between its download and its upload")


def _after(skip: int, on_bytes: Callable[[int], None]) -> Callable[[int], None]:
    """on_bytes for a second pass over a file whose first `skip` bytes were already reported."""
    seen = 0

    def report(n: int) -> None:
        nonlocal seen
        before, seen = seen, seen + n
        fresh = seen - max(before, skip)
        if fresh > 0:
            on_bytes(fresh)

    return report


# -- pipelined ----------------------------------------------------------------------------------------


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def _pipe(http: MlflowHttp, download, target: Location, size: int, digest,
          on_bytes: Callable[[int], None], source_path: str) -> int:
    chunks: queue.Queue = queue.Queue(QUEUE_DEPTH)
    stop = threading.Event()
    reader = threading.Thread(target=_read_into, args=(download, chunks, digest, stop),
                              name="lakegate-copy-read", daemon=True)
    reader.start()
    body = _QueuedBody(chunks, size, source_path, on_bytes)
    try:
        http.upload_artifact(*target, body)
    finally:
        stop.set()
        _drain(chunks)  # unblocks a reader waiting on a full queue
        reader.join()
    return body.sent


class _QueuedBody:
    """The upload body: chunks from the reader thread, with a known length (the server wants one)."""

    def __init__(self, chunks: queue.Queue, size: int, source_path: str, on_bytes: Callable[[int], None]):
        self._chunks, self._size, self._source_path, self._on_bytes = chunks, size, source_path, on_bytes
        self.sent = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._chunks.get()
            if item is _END:
                if self.sent != self._size:  # abort the upload rather than leave the server waiting
                    raise RegistryError(f"download of {self._source_path} ended after {self.sent} of "
                                        f"{self._size} bytes")
                return
            if isinstance(item, _Failed):
                raise RegistryError(f"download of {self._source_path} failed mid-copy: {item.error}") from item.error
            self.sent += len(item)
            if self.sent > self._size:  # never send more than announced: the upload would be corrupt
                raise RegistryError(f"{self._source_path} grew while it was copied (over {self._size} bytes)")
            self._on_bytes(len(item))
            yield item


def _read_into(download, chunks: queue.Queue, digest, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            chunk = download.raw.read(CHUNK, decode_content=True)  # errors: wrapped by _QueuedBody
            if not chunk:
                break
            digest.update(chunk)  # hashlib drops the GIL for large buffers: overlaps with the upload
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


# -- helpers ------------------------------------------------------------------------------------------


def _read(download, source_path: str, amount: int | None = None) -> bytes:
    try:
        return download.raw.read(amount or CHUNK, decode_content=True)
    except Exception as error:  # urllib3/socket errors: say which file, keep the cause
        raise RegistryError(f"download of {source_path} failed mid-copy: {error}") from error


def _write(sink: BinaryIO | None, data: bytes) -> BinaryIO | None:
    """Write to the cache sink; on a disk error close it (the cache then rejects the file)."""
    if sink is None:
        return None
    try:
        sink.write(data)
        return sink
    except (OSError, ValueError):
        _close(sink)
        return None


def _close(handle: BinaryIO) -> None:
    try:
        handle.close()
    except OSError:
        pass


def _announced_length(download, expected: int) -> int:
    header = download.headers.get("Content-Length")
    return int(header) if header and header.isdigit() else expected


def _check_length(got: int, announced: int, source_path: str) -> None:
    if got != announced:
        raise RegistryError(f"download of {source_path} ended after {got} of {announced} bytes")
