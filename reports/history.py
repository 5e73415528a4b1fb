"""The promotion history as an auditor reads it: every entry of every environment's audit log, per model, and
what verifying the chain found, first.

Read offline from the audit folder (`<state-dir>/audit`): the hash chain, sequence and head file of each log are
verified (promotion/audit.py `verify_log`). The registry anchors and state are not compared here: that needs the
registry and is `audit verify` (promotion/audit_check.py). The report says so next to the result.

Entries are read tolerantly (a line that does not parse is shown as such), and every entry at or after the first
problem of its log is marked unverified: a broken chain is shown, never hidden and never silently trusted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lakegate.infra.model import Environments
from lakegate.promotion.audit import AuditLog, log_names, verify_log
from lakegate.promotion.rollback import champion_history

CHECKED_OFFLINE = ["each entry's hash matches its content (an edited entry)",
                   "seq runs 1, 2, … and each entry names the previous one's hash (removed or reordered entries)",
                   "the head file agrees with the last entry (entries removed from the end)"]
NOT_CHECKED_OFFLINE = ["the registry's anchors (a log rewritten whole, with its head file, or a forged entry at the end)",
                       "the registry's state (champions moved outside lakegate, promoted versions deleted): "
                       "run `python main.py audit verify` against the registry for both"]


def read_entries(log: AuditLog) -> list[dict[str, Any]]:
    """Every line of the log as {line, entry} (entry None when the line is not JSON)."""
    try:
        raw = log.path.read_bytes() if log.path.is_file() else b""
    except OSError:
        return []
    found = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        found.append({"line": number, "entry": entry if isinstance(entry, dict) else None})
    return found


def full_model_name(envs: Environments, env_name: str, model: Any) -> str:
    """Refusals record the model as it was typed (`churn`): grouped under the environment's full name."""
    text = str(model or "")
    if text and "." not in text and env_name in envs:
        env = envs[env_name]
        if text in env.models:
            return env.unity_catalog.model_full_name(text)
    return text or "(no model)"


_OUTCOMES = {"promote_refused": "refused", "approval_refused": "refused", "rollback_refused": "refused",
             "approve": "approved", "rollback": "rolled back"}


def approver_of(entry: dict[str, Any]) -> str | None:
    """The approver's identity an approval names (the actor is only who ran the command: an OS or CI user). A
    refused approval shows the identity it claimed, marked so: it proves nothing."""
    details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
    by = details.get("approved_by")
    if not by or entry.get("action") not in ("approve", "approval_refused"):
        return None
    return str(by) if entry.get("action") == "approve" else f"{by} (claimed; refused)"


def entry_row(entry: dict[str, Any], line: int, verified: bool, model: str) -> dict[str, Any]:
    details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
    gates = [{"gate_id": g.get("gate_id"), "passed": bool(g.get("passed")), "message": g.get("message")}
             for g in entry.get("gates") or [] if isinstance(g, dict)]
    outcome = details.get("outcome") or _OUTCOMES.get(entry.get("action"))
    source = entry.get("source") if isinstance(entry.get("source"), dict) else None
    return {
        "seq": entry.get("seq"), "line": line, "time": entry.get("time"), "action": entry.get("action"),
        "model": model, "version": entry.get("version"), "actor": entry.get("actor"), "principal": entry.get("principal"),
        "git_commit": entry.get("git_commit"), "outcome": outcome, "passed": entry.get("passed"),
        "reason": details.get("reason") or details.get("serving_error"), "kind": details.get("kind"),
        "approved_by": details.get("approved_by"), "approver": approver_of(entry),
        "artifacts_sha256": details.get("artifacts_sha256"),
        "champion_moved": details.get("champion_moved"), "previous_champion": entry.get("previous_champion"),
        "champion": entry.get("champion"), "source": source, "gates": gates,
        "gates_passed": sum(1 for g in gates if g["passed"]), "gates_failed": [g["gate_id"] for g in gates if not g["passed"]],
        "evidence_sha256": details.get("evidence_sha256"), "evidence_error": details.get("evidence_error"),
        "evidence_href": None, "hash": entry.get("hash"), "verified": verified,
    }


def audit_history(envs: Environments, audit_dir: str | Path) -> dict[str, Any]:
    """{verification, environments: [{env, log, in_definitions, problem, models: [{model, champion, entries}]}]}."""
    directory = Path(audit_dir)
    names = [env.name for env in envs] + [n for n in log_names(directory) if n not in envs]
    environments, problems, checked = [], [], {}
    for name in names:
        log = AuditLog(directory, name)
        present = log.path.exists() or log.head_path.exists()
        problem = verify_log(log) if present else None
        lines = read_entries(log)
        bad_line = problem.line if problem is not None and problem.file == str(log.path) else None
        broken_whole = problem is not None and bad_line is None  # the head file itself is damaged
        models: dict[str, dict[str, Any]] = {}
        raw_by_model: dict[str, list[dict[str, Any]]] = {}
        for item in lines:
            entry = item["entry"]
            verified = not broken_whole and (bad_line is None or item["line"] < bad_line)
            if entry is None:
                model = "(unreadable line)"
                row = {**entry_row({}, item["line"], False, model), "action": "unreadable"}
            else:
                model = full_model_name(envs, name, entry.get("model"))
                row = entry_row(entry, item["line"], verified, model)
                raw_by_model.setdefault(model, []).append(entry)
            models.setdefault(model, {"model": model, "entries": []})["entries"].append(row)
        for model, group in models.items():
            history = champion_history(raw_by_model.get(model, []), model)
            group["champion"] = history[-1] if history else None
            group["champion_history"] = history
            group["counts"] = _counts(group["entries"])
        if problem is not None:
            problems.append(problem.as_dict())
        elif present:
            checked[name] = sum(1 for item in lines if item["entry"] is not None)
        environments.append({"env": name, "in_definitions": name in envs, "log": str(log.path), "present": present,
                             "problem": problem.as_dict() if problem else None,
                             "models": sorted(models.values(), key=lambda m: m["model"])})
    return {
        "directory": str(directory), "present": directory.is_dir(),
        "verification": {"ok": not problems, "checked": checked, "problems": problems, "mode": "offline (files only)",
                         "checked_what": CHECKED_OFFLINE, "not_checked": NOT_CHECKED_OFFLINE},
        "environments": environments,
    }


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["action"]] = counts.get(row["action"], 0) + 1
    return counts


def production_chains(envs: Environments, history: dict[str, Any], audit_dir: str | Path) -> list[dict[str, Any]]:
    """For each production environment's model with a champion: commit -> training run -> each environment's
    version -> the gates -> the approval, from the promote entry that made it champion (its evidence pack when it
    recorded one) and the approve entry of that version."""
    chains = []
    for env_entry in history["environments"]:
        name = env_entry["env"]
        if name not in envs or not envs[name].production:
            continue
        raw = [item["entry"] for item in read_entries(AuditLog(audit_dir, name)) if item["entry"] is not None]
        for group in env_entry["models"]:
            version = group.get("champion")
            if version is None:
                continue
            model = group["model"]
            moved = [e for e in raw if e.get("action") == "promote" and e.get("model") == model
                     and str(e.get("version")) == str(version) and (e.get("details") or {}).get("champion_moved")]
            approvals = [e for e in raw if e.get("action") == "approve" and e.get("model") == model
                         and str(e.get("version")) == str(version)]
            if not moved:
                chains.append({"env": name, "model": model, "version": version, "steps": [], "promote_seq": None,
                               "note": "the champion was not set by a promote entry of this log (judged in place?)"})
                continue
            entry = moved[-1]
            details = entry.get("details") or {}
            pack = details.get("evidence") if isinstance(details.get("evidence"), dict) else None
            chains.append({"env": name, "model": model, "version": str(version), "promote_seq": entry.get("seq"),
                           "steps": _chain_steps(entry, pack, approvals[-1] if approvals else None,
                                                 {e.unity_catalog.catalog: e.name for e in envs}),
                           "evidence_sha256": details.get("evidence_sha256"), "evidence_href": None,
                           "note": None if pack else "this promotion recorded no evidence pack (recorded before "
                                                     "lakegate kept one): lineage beyond its source is not in the log"})
    return chains


def _chain_steps(entry: dict[str, Any], pack: dict[str, Any] | None, approval: dict[str, Any] | None,
                 envs_of: dict[str, str]) -> list[dict[str, Any]]:
    steps = []
    lineage = (pack or {}).get("lineage") or {}
    commit = lineage.get("git_commit") or entry.get("git_commit")
    steps.append({"kind": "commit", "title": "commit", "value": (commit or "unknown")[:12],
                  "detail": lineage.get("git_repository") or ""})
    if lineage.get("training_run"):
        steps.append({"kind": "run", "title": "training run", "value": str(lineage["training_run"])[:12], "detail": ""})
    versions = lineage.get("versions")
    if not versions:
        source = entry.get("source") or {}
        versions = [{"env": entry.get("env"), "model": entry.get("model"), "version": entry.get("version"), "role": "candidate"}]
        if source and (source.get("model"), str(source.get("version"))) != (entry.get("model"), str(entry.get("version"))):
            versions.insert(0, {"env": envs_of.get(str(source.get("model", "")).split(".")[0], "?"), "model": source.get("model"),
                                "version": source.get("version"), "role": "source"})
    for item in versions:
        steps.append({"kind": "version", "title": item.get("env") or "?", "value": f"v{item.get('version')}",
                      "detail": item.get("model") or ""})
    gates = entry.get("gates") or []
    passed = sum(1 for g in gates if isinstance(g, dict) and g.get("passed"))
    steps.append({"kind": "gates", "title": "gates", "value": f"{passed}/{len(gates)} passed", "detail": f"seq {entry.get('seq')}"})
    if approval is not None:
        details = approval.get("details") or {}
        steps.append({"kind": "approval", "title": "approval", "value": str(details.get("approved_by") or "?"),
                      "detail": f"{details.get('kind') or ''} seq {approval.get('seq')}".strip()})
    return steps
