"""`report access|diff|rules|history`: what auditors read."""

from __future__ import annotations

from pathlib import Path

from infra.guardrails.runner import check_environments
from reports.access import access_matrix
from reports.diff import environment_diff

from . import exit_codes, output
from .infra_commands import load_or_report, print_guardrails


def cmd_report(args) -> int:
    envs = load_or_report(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    return {"access": _access, "diff": _diff, "rules": _rules, "history": _history}[args.kind](args, envs)


def _access(args, envs) -> int:
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
    return exit_codes.OK


def _diff(args, envs) -> int:
    if len(args.envs) != 2 or any(name not in envs for name in args.envs):
        output.fail(f"report diff needs two of: {', '.join(envs.names)}")
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
    report = check_environments(envs)
    if args.json:
        output.emit_json({"ok": report.passed, "findings": [f.as_dict() for f in report.findings]})
    else:
        print_guardrails(report)
    return exit_codes.OK if report.passed else exit_codes.GUARDRAIL_VIOLATION


def _history(args, envs) -> int:
    from promotion.audit import AuditLog, verify

    directory = Path(args.state_dir) / "audit"
    entries = [entry for env in envs for entry in AuditLog(directory, env.name).entries()]
    verified = verify(directory)
    if args.json:
        output.emit_json(entries)
        return exit_codes.OK if verified.ok else exit_codes.AUDIT_TAMPERED
    for problem in verified.problems:  # history from a broken chain is shown, but never silently
        output.fail(f"the audit log is not intact: {problem}")
    rows = [[e.get("time", ""), e.get("env", ""), e.get("action", ""), e.get("model", ""), e.get("version", ""),
             e.get("actor", ""), (e.get("git_commit") or "")[:10], e.get("outcome") or e.get("details", {}).get("outcome", "")]
            for e in entries]
    output.console.print(output.table("Promotion history", ["time", "env", "action", "model", "version", "actor", "commit", "outcome"], rows,
                                      caption="hash chain intact" if verified.ok else "HASH CHAIN BROKEN: see errors"))
    return exit_codes.OK if verified.ok else exit_codes.AUDIT_TAMPERED
