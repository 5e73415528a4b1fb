"""Append-only, hash-chained audit log: one JSONL file per environment (`<dir>/<env>.jsonl`).

Every entry carries `seq` (1, 2, ...), `prev_hash` (the previous entry's `hash`, zeros for the first)
and `hash` = sha256 of the entry's canonical JSON without `hash`. Editing an entry breaks its hash,
removing or reordering entries breaks `seq` and `prev_hash`. A small `<env>.head` file remembers the
last seq and hash so that removing entries from the *end* is caught too. (A hash chain proves order
and integrity, not authorship: someone who can rewrite the whole file and head can forge a history.
That is what the anchor is for (promotion/anchor.py): the head of the chain is also written as a tag
on the environment's registered models, by the environment's principal, after every append; `audit
verify` compares the log with it (promotion/audit_check.py), and an append refuses a log that no
longer holds the anchored entry.)

Appends hold an exclusive flock on the log for the read-last-entry / write / fsync sequence, so
concurrent writers on one machine chain correctly.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .errors import AuditTampered

if TYPE_CHECKING:
    from .anchor import Anchor

DEFAULT_DIR = Path(".lakegate/audit")
GENESIS = "0" * 64
# Every entry has every field (None when not applicable): one schema is easier to audit.
FIELDS = ("action", "model", "version", "actor", "principal", "git_commit", "gates", "passed",
          "previous_champion", "champion", "source", "details")


def canonical(entry: dict[str, Any]) -> bytes:
    # default=str: an odd value (a numpy integer in gate details) is stored as its text, which is also
    # what verify() reads back, so the hash still matches.
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def current_actor() -> str:
    """Who runs the command: the CI's actor when there is one, otherwise the OS user."""
    for variable in ("LAKEGATE_ACTOR", "GITHUB_ACTOR", "BUILD_REQUESTEDFOR"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"


class AuditLog:
    """The audit log of one environment."""

    def __init__(self, directory: str | Path, env: str, anchor: "Anchor | None" = None):
        self.directory, self.env = Path(directory), env
        self.path = self.directory / f"{env}.jsonl"
        self.head_path = self.directory / f"{env}.head"
        self.anchor = anchor  # when given, appends check and move the registry anchor of the entry's model
        self._parsed: tuple[tuple, list[dict[str, Any]]] | None = None  # (file identity, entries) last read

    def append(self, action: str, **fields: Any) -> dict[str, Any]:
        """Chain and durably write one entry; returns it (with seq and hash). With an anchor, the log
        must still hold the entry the model's anchor names (else AuditTampered, nothing written), and
        the anchor moves to the new entry once it is durable (under the same lock, so in order)."""
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown audit field(s): {', '.join(sorted(unknown))}")
        _ensure_private_dir(self.directory)
        model = fields.get("model")
        anchored = self.anchor is not None and self.anchor.anchorable(model)
        with self._locked() as handle:
            last = _last_entry(handle, self.path)
            if anchored:
                self._check_anchor_locked(model)
            entry = {"seq": last["seq"] + 1 if last else 1,
                     "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                     "env": self.env, **{name: fields.get(name) for name in FIELDS}, "action": action,
                     "prev_hash": last["hash"] if last else GENESIS}
            entry["hash"] = entry_hash(entry)
            handle.write(canonical(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            self._write_head(entry)
            if anchored:
                self.anchor.write(model, entry["seq"], entry["hash"])
        return entry

    def check_anchor(self, model: str) -> None:
        """Raise AuditTampered when the registry's anchor of `model` names an entry this log does not
        hold (as it holds it): run before changing anything that will be audited."""
        if self.anchor is None or not self.anchor.anchorable(model):
            return
        if self.path.is_dir():
            raise AuditTampered(f"{self.path} is a directory, not an audit log")
        self._check_anchor_locked(model)

    def _check_anchor_locked(self, model: str) -> None:
        from .anchor import MalformedAnchor

        try:
            anchored = self.anchor.read(model)
        except MalformedAnchor as error:
            raise AuditTampered(f"{model}: {error}; run `audit verify`") from None
        if anchored is None:
            return
        entries = self._raw_entries()
        found = next((e for e in entries if e.get("seq") == anchored.seq), None)
        if found is None or found.get("hash") != anchored.hash:
            what = "does not hold" if found is None else "holds a different"
            raise AuditTampered(f"{self.path} {what} entry seq {anchored.seq}, which the registry's anchor on {model} "
                                f"names ({str(anchored)[:20]}…): the log was truncated, rewritten or replaced; "
                                "run `audit verify` and restore it before anything else is recorded")
        later = [e for e in entries if e.get("model") == model and isinstance(e.get("seq"), int) and e["seq"] > anchored.seq]
        if later:
            raise AuditTampered(f"{self.path}: entry seq {later[0]['seq']} ({later[0].get('action')} of {model}) comes after "
                                f"the registry's anchor on {model} (seq {anchored.seq}): appended without the registry; "
                                "run `audit verify`")

    def _raw_entries(self) -> list[dict[str, Any]]:
        """Entries as far as they parse (for the anchor check; `verify_log` judges the rest)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise AuditTampered(f"{self.path}: cannot be read ({type(error).__name__})") from None
        found = []
        for line in raw.split(b"\n"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, in order. Use verify() first when the history must be trusted."""
        if not self.path.exists():
            return []
        if self.path.is_dir():
            raise AuditTampered(f"{self.path} is a directory, not an audit log")
        key = _file_key(self.path)
        if self._parsed is None or self._parsed[0] != key:
            # Parsed once per version of the file: `audit verify` and a promotion read the same log several times.
            self._parsed = key, [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()
                                 if line.strip()]
        return list(self._parsed[1])

    def entries_for(self, model: str) -> list[dict[str, Any]]:
        """Every entry, after checking the chain and the anchor of `model` (cheaper than
        trusted_entries, which checks every model's anchor): what a promotion of `model` relies on."""
        problem = verify_log(self)
        if problem:
            raise AuditTampered(str(problem))
        self.check_anchor(model)
        return self.entries()

    def problem(self, line: int, seq: int | None, text: str) -> "AuditProblem":
        """A located problem of this log (line 1-based; seq None when the entry is unreadable)."""
        return AuditProblem(self.env, str(self.path), line, seq, text)

    def trusted_entries(self) -> list[dict[str, Any]]:
        """Every entry, after checking the chain (and, with an anchor, every anchor of the
        environment's models); a broken chain raises AuditTampered."""
        problem = verify_log(self)
        if problem:
            raise AuditTampered(str(problem))
        if self.anchor is not None:
            from .anchor import anchor_problem

            problem = anchor_problem(self, self.anchor)
            if problem:
                raise AuditTampered(str(problem))
        return self.entries()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        if self.path.is_dir():
            raise AuditTampered(f"{self.path} is a directory, not an audit log")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write_head(self, entry: dict[str, Any]) -> None:
        # Written after the entry is durable, atomically (rename): a crash in between leaves the head
        # one entry behind, which verify accepts (the head is a lower bound on the log's length).
        temporary = self.head_path.with_suffix(".head.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.head_path)

    def head(self) -> dict[str, Any] | None:
        """The head file's {seq, hash}; None when there is none. AuditTampered when it is malformed."""
        try:
            raw = self.head_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise AuditTampered(f"{self.head_path}: the head file cannot be read ({type(error).__name__})") from None
        try:
            head = json.loads(raw)
        except ValueError:
            raise AuditTampered(f"{self.head_path}: the head file is not valid JSON") from None
        if not isinstance(head, dict):
            raise AuditTampered(f"{self.head_path}: the head file is not a JSON object")
        if type(head.get("seq")) is not int or head["seq"] < 0:
            raise AuditTampered(f"{self.head_path}: the head file has no whole-number seq")
        if not isinstance(head.get("hash"), str):
            raise AuditTampered(f"{self.head_path}: the head file has no hash")
        return head


def _ensure_private_dir(directory: Path) -> None:
    """The audit folder exists and only its owner may read it (entries name people and principals)."""
    if directory.exists() and not directory.is_dir():
        raise AuditTampered(f"{directory} is not a folder")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _last_entry(handle, path: Path) -> dict[str, Any] | None:
    """The last entry, read from the end of the file (logs grow; appends stay cheap)."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return None
    chunk, position = b"", size
    while position > 0:
        step = min(65536, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step) + chunk
        if chunk.rstrip(b"\n").rfind(b"\n") >= 0:
            break
    if not chunk.endswith(b"\n"):
        raise AuditTampered(f"{path}: the last line is incomplete (a torn write?); run `audit verify`")
    last_line = chunk.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        entry = json.loads(last_line)
        if entry_hash(entry) != entry["hash"]:
            raise ValueError("hash mismatch")
        return entry
    except (ValueError, KeyError, TypeError) as error:
        raise AuditTampered(f"{path}: the last entry is damaged ({error}); run `audit verify`") from None


@dataclass(frozen=True)
class AuditProblem:
    env: str
    file: str
    line: int               # 1-based line of the first bad entry (or the line after the last one)
    seq: int | None         # the seq the entry holds (None when unreadable)
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {"env": self.env, "file": self.file, "line": self.line, "seq": self.seq, "problem": self.problem}


@dataclass(frozen=True)
class VerifyResult:
    checked: dict[str, int] = field(default_factory=dict)        # env -> entries verified
    problems: list[AuditProblem] = field(default_factory=list)   # at most one (the first) per env
    cross_checked: bool = False                                   # compared with the registry (anchors, state)
    notes: dict[str, list[str]] = field(default_factory=dict)     # env -> what was (and was not) checked

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "cross_checked": self.cross_checked, "notes": self.notes,
                "problems": [p.as_dict() for p in self.problems]}


def verify_log(log: AuditLog) -> AuditProblem | None:
    """The first edited, reordered or removed entry of one environment's log, or None. Never raises
    for what is in the folder: a directory, an unreadable file or a malformed head is a problem."""
    try:
        key = _file_key(log.path) if log.path.is_file() else None  # before reading: a later append changes it
        lines = log.path.read_bytes().split(b"\n") if log.path.exists() else [b""]
    except IsADirectoryError:
        return AuditProblem(log.env, str(log.path), 0, None, "is a directory, not an audit log")
    except OSError as error:
        return AuditProblem(log.env, str(log.path), 0, None, f"cannot be read ({type(error).__name__})")
    if lines[-1] != b"":
        return AuditProblem(log.env, str(log.path), len(lines), None, "the last line is incomplete (torn write)")
    parsed = [_parse(raw) for raw in lines[:-1]]
    seqs = [entry.get("seq") for entry, _ in parsed]
    previous = None
    for number, (entry, problem) in enumerate(parsed, start=1):
        problem = problem or _check_entry(entry, previous, log.env, seqs, number)
        if problem:
            return AuditProblem(log.env, str(log.path), number, entry.get("seq"), problem)
        previous = entry
    if key is not None:
        log._parsed = key, [entry for entry, _ in parsed]  # what entries() returns until the file changes
    return _check_head(log, previous, len(lines))


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _parse(raw: bytes) -> tuple[dict[str, Any], str | None]:
    try:
        entry = json.loads(raw)
    except ValueError:
        return {}, "not valid JSON (edited or torn)"
    if not isinstance(entry, dict) or not {"seq", "hash", "prev_hash"} <= set(entry):
        return {}, "not an audit entry (seq, hash or prev_hash missing)"
    if type(entry["seq"]) is not int or not isinstance(entry["hash"], str) or not isinstance(entry["prev_hash"], str):
        return {}, "not an audit entry (seq is not a whole number, or hash / prev_hash not text)"
    return entry, None


def _check_entry(entry, previous, env: str, seqs: list, line: int) -> str | None:
    seq, expected = entry["seq"], (previous["seq"] + 1 if previous else 1)
    if entry_hash(entry) != entry["hash"]:
        return f"entry seq {seq} was edited (its hash does not match its content)"
    if seq != expected:
        later_seqs = seqs[line:]  # only here: slicing for every line made verifying quadratic in entries
        if seq < expected or expected in later_seqs:
            where = f" (seq {expected} is at line {line + 1 + later_seqs.index(expected)})" if expected in later_seqs else ""
            return f"entries reordered: line {line} holds seq {seq}, expected seq {expected}{where}"
        missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
        return f"entry {missing} removed before this line (line {line} holds seq {seq})"
    if entry["prev_hash"] != (previous["hash"] if previous else GENESIS):
        return f"entry seq {seq} does not chain to the entry before it (prev_hash mismatch: edited or replaced)"
    if entry.get("env") != env:
        return f"entry seq {seq} belongs to environment {entry.get('env')!r}, not {env!r}"
    return None


def _check_head(log: AuditLog, last: dict[str, Any] | None, line_count: int) -> AuditProblem | None:
    try:
        head = log.head()
    except AuditTampered as error:
        return AuditProblem(log.env, str(log.head_path), 1, None, str(error).split(": ", 1)[-1])
    if head is None:
        return None
    last_seq = last["seq"] if last else 0
    if head["seq"] > last_seq:
        missing = f"seq {head['seq']}" if head["seq"] == last_seq + 1 else f"seq {last_seq + 1}..{head['seq']}"
        return AuditProblem(log.env, str(log.path), line_count, None, f"entry {missing} removed from the end of the log")
    if head["seq"] == last_seq and last is not None and head["hash"] != last["hash"]:
        return AuditProblem(log.env, str(log.path), line_count - 1, last_seq, f"entry seq {last_seq} was replaced (head hash differs)")
    return None


def verify(directory: str | Path = DEFAULT_DIR) -> VerifyResult:
    """Verify every environment's log in the directory; names the first problem of each."""
    directory = Path(directory)
    names = sorted({p.stem for p in directory.glob("*.jsonl")} | {p.stem for p in directory.glob("*.head")}) \
        if directory.is_dir() else []
    checked, problems = {}, []
    for env in names:
        log = AuditLog(directory, env)
        problem = verify_log(log)
        if problem:
            problems.append(problem)
        else:
            checked[env] = len(log.entries())
    return VerifyResult(checked, problems)


def log_names(directory: str | Path) -> list[str]:
    """The environments that have a log or a head file in the folder."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted({p.stem for p in directory.glob("*.jsonl")} | {p.stem for p in directory.glob("*.head")})
