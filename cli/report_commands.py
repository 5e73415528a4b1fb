"""`report access|diff|rules|history|site|evidence`: what auditors read.

Imports are inside the functions: cli/app.py registers this command's options on every run, and `synth` with
nothing to do must not pay for the model and the reports.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import exit_codes
from .registry_access import DEFAULT_STATE_DIR

DEFAULT_SITE_DIR = Path(DEFAULT_STATE_DIR) / "report"
DEFAULT_EVIDENCE_DIR = Path(DEFAULT_STATE_DIR) / "evidence"


def add_report_options(report) -> None:
    """The options of `report site` and `report evidence` (the parser of `report` lives in cli/app.py)."""
    report.add_argument("--out", metavar="DIR", help=f"site: output folder (default {DEFAULT_SITE_DIR}); evidence: "
                        f"output folder (default {DEFAULT_EVIDENCE_DIR}/<env>/<model>-v<N>)")
    report.add_argument("--env", metavar="ENV", help="evidence: the environment the version was promoted into")
    report.add_argument("--version", metavar="N", help="evidence: the version number in that environment")
    report.add_argument("--seq", metavar="SEQ", type=int, help="evidence: that promote entry (default: the version's "
                        "latest promote entry that recorded a pack)")
    report.add_argument("--verify", metavar="DIR", help="evidence: check a folder `report evidence` wrote against the "
                        "audit log in --state-dir (exit 8 when they do not match)")


def cmd_report(args) -> int:
    if args.kind == "evidence" and args.verify:
        return _verify_evidence(args)  # needs no definitions: the pack and the log say everything
    from .infra_commands import load_or_report

    envs = load_or_report(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    return {"access": _access, "diff": _diff, "rules": _rules, "history": _history, "site": _site,
            "evidence": _evidence}[args.kind](args, envs)


def _access(args, envs) -> int:
    from lakegate.infra.access import access_matrix

    from . import output

    matrix = access_matrix(envs)
    if args.json:
        output.emit_json(matrix)
        return exit_codes.OK
    rows = [[g["principal"], g["securable"], ", ".join(g["privileges"]), g["emitted_by"], g["origin"]] for g in matrix["grants"]]
    output.console.print(output.table("Access matrix (Unity Catalog grants)", ["principal", "on", "privileges", "stack", "origin"], rows))
    rows = [[b["catalog"], b["workspace_of"], b["mode"] + (" (pending: workspace.id not declared)" if b["pending"] else ""),
             b["origin"]] for b in matrix["bindings"]]
    output.console.print(output.table("Catalog bindings", ["catalog", "workspace of", "mode", "origin"], rows))
    rows = [[r["principal"], r["role"] + (" (constrained)" if r["condition"] else ""), r["scope"], r["purpose"], r["origin"]]
            for r in matrix["azure_roles"]]
    output.console.print(output.table("Azure role assignments of each deployer (account stack)",
                                      ["principal", "role", "scope", "purpose", "origin"], rows))
    rows = [[m["principal"], m["metastore"], ", ".join(m["privileges"]), m["granted_by"], m["origin"]]
            for m in matrix["metastore_privileges"]]
    output.console.print(output.table("Metastore privileges", ["principal", "metastore", "privileges", "granted by", "origin"], rows))
    rows = [[o["model"], o["owner"], o["origin"]] for o in matrix["model_owners"]]
    output.console.print(output.table("Registered model owners", ["model", "owner", "origin"], rows))
    print_model_policies(matrix["model_policies"])
    return exit_codes.OK


def print_model_policies(policies: list[dict]) -> None:
    """Each model's effective policy per environment: who approves, which gates judge, on what, and which YAML line
    (or default) decided each value."""
    from . import output

    shown = ("gates", "approval", "evaluation_table", "metrics", "endpoint", "drift_threshold")
    rows = []
    for policy in policies:
        for key in shown:
            entry = policy["values"][key]
            value = entry["value"]
            if key == "approval":
                value = (f"required by {', '.join(value['approvers']) or 'any enrolled person'}" if value["required"]
                         else "not required")
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            rows.append([policy["env"], policy["model"], key, "" if value is None else str(value), entry["origin"]])
    output.console.print(output.table("Model policies (effective, per environment)",
                                      ["env", "model", "what", "value", "decided by"], rows))


def _diff(args, envs) -> int:
    from lakegate.reports.diff import environment_diff

    from . import output

    if len(args.envs) != 2 or any(name not in envs for name in args.envs):
        from lakegate.infra.suggest import did_you_mean

        unknown = "".join(f"; unknown environment '{n}'{did_you_mean(n, envs.names)}" for n in args.envs if n not in envs)
        output.fail(f"report diff needs two of: {', '.join(envs.names)}{unknown}")
        return exit_codes.INVALID_REQUEST
    left, right = envs[args.envs[0]], envs[args.envs[1]]
    rows = environment_diff(left, right)
    if args.json:
        output.emit_json(rows)
    else:
        output.console.print(output.table(f"{left.name} vs {right.name}: {len(rows)} difference(s)", ["field", left.name, right.name],
                                          [[r["field"], r[left.name], r[right.name]] for r in rows]))
    return exit_codes.OK


def _rules(args, envs) -> int:
    from lakegate.infra.guardrails.runner import check_environments

    from . import output
    from .presenters import print_guardrails

    report = check_environments(envs)
    if args.json:
        output.emit_json({"ok": report.passed, "findings": [f.as_dict() for f in report.findings]})
    else:
        print_guardrails(report)
    return exit_codes.OK if report.passed else exit_codes.GUARDRAIL_VIOLATION


def _history(args, envs) -> int:
    from lakegate.promotion.audit import AuditLog, verify

    from . import output

    directory = Path(args.state_dir) / "audit"
    entries = [entry for env in envs for entry in AuditLog(directory, env.name).entries()]
    verified = verify(directory)
    if args.json:
        output.emit_json(entries)
        return exit_codes.OK if verified.ok else exit_codes.AUDIT_TAMPERED
    for problem in verified.problems:  # history from a broken chain is shown, but never silently
        output.fail(f"the audit log is not intact: {problem}")
    from lakegate.reports.history import approver_of

    rows = [[e.get("time", ""), e.get("env", ""), e.get("action", ""), e.get("model", ""), e.get("version", ""),
             approver_of(e) or "", e.get("actor", ""), (e.get("git_commit") or "")[:10],
             e.get("outcome") or e.get("details", {}).get("outcome", "")] for e in entries]
    output.console.print(output.table("Promotion history", ["time", "env", "action", "model", "version", "approver",
                                                            "actor", "commit", "outcome"], rows,
                                      caption="hash chain intact" if verified.ok else "HASH CHAIN BROKEN: see errors"))
    return exit_codes.OK if verified.ok else exit_codes.AUDIT_TAMPERED


# ------------------------------------------------------------------------------------------ the site


def _usable_folder(path: Path, what: str) -> str | None:
    """Why `path` cannot be used as an output (or input) folder, or None."""
    try:
        if path.exists() and not path.is_dir():
            return f"{what} {path} is a file, not a folder"
        for parent in path.absolute().parents:
            if parent.exists():
                return None if parent.is_dir() else f"{what} {path} is inside a file, not a folder"
    except OSError as error:
        return f"{what} {path} cannot be used ({error.strerror or type(error).__name__})"
    return None


# What marks a folder as one `report site` / `report evidence` wrote (its data file and that file's version key):
# only such a folder, an empty one or a new one is written into, so `--out .` or `--out environments` is refused
# before anything is written, and nothing is ever deleted.
REPORT_MARKERS = {"site": ("site.json", "lakegate_report"), "evidence": ("evidence.json", "lakegate_evidence_file")}


def _not_a_report_folder(path: Path, kind: str) -> str | None:
    """Why `path` (an existing folder) must not be written into, or None (absent, empty, or a previous report)."""
    name, key = REPORT_MARKERS[kind]
    try:
        if not path.is_dir() or not any(path.iterdir()):
            return None
        data = json.loads((path / name).read_text(encoding="utf-8"))
        if isinstance(data, dict) and key in data:
            return None
    except (OSError, ValueError):
        pass
    return (f"--out {path} is a folder with other content, not a previous `report {kind}` output (no {name} of "
            f"lakegate's in it): choose a new or empty folder; nothing was written")


def _private_default(path: Path) -> Path:
    """The default folders live in `.lakegate/` (ignored by git), created private like the state folder: the
    report names people and principals, as the audit logs do."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True)
    except OSError:
        pass  # reported by the caller's folder check or write
    return path


def _site(args, envs) -> int:
    """The static report (index.html + site.json + evidence packs). Exit 8 when an audit log is broken (the site is
    still written, and says so at the top); guardrail violations are shown, not an exit code (that is `report rules`)."""
    from lakegate.reports.site import build_site, write_site

    from . import output

    out = Path(args.out) if args.out else _private_default(DEFAULT_SITE_DIR)
    problem = (_usable_folder(out, "--out") or _not_a_report_folder(out, "site")
               or _usable_folder(Path(args.state_dir), "--state-dir"))
    if problem:
        output.fail(problem)
        return exit_codes.INVALID_REQUEST
    document, evidence = build_site(envs, environments_dir=args.environments, state_dir=args.state_dir)
    try:
        written = write_site(document, evidence, out)
    except OSError as error:
        output.fail(f"cannot write the report into {out}: {error.strerror or error}")
        return exit_codes.INVALID_REQUEST
    verification = document["history"]["verification"]
    code = exit_codes.OK if verification["ok"] else exit_codes.AUDIT_TAMPERED
    if args.json:
        output.emit_json({"ok": code == exit_codes.OK, "out": str(out), "index": str(out / "index.html"),
                          "data": str(out / "site.json"), "files": len(written), "evidence_packs": len(evidence),
                          "audit": verification, "guardrails_passed": document["guardrails"]["passed"]})
        return code
    for problem in verification["problems"]:
        output.fail(f"the audit log is not intact: {problem['file']}:{problem['line']}: {problem['problem']} "
                    "(the report shows it at the top)")
    entries = sum(verification["checked"].values())
    output.console.print(f"wrote {out / 'index.html'} (and site.json beside it): {len(document['environments'])} environments, "
                         f"{len(document['access']['grants'])} grants, {len(document['guardrails']['findings'])} guardrail "
                         f"finding(s), {entries} verified audit entr{'y' if entries == 1 else 'ies'}, {len(evidence)} evidence pack(s)")
    if not document["history"]["present"]:
        output.console.print(f"no audit logs in {document['source']['audit_dir']} (the demo keeps its own: "
                             "--state-dir .lakegate/demo)")
    return code


# -------------------------------------------------------------------------------------- the evidence


def _evidence(args, envs) -> int:
    from lakegate.promotion.audit import AuditLog
    from lakegate.promotion.errors import InvalidRequest
    from lakegate.promotion.naming import environment, full_name_in
    from lakegate.promotion.validation import check_version
    from lakegate.reports.evidence import EvidenceError, default_dir, evidence_document, write_evidence

    from . import output

    try:
        if len(args.envs) != 1 or not args.env or not args.version:
            raise InvalidRequest("report evidence needs MODEL --env ENV --version N (or --verify DIR)")
        env = environment(envs, args.env)
        model = full_name_in(env, args.envs[0])
        version = check_version(args.version)
        problem = _usable_folder(Path(args.state_dir), "--state-dir") or (
            _usable_folder(Path(args.out), "--out") if args.out else None)
        if problem:
            raise InvalidRequest(problem)
        log = AuditLog(Path(args.state_dir) / "audit", env.name)
        document = evidence_document(log, model, version, seq=args.seq)
    except (InvalidRequest, EvidenceError) as error:
        output.fail(str(error))
        return exit_codes.INVALID_REQUEST
    out = Path(args.out) if args.out else default_dir(_private_default(DEFAULT_EVIDENCE_DIR), document)
    problem = _not_a_report_folder(out, "evidence")
    if problem:
        output.fail(problem)
        return exit_codes.INVALID_REQUEST
    try:
        write_evidence(document, out)
    except OSError as error:
        output.fail(f"cannot write the evidence pack into {out}: {error.strerror or error}")
        return exit_codes.INVALID_REQUEST
    verification = document["verification"]
    code = exit_codes.OK if verification["ok"] else exit_codes.AUDIT_TAMPERED
    if args.json:
        output.emit_json({"ok": verification["ok"], "out": str(out), "evidence_sha256": document["evidence_sha256"],
                          "audit_entry": document["audit_entry"], "verification": verification})
        return code
    for check in verification["checks"]:
        (output.console.print if check["ok"] else output.fail)(("ok: " if check["ok"] else "") + check["message"])
    output.console.print(f"wrote {out / 'evidence.html'} and evidence.json (promote entry seq "
                         f"{document['audit_entry']['seq']} of {document['audit_entry']['file']})")
    output.console.print("not checked here: " + "; ".join(verification["not_checked"]))
    return code


def _verify_evidence(args) -> int:
    from lakegate.reports.evidence import EvidenceError, verify_dir

    from . import output

    try:
        result = verify_dir(Path(args.verify), Path(args.state_dir) / "audit")
    except EvidenceError as error:
        output.fail(str(error))
        return exit_codes.INVALID_REQUEST
    code = exit_codes.OK if result.ok else exit_codes.AUDIT_TAMPERED
    if args.json:
        output.emit_json(result.as_dict())
        return code
    for check in result.checks:
        (output.console.print if check["ok"] else output.fail)(("ok: " if check["ok"] else "") + check["message"])
    if result.changed_fields:
        output.fail("fields of the pack that differ from the audit entry's: " + ", ".join(result.changed_fields[:20])
                    + (" …" if len(result.changed_fields) > 20 else ""))
    output.console.print(("the evidence matches the audit log" if result.ok else "THE EVIDENCE DOES NOT MATCH THE AUDIT LOG")
                         + "; not checked here: " + "; ".join(result.as_dict()["not_checked"]))
    return code
