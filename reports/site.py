"""`report site`: the auditor's view, one static folder: `index.html` rendered from `site.json`, beside it.

    build_site(envs, environments_dir=..., state_dir=...)  -> (document, evidence documents)
    render_site(document)                                   -> the HTML, from the document alone
    write_site(document, evidence, out)                     -> index.html, site.json, evidence/<env>/<model>-v<N>-seq<S>/

The document is the data (JSON); the page is a view of it: `index.html` embeds the very document it was rendered
from, its tables are rendered from it by Jinja2 (reports/templates/site.html.j2), and the interactive parts (filters,
paging, a diff of any two environments) read the embedded copy. Nothing here derives access, differences or
guardrail results anew: they come from infra/access.py (`access_matrix`), reports/diff.py,
infra/guardrails and the audit logs (reports/history.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from lakegate.infra.access import derive_promotion_grants
from lakegate.infra.guardrails.packs import DEFAULT
from lakegate.infra.guardrails.runner import META_RULES, check_environments
from lakegate.infra.model import Environment, Environments
from lakegate.promotion.audit import canonical

from lakegate.infra.access import access_matrix
from .diff import _flatten, environment_diff
from .history import audit_history, production_chains

REPORT_VERSION = 1
from lakegate.project import project_root
STATUS_ORDER = ("violation", "warning", "waived", "pass", "n/a")


def build_site(envs: Environments, *, environments_dir: str | Path, state_dir: str | Path,
               today: date | None = None, now: datetime | None = None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the site document, {relative folder: evidence document} for every promotion that recorded a pack)."""
    today = today or date.today()
    now = now or datetime.now(timezone.utc)
    audit_dir = Path(state_dir) / "audit"
    history = audit_history(envs, audit_dir)
    chains = production_chains(envs, history, audit_dir)
    evidence = _evidence_documents(envs, history, audit_dir, chains)
    environments = [_environment(env) for env in envs]
    paths = promotion_paths(envs)
    champions = {(e["env"], m["model"]): m.get("champion") for e in history["environments"] for m in e["models"]}
    document = {
        "lakegate_report": REPORT_VERSION,
        "generated_at": now.isoformat(timespec="seconds"),
        "today": today.isoformat(),
        "source": {"environments_dir": str(environments_dir), "state_dir": str(state_dir), "audit_dir": str(audit_dir),
                   "git_commit": _git_commit()},
        "environments": environments,
        "promotion_paths": paths,
        "overview": overview(envs, paths, champions),
        "access": _access(envs),
        "diff": _diff(envs, paths),
        "guardrails": guardrails(envs, today),
        "history": {**history, "production_chains": chains},
        "evidence": [{"href": f"{folder}/evidence.html", "env": doc["pack"]["env"], "model": doc["pack"]["model"],
                      "version": doc["pack"]["version"], "seq": doc["audit_entry"]["seq"],
                      "evidence_sha256": doc["evidence_sha256"], "verified": doc["verification"]["ok"]}
                     for folder, doc in evidence.items()],
    }
    return json.loads(canonical(document)), evidence


# ------------------------------------------------------------------------------------------ sections


def _definition_sha256(env: Environment) -> str:
    return hashlib.sha256(canonical(env.model_dump(mode="json", by_alias=True))).hexdigest()


def _environment(env: Environment) -> dict[str, Any]:
    from lakegate.promotion.gates import gates_for

    return {
        "name": env.name, "description": env.description, "owner": env.owner, "production": env.production,
        "file": env.locate(), "definition_sha256": _definition_sha256(env),
        "principal": env.service_principal, "catalog": env.unity_catalog.catalog,
        "models": [env.unity_catalog.model_full_name(m) for m in env.models],
        "workspace": env.workspace.name, "workspace_id": env.workspace.id, "location": env.azure.location,
        "promotion_from": env.promotion.from_env,
        "promotion_from_at": env.locate("promotion", "from") if env.promotion.from_env else None,
        # Each model's own gates (its list, else the environment's), and where that list was decided.
        "gates": [{"gate_id": f"{name}: {g.gate_id}", "type": g.type, "model": name,
                   "defined_at": env.policy(name).origins["gates"] if g in env.policy(name).gates else
                   f"derived: approval required ({env.policy(name).origins['approval']})"}
                  for name in env.models for g in gates_for(env, name)],
        "policies": [env.policy(name).as_dict() for name in env.models],
        "approval_required": any(env.policy(name).approval.required for name in env.models)
        or env.promotion.approval.required,
        "approver_groups": list(env.promotion.approval.approvers),
        "signers": [s.identity for s in env.promotion.approval.signers],
    }


def promotion_paths(envs: Environments) -> list[dict[str, Any]]:
    from lakegate.promotion.gates import gates_for

    paths = []
    for target in envs:
        source = target.promotion.from_env
        if source is None or source not in envs:
            continue
        reads = [{"securable": str(g.securable), "privileges": list(g.privileges)} for g in derive_promotion_grants(target, envs)]
        paths.append({"from": source, "to": target.name, "principal": target.service_principal, "reads": reads,
                      "gates": sorted({g.gate_id for name in target.models for g in gates_for(target, name)}),
                      "approval_required": target.promotion.approval.required,
                      "defined_at": target.locate("promotion", "from")})
    return paths


# Overview geometry (px): one column per promotion depth, one row per branch of the promotion tree.
NODE_W, COL_GAP, ROW_GAP, MARGIN, LINE = 260, 190, 36, 24, 17
COMPACT_ABOVE = 9


def overview(envs: Environments, paths: list[dict[str, Any]], champions: dict) -> dict[str, Any]:
    """Nodes (one per environment) and edges (one per promotion path), laid out: the picture is data too."""
    children: dict[str, list[str]] = {}
    for path in paths:
        children.setdefault(path["from"], []).append(path["to"])

    def depth(name: str, seen: frozenset = frozenset()) -> int:
        source = envs[name].promotion.from_env
        if source is None or source not in envs or source in seen:
            return 0
        return depth(source, seen | {name}) + 1

    rows: dict[str, int] = {}
    next_row = [0]

    def place(name: str, row: int) -> None:
        if name in rows:
            return
        rows[name] = row
        for index, child in enumerate(children.get(name, [])):
            if index:
                next_row[0] += 1
            place(child, row if index == 0 else next_row[0])

    for env in envs:
        if env.name not in rows and depth(env.name) == 0:
            place(env.name, next_row[0])
            next_row[0] += 1
    for env in envs:  # cycles (refused by the loader) or anything unplaced: one row each
        if env.name not in rows:
            rows[env.name] = next_row[0]
            next_row[0] += 1

    lines = {}
    compact = len(envs) > COMPACT_ABOVE  # large definitions: one line of gates per node (the list is in the tables)
    for env in envs:
        from lakegate.promotion.gates import gates_for

        models = [env.unity_catalog.model_full_name(m) for m in env.models]
        body = [("principal", env.service_principal), ("catalog", f"{env.unity_catalog.catalog} · {env.workspace.name}")]
        gates = [g for name in env.models for g in gates_for(env, name)]
        if env.promotion.from_env and compact:
            approval = " incl. a person's signed approval" if env.promotion.approval.required else ""
            body.append(("gate", f"{len(gates)} gates{approval}"))
        elif env.promotion.from_env:
            body += [("gate", f"{name}: {len(gates_for(env, name))} gates" + (
                " incl. a signed approval" if env.policy(name).approval.required else "")) for name in env.models]
        else:
            body.append(("note", "models are trained here; no gates"))
        for model in models:
            champion = champions.get((env.name, model))
            if champion or env.promotion.from_env:
                body.append(("champion", f"{model.split('.')[-1]}: champion {'v' + str(champion) if champion else 'none yet'}"))
        lines[env.name] = body
    heights = {name: 44 + LINE * len(body) + 8 for name, body in lines.items()}
    row_count = max(rows.values(), default=-1) + 1
    row_height = [max((heights[n] for n, r in rows.items() if r == row), default=0) for row in range(row_count)]
    row_top = [MARGIN + sum(row_height[:row]) + ROW_GAP * row for row in range(row_count)]
    nodes = []
    for env in envs:
        x = MARGIN + depth(env.name) * (NODE_W + COL_GAP)
        y = row_top[rows[env.name]]
        nodes.append({"env": env.name, "x": x, "y": y, "w": NODE_W, "h": heights[env.name], "production": env.production,
                      "approval_required": env.promotion.approval.required, "root": not env.promotion.from_env,
                      "lines": [{"kind": kind, "text": text, "y": y + 44 + LINE * i + 12} for i, (kind, text) in enumerate(lines[env.name])]})
    by_env = {n["env"]: n for n in nodes}
    edges = []
    for path in paths:
        a, b = by_env[path["from"]], by_env[path["to"]]
        x1, y1, x2, y2 = a["x"] + a["w"], a["y"] + 30, b["x"], b["y"] + 30
        bend = max(40, (x2 - x1) / 2)
        reads = ", ".join(r["securable"].split(" ", 1)[-1] for r in path["reads"][-1:])
        edges.append({"from": path["from"], "to": path["to"], "principal": path["principal"],
                      "d": f"M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, {x2 - 1} {y2}",
                      "label_x": (x1 + x2) / 2, "label_y": (y1 + y2) / 2 - 8,
                      "label": f"pulled by {path['principal']}", "sublabel": f"reads {reads}" if reads else "",
                      "gates": len(path["gates"])})
    depth_max = max((depth(env.name) for env in envs), default=0)
    width = 2 * MARGIN + (depth_max + 1) * NODE_W + depth_max * COL_GAP
    height = (row_top[-1] + row_height[-1] + MARGIN) if row_count else 2 * MARGIN
    return {"width": width, "height": height, "nodes": nodes, "edges": edges, "compact": compact}


PRIVILEGE_ORDER = ("BROWSE", "USE_CATALOG", "USE_SCHEMA", "SELECT", "EXECUTE", "READ_VOLUME", "MODIFY", "WRITE_VOLUME",
                   "CREATE_TABLE", "CREATE_MODEL", "CREATE_FUNCTION", "CREATE_VOLUME", "CREATE_SCHEMA", "APPLY_TAG",
                   "ALL_PRIVILEGES", "MANAGE")


def _access(envs: Environments) -> dict[str, Any]:
    matrix = access_matrix(envs)
    seen = {p for g in matrix["grants"] for p in g["privileges"]}
    columns = [p for p in PRIVILEGE_ORDER if p in seen] + sorted(seen - set(PRIVILEGE_ORDER))
    for number, grant in enumerate(matrix["grants"], start=1):
        grant["id"] = f"g{number}"
        grant["env"] = grant["emitted_by"].removesuffix("-databricks")
        grant["kind"] = "derived" if grant["derived"] else "declared"
    for role in matrix["azure_roles"]:
        role["env"] = role["scope_env"]
    for env, privilege in zip(envs, matrix["metastore_privileges"]):
        privilege["env"] = env.name
    for owner in matrix["model_owners"]:
        found = envs.by_catalog(owner["model"].split(".", 1)[0])
        owner["env"] = found.name if found else None
    return {**matrix, "privilege_columns": columns,
            "principals": sorted({g["principal"] for g in matrix["grants"]} | {r["principal"] for r in matrix["azure_roles"]})}


def _diff(envs: Environments, paths: list[dict[str, Any]]) -> dict[str, Any]:
    flat = {env.name: _flatten(env.model_dump(mode="json", by_alias=True)) for env in envs}
    pairs = [{"left": p["from"], "right": p["to"], "rows": environment_diff(envs[p["from"]], envs[p["to"]])} for p in paths]
    production = [p for p in pairs if envs[p["right"]].production]
    default = (production or pairs or [{"left": envs.names[0], "right": envs.names[-1]}])[-1] if len(envs) else None
    if default is not None and "rows" not in default:
        default = {**default, "rows": environment_diff(envs[default["left"]], envs[default["right"]])}
    return {"flat": flat, "pairs": pairs, "default": default, "absent": "<absent>"}


def guardrails(envs: Environments, today: date) -> dict[str, Any]:
    report = check_environments(envs, today=today)
    rules = [{"id": r.id, "level": r.level, "info": r.info, "production_only": r.production_only} for r in DEFAULT]
    rules += [{"id": rule_id, "level": level, "info": info, "production_only": False}
              for rule_id, (level, info, _why) in sorted(META_RULES.items())]
    findings = []
    for number, finding in enumerate(report.findings, start=1):
        data = finding.as_dict()
        data["id"] = f"f{number}"
        data["tag"] = finding.tag
        waiver = data.setdefault("waiver", None)
        if waiver is not None:
            data["waiver"] = {**waiver, **_expiry(waiver.get("expires"), today),
                              "location": _waiver_location(envs[finding.env], finding.waiver)}
        findings.append(data)
    grid: dict[str, dict[str, dict[str, Any]]] = {}
    for env in envs:
        row = {}
        for rule in rules:
            hits = [f for f in findings if f["environment"] == env.name and f["rule"] == rule["id"]]
            if hits:
                status = min((f["status"] for f in hits), key=STATUS_ORDER.index)
            else:
                status = "n/a" if rule["production_only"] and not env.production else "pass"
            row[rule["id"]] = {"status": status, "count": len(hits)}
        grid[env.name] = row
    waivers = []
    for env in envs:
        for index, waiver in enumerate(env.waivers):
            covers = [f["tag"] for f in findings if f["environment"] == env.name and f.get("waiver")
                      and f["waiver"]["location"] == env.locate("waivers", index)]
            meta = [f for f in findings if f["environment"] == env.name and f["location"] == env.locate("waivers", index)]
            state = ("expired" if any(f["rule"] == "LG-WAIVER-001" for f in meta) else
                     "unknown rule" if any(f["rule"] == "LG-WAIVER-002" and f["level"] == "error" for f in meta) else
                     "unused" if not covers else "in force")
            waivers.append({"env": env.name, **waiver.model_dump(mode="json"), **_expiry(
                waiver.expires.isoformat() if waiver.expires else None, today), "location": env.locate("waivers", index),
                "covers": covers, "state": state})
    summary = {env.name: {status: sum(1 for cell in grid[env.name].values() if cell["status"] == status)
                          for status in STATUS_ORDER} for env in envs}
    return {"passed": report.passed, "rules_run": report.rules_run, "today": today.isoformat(), "rules": rules,
            "findings": findings, "grid": grid, "summary": summary, "waivers": waivers,
            "counts": {"violations": len(report.violations), "warnings": len(report.warnings), "waived": len(report.waived)}}


def _waiver_location(env: Environment, waiver) -> str | None:
    for index, candidate in enumerate(env.waivers):
        if candidate is waiver:
            return env.locate("waivers", index)
    return None


def _expiry(expires: str | None, today: date) -> dict[str, Any]:
    if not expires:
        return {"days_left": None, "expiry_text": "no expiry"}
    days = (date.fromisoformat(expires) - today).days
    text = f"expired {-days} day(s) ago" if days < 0 else "expires today" if days == 0 else f"in {days} day(s)"
    return {"days_left": days, "expiry_text": text}


def _evidence_documents(envs: Environments, history: dict[str, Any], audit_dir: Path,
                        chains: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from lakegate.promotion.audit import AuditLog

    from .evidence import EvidenceError, evidence_document

    documents: dict[str, dict[str, Any]] = {}
    hrefs: dict[tuple[str, Any], str] = {}
    for env_entry in history["environments"]:
        log = AuditLog(audit_dir, env_entry["env"])
        for group in env_entry["models"]:
            for row in group["entries"]:
                if row.get("action") != "promote" or not row.get("evidence_sha256"):
                    continue
                try:
                    document = evidence_document(log, row["model"], str(row["version"]), seq=row["seq"])
                except EvidenceError:
                    continue
                folder = f"evidence/{_safe(env_entry['env'])}/{_safe(str(row['model']).split('.')[-1])}-v{_safe(str(row['version']))}-seq{int(row['seq'])}"
                documents[folder] = document
                row["evidence_href"] = f"{folder}/evidence.html"
                hrefs[(env_entry["env"], row["seq"])] = row["evidence_href"]
    for chain in chains:
        chain["evidence_href"] = hrefs.get((chain["env"], chain.get("promote_seq")))
    return documents


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".") or "_"


def _git_commit() -> str | None:
    try:
        found = subprocess.run(["git", "-C", str(project_root()), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                               env={k: v for k, v in os.environ.items() if k in ("PATH", "HOME")})
        return found.stdout.strip() or None if found.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


# --------------------------------------------------------------------------------------- rendering


def render_site(document: dict[str, Any]) -> str:
    """The page, from the document alone (the document is embedded in it, as the data its script reads)."""
    from .render import render

    return render("site.html.j2", document, script="report.js")


def write_site(document: dict[str, Any], evidence: dict[str, dict[str, Any]], out: str | Path) -> list[Path]:
    """index.html and site.json into `out` (created), and each evidence pack under out/evidence/. Other files in
    `out` are left alone; each file is replaced whole (written aside, then renamed)."""
    from .evidence import folder_under, write_atomic, write_evidence

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_atomic(out / "site.json", json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"),
               write_atomic(out / "index.html", render_site(document))]
    for folder, pack in evidence.items():
        written += write_evidence(pack, folder_under(out, folder))
    return written
