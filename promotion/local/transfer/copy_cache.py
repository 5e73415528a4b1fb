"""The files of the versions an adapter has just copied, kept locally so its gates need not download them.

A promotion copies a version and then, in its smoke-inference gate, loads that same version: without
this cache the bytes it has just streamed would be downloaded again. While `copy_version` streams the
files it also writes them here, with each file's size and the SHA-256 of the streamed bytes.

Trust rules (the cache only ever saves a download; it never decides what a version contains):
- entries are per target version and per adapter; the folder is private (mkdtemp: mode 0700, one per
  adapter) and removed when the adapter is garbage-collected or the process exits (and, after a
  kill -9, by the next process that makes one: private_tmp.py);
- an entry is used only when the registry, asked as the adapter's principal at the time of use, still
  describes the version as the one copied (same artifact location, same run): a deleted and re-created
  version, or one this principal may no longer read, never comes from the cache;
- each file's SHA-256 is taken while its bytes stream from the source, and the upload, read back
  from the cache file, must hash the same (stream_copy.py), so the file held exactly the source's
  bytes. Then the file is sealed: made read-only, checked for the streamed size, and its identity
  (inode, size, modification time) recorded. At use, every file must still have that identity, so
  a file rewritten, truncated or replaced since is noticed without hashing it again (which would
  add ~0.2 s per 200 MB to the promotion). Any mismatch, or a missing file, drops the entry, and
  the caller downloads as it would without a cache;
- only the newest MAX_VERSIONS copies are kept, and a copy larger than max_bytes (or than a fraction of
  the free disk) is not cached at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from . import private_tmp
from .stream_copy import CopiedFile

MAX_VERSIONS = 2
DEFAULT_MAX_BYTES = 4 * 1024 ** 3
_FREE_DISK_SHARE = 0.5  # never fill more than half of the free space of the temp folder


Identity = tuple[int, int, int]  # (inode, size, mtime_ns) of a sealed file


@dataclass
class CachedVersion:
    name: str
    version: str
    source: str                   # the version's artifact location, as registered
    run_id: str
    folder: Path
    files: dict[str, CopiedFile] = field(default_factory=dict)
    identities: dict[str, Identity] = field(default_factory=dict)  # of each sealed file

    def path(self, relpath: str) -> Path:
        return self.folder.joinpath(*relpath.split("/"))


class StagedCopy:
    """Where one copy in progress writes its files; becomes a CachedVersion once the version exists."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.identities: dict[str, Identity | None] = {}  # None: that file could not be cached
        self._open: list[BinaryIO] = []
        self._lock = threading.Lock()

    def sink(self, relpath: str) -> BinaryIO | None:
        """A file to write `relpath`'s bytes into (None when the disk refuses: that file is not cached)."""
        parts = relpath.split("/")
        try:
            parent = self.folder
            for part in parts[:-1]:  # never parents=True: a removed cache folder must stay removed
                parent = parent / part
                parent.mkdir(mode=0o700, exist_ok=True)
            handle = open(parent / parts[-1], "xb")
        except OSError:
            return None
        with self._lock:
            self._open.append(handle)
        return handle

    def seal(self, copied: CopiedFile, sink: BinaryIO | None) -> None:
        """`copied` is complete: close its file, make it read-only and record its identity."""
        identity = None
        if sink is not None:
            _close(sink)
            try:
                identity = _seal(self.folder.joinpath(*copied.relpath.split("/")), copied)
            except OSError:
                pass
        with self._lock:
            self.identities[copied.relpath] = identity

    def replace(self, copied: CopiedFile, data: bytes) -> None:
        """`copied.relpath` was rewritten after its copy (promotion/local/relocate.py): keep `data` instead, sealed anew."""
        path = self.folder.joinpath(*copied.relpath.split("/"))
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        sink = self.sink(copied.relpath)
        if sink is not None and _write_all(sink, data):
            self.seal(copied, sink)
        else:
            with self._lock:
                self.identities[copied.relpath] = None  # not cached: keep() then drops the entry

    def close(self) -> None:
        with self._lock:
            handles, self._open = self._open, []
        for handle in handles:
            _close(handle)


class CopyCache:
    """The newest copies one adapter made, by (model, version); thread-safe (gates load in parallel)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_versions: int = MAX_VERSIONS):
        self.max_bytes, self.max_versions = max_bytes, max_versions
        self._root: Path | None = None
        self._entries: OrderedDict[tuple[str, str], CachedVersion] = OrderedDict()
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None

    # -- filling ---------------------------------------------------------------------------------

    def stage(self, total_bytes: int) -> StagedCopy | None:
        """A private folder for a copy of `total_bytes`, or None when it should not be cached."""
        if self.max_versions <= 0 or total_bytes > self.max_bytes:
            return None
        try:
            root = self._ensure_root()
            if total_bytes > shutil.disk_usage(root).free * _FREE_DISK_SHARE:
                return None
            return StagedCopy(Path(tempfile.mkdtemp(prefix="copy-", dir=root)))
        except OSError:
            return None

    def keep(self, staged: StagedCopy, name: str, version: str, source: str, run_id: str,
             files: Iterable[CopiedFile]) -> None:
        """Register a finished, sealed copy as `name` version `version` (dropped unless every file
        was cached whole)."""
        staged.close()
        entry = CachedVersion(name, str(version), source, run_id, staged.folder, {f.relpath: f for f in files})
        identities = dict(staged.identities)
        if set(identities) != set(entry.files) or None in identities.values():
            discard(staged)
            return
        entry.identities = identities
        evicted = []
        with self._lock:
            if self._root is None:  # closed meanwhile
                evicted.append(entry)
            else:
                old = self._entries.pop((name, entry.version), None)
                if old is not None:
                    evicted.append(old)
                self._entries[(name, entry.version)] = entry
                while len(self._entries) > self.max_versions:
                    evicted.append(self._entries.popitem(last=False)[1])
        for gone in evicted:
            shutil.rmtree(gone.folder, ignore_errors=True)

    # -- using -----------------------------------------------------------------------------------

    def get(self, name: str, version: str) -> CachedVersion | None:
        """The entry for this version, not yet checked: see `lookup` and `verified`."""
        with self._lock:
            return self._entries.get((name, str(version)))

    def lookup(self, name: str, version: str, source: str, run_id: str) -> CachedVersion | None:
        """The entry for this version if the registry's current description (`source`, `run_id`,
        just read as the acting principal) is still the copied one; a stale entry is dropped."""
        entry = self.get(name, version)
        if entry is not None and (entry.source, entry.run_id) != (source, run_id):
            self.drop(name, version)
            return None
        return entry

    def verified(self, entry: CachedVersion, relpaths: Iterable[str] | None = None) -> bool:
        """True when each file (all by default) still has its sealed identity; else drops the entry."""
        wanted = list(entry.files) if relpaths is None else list(relpaths)
        try:
            ok = all(rel in entry.identities and entry.identities[rel] == _identity(entry.path(rel).stat())
                     for rel in wanted)
        except OSError:
            ok = False
        if not ok:
            self.drop(entry.name, entry.version)
        return ok

    def linked_copy(self, entry: CachedVersion) -> Path:
        """A fresh private folder holding the entry's files (hard links: no bytes copied), for a
        loaded model to own: evicting the entry later cannot pull files from under the model."""
        target = private_tmp.make(private_tmp.MODEL)  # in the temp dir too: hard links work
        try:
            for rel in entry.files:
                dest = target.joinpath(*rel.split("/"))
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(entry.path(rel), dest)
                except OSError:
                    shutil.copyfile(entry.path(rel), dest)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target

    def drop(self, name: str, version: str) -> None:
        with self._lock:
            entry = self._entries.pop((name, str(version)), None)
        if entry is not None:
            shutil.rmtree(entry.folder, ignore_errors=True)

    def close(self) -> None:
        """Remove every cached file now (also done automatically when the cache is collected)."""
        with self._lock:
            self._entries.clear()
            finalizer, self._root, self._finalizer = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    @property
    def root(self) -> Path | None:
        return self._root

    def _ensure_root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = private_tmp.make(private_tmp.COPIES)
                self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._root), True)
            return self._root


def discard(staged: StagedCopy | None) -> None:
    """Forget a staged copy that will not become a version (failed or refused copy)."""
    if staged is not None:
        staged.close()
        shutil.rmtree(staged.folder, ignore_errors=True)


def _seal(path: Path, copied: CopiedFile) -> Identity:
    path.chmod(0o400)  # changes the inode's change time, not the modification time recorded
    identity = _identity(path.stat())
    if identity[1] != copied.size:
        raise OSError(f"{path} holds {identity[1]} bytes, not the {copied.size} copied")
    return identity


def _identity(stat: os.stat_result) -> Identity:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _write_all(handle: BinaryIO, data: bytes) -> bool:
    try:
        handle.write(data)
        handle.flush()
        return True
    except (OSError, ValueError):
        _close(handle)
        return False


def _close(handle: BinaryIO) -> None:
    try:
        handle.close()
    except OSError:
        pass
