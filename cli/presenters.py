"""Presenters: how each command's results look to people (rich tables and lines on stdout). The --json twin
of each is the result's own as_dict(); errors go through cli/failures.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import output

if TYPE_CHECKING:
    from lakegate.infra.guardrails.runner import GuardrailReport

DOCTOR_STATUSES = ("passed", "failed", "warning", "skipped")


def guardrail_rows(report: GuardrailReport) -> list[list]:
    return [[f.env, f.tag, f.status, f.info + (f" — waived: {f.waiver.reason}" if f.waiver else ""), f.location]
            for f in report.findings]


def print_guardrails(report: GuardrailReport) -> None:
    summary = (f"{report.rules_run} rules: {len(report.violations)} violation(s), "
               f"{len(report.waived)} waived, {len(report.warnings)} warning(s)")
    if report.findings:
        output.console.print(output.table("Guardrails", ["env", "finding", "status", "info", "where"],
                                          guardrail_rows(report), caption=summary))
    else:
        output.console.print(f"Guardrails: {summary}")


def print_promotion(result) -> None:
    rows = [[g.gate_id, "passed" if g.passed else "FAILED", g.message] for g in result.gates]
    title = (f"{result.source_model} v{result.source_version} -> {result.model} v{result.version}: {result.outcome}"
             f"{' (reused earlier copy)' if result.reused else ''}, {result.seconds:.2f} s")
    output.console.print(output.table(title, ["gate", "result", "details"], rows))
    hold = getattr(result, "rolled_back", None)
    if hold:
        output.console.print(f"note: {result.model} v{hold['version']} was rolled back at {hold['at']} by {hold['by']} "
                             f"(audit seq {hold['seq']}); promoted again with --allow-rolled-back", soft_wrap=True,
                             markup=False)


def status_table(data):
    rows = []
    for env in data["environments"]:
        if env["error"]:
            rows.append([env["env"], "-", "-", "-", "-", "-", env["error"]["message"]])
        for model in env["models"]:
            lineage = model.get("lineage") or {}
            gates = model.get("last_gates") or {}
            rows.append([env["env"], model["model"], model["champion"] or "-", model["challenger"] or "-",
                         len(model["versions"]), (lineage.get("git_commit") or "")[:10] + " " + (lineage.get("promoted_from") or ""),
                         gates_summary(gates)])
    return output.table("Models", ["env", "model", "champion", "challenger", "versions", "lineage", "last gates"], rows)


def gates_summary(gates: dict) -> str:
    if not gates:
        return "-"
    results = gates.get("results") or []
    failed = [r["gate_id"] for r in results if not r.get("passed")]
    head = f"v{gates.get('version')}: " if gates.get("version") else ""
    return head + (f"failed {', '.join(failed)}" if failed else f"{len(results)} passed")


def print_doctor(env_name: str, caller, results) -> None:
    table = output.table(f"doctor {env_name}: as {caller.strategy}, object id {caller.object_id}",
                         ["id", "check", "status", "detail"], [[r.id, r.title, r.status, r.detail] for r in results])
    for column in table.columns:     # scopes and URLs are long words: fold them, never crop them
        column.overflow = "fold"
    output.console.print(table)
    # Fixes below the table, unwrapped, so that each command can be copied as one line.
    for r in results:
        if r.fix:
            output.console.print(f"{r.id} ({r.status}) fix:", soft_wrap=True)
            for line in r.fix.splitlines():
                output.console.print(f"  {line}", soft_wrap=True, markup=False)
    counts = ", ".join(f"{sum(r.status == s for r in results)} {'warning(s)' if s == 'warning' else s}"
                       for s in DOCTOR_STATUSES)
    output.console.print(f"doctor {env_name}: {counts}", soft_wrap=True)


_MARKS = {"ran": "[green]ok[/green]", "expected": "[green]ok[/green]", "failed": "[red]FAILED[/red]",
          "skipped": "[yellow]skipped[/yellow]", "note": "[dim]note[/dim]", "listed": "[blue]would run[/blue]"}


def print_ci_step(step) -> None:
    mark = _MARKS[step.status]
    name = output.escape(step.name)
    if step.status == "note":
        output.console.print(f"  {mark} {output.escape(step.reason)}")
        return
    line = f"  {mark} {name}"
    if step.seconds:
        line += f" ({step.seconds:.1f} s)"
    if step.reason:
        line += f": {output.escape(step.reason)}"
    if step.ci_command and (step.status == "skipped" or step.reason.startswith("local equivalent")):
        line += f"\n      in CI: {output.escape(step.ci_command)}"
    if step.status == "listed" and step.command:
        line += f"\n      here:  {output.escape(' '.join(step.command))}"
    output.console.print(line)


def print_task(run, task) -> None:
    detail = task.reason if task.status != "succeeded" else (
        f"outcome {task.outcome}" if task.outcome else ", ".join(f"{k}={v}" for k, v in task.values.items()))
    mark = {"succeeded": "[green]ok[/green]", "failed": "[red]failed[/red]", "excluded": "[yellow]excluded[/yellow]"}
    output.console.print(f"{run.env}-{run.job} / {task.key}: {mark.get(task.status, task.status)} "
                         f"({task.seconds:.2f} s){' — ' + output.escape(detail) if detail else ''}")


def task_rows(run, prefix: str = "") -> list[list]:
    rows = []
    for task in run.tasks:
        values = f"outcome {task.outcome}" if task.outcome else ", ".join(f"{k}={v}" for k, v in task.values.items())
        rows.append([prefix + task.key, task.kind, task.status if task.status != "excluded" else f"excluded ({task.reason})",
                     f"{task.seconds:.2f}", values])
        if task.job_run is not None:
            rows += task_rows(task.job_run, prefix + f"{task.key} > {task.job_run.job} / ")
    return rows
