"""Evidence packs for auditors: export one promotion's pack (recorded in its promote entry by
promotion/evidence.py) as HTML + JSON, and verify an exported folder against the audit log.

`report evidence` writes the pack with the entry it came from; `report evidence --verify DIR` checks that the
pack's digest is the entry's `evidence_sha256`, the entry's hash and the chain up to it, and that the HTML is the
rendering of the JSON.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakegate.promotion.audit import AuditLog, entry_hash, verify_log
from lakegate.promotion.evidence import pack_digest

FILE_VERSION = 1
JSON_NAME, HTML_NAME = "evidence.json", "evidence.html"

CHECKED = ["the pack's SHA-256 (canonical JSON) equals `evidence_sha256` in the promote entry",
           "the promote entry's own hash matches its content, and it is named by the file",
           "the hash chain of the environment's audit log up to and including that entry (seq, prev_hash, head file)",
           "evidence.html is exactly the rendering of evidence.json",
           "the entry's line and the version's other promotions the file shows are the log's"]
NOT_CHECKED = ["the registry's anchor of the log (a log rewritten whole with its head file): `python main.py audit verify`",
               "that the registry still holds these versions and files: `audit verify` rechecks the champion"]


class EvidenceError(Exception):
    """The request cannot be answered (no such entry, no pack recorded, no pack in the folder): exit 6."""


def promote_entries(log: AuditLog, model: str, version: str) -> list[tuple[int, dict[str, Any]]]:
    from lakegate.reports.history import read_entries

    return [(item["line"], item["entry"]) for item in read_entries(log) if item["entry"] is not None
            and item["entry"].get("action") == "promote" and item["entry"].get("model") == model
            and str(item["entry"].get("version")) == str(version)]


def evidence_document(log: AuditLog, model: str, version: str, seq: int | None = None) -> dict[str, Any]:
    """The file `report evidence` writes: the pack from the promote entry, its digest, the entry's coordinates and
    what verifying it found now. EvidenceError when there is no such entry or it recorded no pack."""
    found = promote_entries(log, model, version)
    if not found:
        raise EvidenceError(f"{log.path} records no promotion of {model} v{version}")
    with_pack = [(line, e) for line, e in found if isinstance((e.get("details") or {}).get("evidence"), dict)]
    if seq is not None:
        with_pack = [(line, e) for line, e in with_pack if e.get("seq") == seq]
    if not with_pack:
        seqs = ", ".join(str(e.get("seq")) for _, e in found)
        raise EvidenceError(f"the promote entr{'y' if len(found) == 1 else 'ies'} of {model} v{version} (seq {seqs}) "
                            f"in {log.path} record{'s' if len(found) == 1 else ''} no evidence pack"
                            + (f" with seq {seq}" if seq is not None else
                               " (promoted before lakegate recorded evidence)"))
    line, entry = with_pack[-1]
    details = entry["details"]
    pack = details["evidence"]
    return {
        "lakegate_evidence_file": FILE_VERSION,
        "evidence_sha256": details.get("evidence_sha256"),
        "pack": pack,
        "audit_entry": {"file": str(log.path), "env": entry.get("env"), "line": line, "seq": entry.get("seq"),
                        "time": entry.get("time"), "action": entry.get("action"), "hash": entry.get("hash"),
                        "prev_hash": entry.get("prev_hash"), "actor": entry.get("actor")},
        "other_promotions": [e.get("seq") for _, e in found if e is not entry],
        "verification": _verification(log, line, entry, pack),
    }


def _verification(log: AuditLog, line: int, entry: dict[str, Any], pack: dict[str, Any]) -> dict[str, Any]:
    recorded = (entry.get("details") or {}).get("evidence_sha256")
    computed = pack_digest(pack)
    problem = verify_log(log)
    covers_entry = problem is not None and (problem.file != str(log.path) or problem.line <= line)
    checks = [
        {"check": "digest", "ok": computed == recorded,
         "message": f"the pack's SHA-256 {computed} {'equals' if computed == recorded else 'differs from'} the "
                    f"entry's evidence_sha256 {recorded}"},
        {"check": "entry", "ok": entry_hash(entry) == entry.get("hash"),
         "message": f"promote entry seq {entry.get('seq')} {'matches' if entry_hash(entry) == entry.get('hash') else 'does not match'} its hash"},
        {"check": "chain", "ok": problem is None,
         "message": "the audit log's hash chain is intact" if problem is None else
         f"the audit log is broken {'at or before this entry' if covers_entry else 'after this entry'}: {problem}"},
    ]
    return {"ok": all(c["ok"] for c in checks), "digest_recorded": recorded, "digest_computed": computed,
            "checks": checks, "checked": CHECKED[:3], "not_checked": NOT_CHECKED}


def render_evidence(document: dict[str, Any]) -> str:
    from .render import render

    return render("evidence.html.j2", document)


def default_dir(root: str | Path, pack_or_doc: dict[str, Any]) -> Path:
    """`root/<env>/<model>-v<version>`, each part made a plain name: they come from the audit log, which whoever
    can write the audit folder can edit (an `env` of `../../../home/me` must not pick the folder written)."""
    pack = pack_or_doc.get("pack", pack_or_doc)
    bare = str(pack["model"]).split(".")[-1]
    return Path(root) / plain_name(str(pack["env"])) / plain_name(f"{bare}-v{pack['version']}")


def plain_name(text: str) -> str:
    """One path component: letters, digits, `-`, `_` and `.` (not leading), anything else `_`."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".") or "_"


def folder_under(out: Path, relative: str | Path) -> Path:
    """`out/relative`, created one folder at a time, refusing any folder on the way below `out` that is a symbolic
    link: a previous report folder may hold a link someone planted (`evidence -> ~`) to send the files elsewhere."""
    path = Path(out)
    for part in Path(relative).parts:
        path = path / part
        if path.is_symlink():
            raise OSError(errno.ELOOP, f"{path} is a symbolic link; nothing is written through it")
        path.mkdir(exist_ok=True)
    return path


def write_evidence(document: dict[str, Any], out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((JSON_NAME, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"),
                       (HTML_NAME, render_evidence(document))):
        written.append(write_atomic(out / name, text))
    return written


def write_atomic(path: Path, text: str) -> Path:
    """Write beside, then rename: a reader never sees half a report. The file beside is new (O_EXCL, a random
    name): a fixed name could be a symbolic link someone planted in the folder, and writing it would overwrite
    whatever it points at. The rename replaces a link at `path` itself, never its target."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


# ------------------------------------------------------------------------------------------ --verify


@dataclass
class PackCheck:
    ok: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "changed_fields": self.changed_fields,
                "checked": CHECKED, "not_checked": NOT_CHECKED}


def verify_dir(directory: str | Path, audit_dir: str | Path) -> PackCheck:
    """Check a folder `report evidence` wrote against the audit log it came from (see CHECKED / NOT_CHECKED).
    EvidenceError when the folder holds no readable pack or the log is not at hand."""
    from lakegate.reports.diff import _flatten

    directory = Path(directory)
    try:
        document = json.loads((directory / JSON_NAME).read_text(encoding="utf-8"))
        pack, claimed, where = document["pack"], document["evidence_sha256"], document["audit_entry"]
        env, seq = str(where["env"]), int(where["seq"])
    except FileNotFoundError:
        raise EvidenceError(f"{directory / JSON_NAME} does not exist (write one with `report evidence`)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise EvidenceError(f"{directory / JSON_NAME} is not an evidence file ({type(error).__name__}: {error})") from None
    if not isinstance(pack, dict) or "/" in env or env.startswith("."):
        raise EvidenceError(f"{directory / JSON_NAME} is not an evidence file (no pack, or a malformed environment)")
    log = AuditLog(audit_dir, env)
    if not log.path.is_file():
        raise EvidenceError(f"the audit log {log.path} is not at hand: give --state-dir of the log the pack came from")
    from lakegate.reports.history import read_entries

    items = [(i["line"], i["entry"]) for i in read_entries(log) if i["entry"] is not None and i["entry"].get("seq") == seq]
    computed = pack_digest(pack)
    checks = []
    changed: list[str] = []
    if not items:
        checks.append({"check": "entry", "ok": False, "message": f"{log.path} holds no entry seq {seq}"})
    else:
        line, entry = items[0]
        recorded = (entry.get("details") or {}).get("evidence_sha256")
        checks.append({"check": "digest", "ok": computed == recorded,
                       "message": f"the pack's SHA-256 {computed} {'equals' if computed == recorded else 'differs from'} "
                                  f"evidence_sha256 {recorded} recorded in {log.path} seq {seq}"})
        if computed != recorded and isinstance((entry.get("details") or {}).get("evidence"), dict):
            mine, theirs = _flatten(pack), _flatten(entry["details"]["evidence"])
            changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k, "<absent>") != theirs.get(k, "<absent>"))
        hash_ok = entry_hash(entry) == entry.get("hash")
        named = [k for k in ("env", "seq", "time", "action", "hash", "prev_hash", "actor") if where.get(k) != entry.get(k)]
        if not hash_ok:
            message = f"entry seq {seq} does not match its hash (edited)"
        elif named or entry.get("action") != "promote":
            message = f"entry seq {seq} is not the entry the file names (audit_entry differs in: {', '.join(named) or 'action'})"
        else:
            message = f"entry seq {seq} is a promote entry whose hash matches its content, as the file names it"
        checks.append({"check": "entry", "ok": hash_ok and not named and entry.get("action") == "promote",
                       "message": message})
        # What the page shows beside the pack, outside its digest: the entry's line and the version's other
        # promotions must be the log's too (an edited file could otherwise hide a second promotion).
        others = [e.get("seq") for _, e in promote_entries(log, str(entry.get("model")), str(entry.get("version")))
                  if e.get("seq") != seq]
        context_ok = document.get("other_promotions") == others and where.get("line") == line
        checks.append({"check": "context", "ok": context_ok,
                       "message": f"the entry's line {line} and the other promotions of this version ({others or 'none'}) "
                                  f"{'are' if context_ok else 'are not'} what the file says"
                                  + ("" if context_ok else " (edited)")})
        problem = verify_log(log)
        broken_here = problem is not None and (problem.file != str(log.path) or problem.line <= line)
        checks.append({"check": "chain", "ok": not broken_here,
                       "message": ("the log's hash chain is intact up to and including seq "
                                   f"{seq}" + (f" (a later problem: {problem})" if problem else ""))
                       if not broken_here else f"the audit log is broken at or before seq {seq}: {problem}"})
    if computed != claimed:
        checks.append({"check": "file", "ok": False, "message": f"the file's own evidence_sha256 {claimed} is not its "
                                                               f"pack's ({computed}): the file was edited"})
    try:
        html = (directory / HTML_NAME).read_text(encoding="utf-8")
        same = html == render_evidence(document)
        checks.append({"check": "html", "ok": same, "message": f"{HTML_NAME} is the rendering of {JSON_NAME}" if same
                       else f"{HTML_NAME} is not the rendering of {JSON_NAME} (edited)"})
    except FileNotFoundError:
        checks.append({"check": "html", "ok": False, "message": f"{HTML_NAME} is missing"})
    return PackCheck(all(c["ok"] for c in checks), checks, changed)
