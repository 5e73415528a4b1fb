"""`ci`: render the CI pipelines from environments/*.yaml, check them, simulate them locally, and the
promotion step of an environment that needs an approval (`ci promote`, what the generated jobs run)."""

from __future__ import annotations

import os
from pathlib import Path

from . import exit_codes, output
from .presenters import print_ci_step, print_promotion
from .registry_access import adapter_factory, audit_dir, serving_hook, state_dir_option, with_environments

PLATFORM_CHOICES = ("github", "azure-devops", "all")


def add_ci_commands(commands, common) -> None:
    ci = commands.add_parser("ci", help="CI/CD pipelines generated from the environments: render, check, simulate")
    actions = ci.add_subparsers(dest="ci_action", metavar="ACTION")
    actions.required = True

    render = actions.add_parser("render", help="write .github/workflows/*.yml and azure-pipelines.yml (or --check them)")
    common(render, json_flag=False)
    render.add_argument("--platform", choices=PLATFORM_CHOICES, default="all",
                        help="github (.github/workflows/), azure-devops (azure-pipelines.yml) or all (default)")
    render.add_argument("--check", action="store_true",
                        help="write nothing; exit 10 if a committed pipeline file differs from what render would write")
    render.add_argument("--root", default=".", metavar="DIR",
                        help="repository folder the files are written to or checked in (default: the current one)")
    render.set_defaults(handler=cmd_render)

    simulate = actions.add_parser("simulate", help="run the steps CI runs for an event, in order, on the local registry")
    common(simulate)
    simulate.add_argument("--event", required=True, choices=["pull_request", "push", "release"],
                          help="what starts CI: pull_request (checks, smoke training), push (merge: deploys up to "
                               "staging), release (production, after the approval)")
    simulate.add_argument("--platform", choices=["github", "azure-devops"], default="github",
                          help="whose plan to walk (they differ only in which environments each deploys); default github")
    simulate.add_argument("--skip", action="append", default=[], metavar="STEP",
                          help="do not run this step (shown as skipped), e.g. --skip tests; repeatable")
    simulate.add_argument("--list", action="store_true", help="only list the steps and what would run; run nothing")
    simulate.add_argument("--keep", action="store_true",
                          help="keep the run's temp folder (local registry state, synth output); removed otherwise")
    simulate.set_defaults(handler=cmd_simulate)

    audit = actions.add_parser("audit", help="fetch (pull) or store back (push) an environment's audit log in its "
                                             "state container, around a CI job's promotions")
    common(audit)
    audit.add_argument("direction", choices=["pull", "push"], help="pull before promoting, push after (also after a "
                                                                    "refusal: refusals are entries too)")
    audit.add_argument("--env", required=True, metavar="ENV", help="the environment whose log it is (its credentials "
                                                                    "are used)")
    state_dir_option(audit, "the log is in its audit/")
    audit.set_defaults(handler=cmd_audit)

    outputs = actions.add_parser("plan-outputs", help="exit 12 when a saved Terraform plan changes the stack's outputs "
                                                     "(the deploy job's check between two stacks' applies)")
    common(outputs, json_flag=False)
    outputs.add_argument("--stack", required=True, metavar="DIR", help="the stack folder holding the saved plan")
    outputs.add_argument("--plan", default="tfplan", metavar="FILE", help="the saved plan in it (default tfplan)")
    outputs.add_argument("--reader", required=True, metavar="STACK",
                         help="the stack planned against these outputs (named in the message)")
    outputs.set_defaults(handler=cmd_plan_outputs)

    promote = actions.add_parser("promote", help="promote into an environment that needs an approval: gates, then the "
                                                 "approval this CI run was given (approve --ci), then promote again")
    common(promote)
    promote.add_argument("model", help="model name (churn) or full name")
    promote.add_argument("--to", required=True, metavar="ENV", help="the target environment")
    promote.add_argument("--approval", required=True, choices=["github", "azure-devops"],
                         help="the CI platform whose environment approval of this run is recorded (through its API)")
    promote.add_argument("--registry", choices=["local", "databricks"], default="local",
                         help="local embedded registry (default) or Databricks Unity Catalog")
    state_dir_option(promote)
    promote.set_defaults(handler=cmd_promote, command="ci")


def _load(args):
    from .infra_commands import load_or_report

    return load_or_report(args)


def _platforms(choice: str) -> tuple[str, ...]:
    return ("github", "azure-devops") if choice == "all" else (choice,)


def guardrails_pass(envs, json_output: bool = False) -> bool:
    from lakegate.infra.guardrails.runner import check_environments

    from .infra_commands import refuse

    report = check_environments(envs)
    if report.passed:
        return True
    if json_output:
        output.emit_json({"ok": False, "error": "guardrail_violation",
                          "findings": [f.as_dict() for f in report.violations]})
    refuse(report)
    return False


def environments_argument(environments: str | Path, root: Path) -> str:
    """The definitions folder as the generated commands name it: relative to the repository (default: environments)."""
    return os.path.relpath(Path(environments).resolve(), Path(root).resolve())


def _refusals(args, envs, platforms, environments: str) -> int | None:
    """The exit code when the pipelines must not be written: an environments folder that is not a plain
    relative path (it reaches `run:` lines), or what ci/guard.py finds in the output."""
    from lakegate.ci.guard import ActionlintMissing, definition_line
    from lakegate.ci.render import findings
    from lakegate.infra.model.ci_values import check_relative_folder

    try:
        check_relative_folder(environments)
    except ValueError as exc:
        output.fail(f"--environments {args.environments}: the generated steps name it as {exc}; keep the "
                    "definitions in a plainly named folder inside --root")
        return exit_codes.USAGE
    try:
        found = findings(envs, platforms, environments)
    except ActionlintMissing as exc:
        output.fail(str(exc))
        return exit_codes.INVALID_REQUEST
    for finding in found:
        output.fail(f"{definition_line(Path(args.environments), finding)}: renders as code in "
                    f"{finding.file}:{finding.line}: {finding.message}")
    if found:
        output.fail(f"{len(found)} problem(s): nothing written; a value in the definitions must stay data in the "
                    "generated pipelines")
        return exit_codes.INVALID_DEFINITIONS
    return None


def cmd_render(args) -> int:
    from lakegate.ci.render import stale, write

    envs = _load(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    if not guardrails_pass(envs):
        return exit_codes.GUARDRAIL_VIOLATION
    root = Path(args.root)
    if not root.is_dir():
        output.fail(f"--root {args.root} is not a folder")
        return exit_codes.INVALID_DEFINITIONS
    platforms = _platforms(args.platform)
    environments = environments_argument(args.environments, root)
    refused = _refusals(args, envs, platforms, environments)
    if refused is not None:
        return refused
    if args.check:
        problems = stale(envs, root, platforms, environments)
        for relative in problems:
            output.fail(f"{relative} is out of date: run `python main.py ci render --platform "
                        f"{'github' if relative.startswith('.github') else 'azure-devops'}`")
        if not problems:
            output.console.print(f"CI pipelines current ({', '.join(platforms)})")
        return exit_codes.STALE_DOCS if problems else exit_codes.OK
    outcome = write(envs, root, platforms, environments)
    for relative in outcome.written:
        output.console.print(f"wrote {relative}")
    for relative in outcome.removed:
        output.console.print(f"removed {relative} (no longer generated)")
    if not outcome.written and not outcome.removed:
        output.console.print(f"nothing to change ({len(outcome.unchanged)} file(s) current)")
    return exit_codes.OK


def cmd_simulate(args) -> int:
    from lakegate.ci.plan import build_plan
    from lakegate.ci.simulate import describe, simulate

    envs = _load(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    environments = args.environments
    if Path(environments).resolve() != Path("environments").resolve():
        environments = str(Path(environments).resolve())   # the steps run from the project folder
    plan = build_plan(envs, args.platform, environments)
    known = {s.id for w in plan.workflows for j in w.jobs for s in j.runnable()} | {
        s.id for steps in plan.stand_ins.values() for s in steps}
    unknown = sorted(set(args.skip) - known)
    if unknown:
        output.fail(f"--skip {', '.join(unknown)}: no such step (steps: {', '.join(sorted(known))})")
        return exit_codes.INVALID_REQUEST
    if not plan.for_event(args.event):
        output.fail(f"no {args.platform} workflow starts on {args.event} for these environments")
        return exit_codes.INVALID_REQUEST

    def report(kind, item) -> None:
        if args.json:
            return
        if kind == "section":
            output.console.print(f"\n[bold]{output.escape(item)}[/bold]")
        elif kind == "workflow":
            output.console.print(f"\n[bold]{output.escape(item.name)}[/bold] ({output.escape(describe(item, plan))})")
        elif kind == "start":
            output.console.print(f"  [cyan]>[/cyan] {output.escape(item.name)}: {output.escape(' '.join(item.command))}")
        else:
            print_ci_step(item)

    if not args.json:
        output.console.print(f"simulating {args.event} ({args.platform}): "
                             + " -> ".join(w.name for w in plan.for_event(args.event)))
    import shutil
    import tempfile

    temp_dir = "$TMP" if args.list else tempfile.mkdtemp(prefix="lakegate-ci-")
    try:
        result = simulate(plan, args.event, skip=frozenset(args.skip), list_only=args.list, report=report,
                          capture=args.json, temp_dir=temp_dir)
    finally:
        if not args.list and not args.keep:
            shutil.rmtree(temp_dir, ignore_errors=True)
    if args.json:
        output.emit_json(result.as_dict())
    else:
        counts = result.counts()
        summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        kept = f" (temp folder kept: {result.temp_dir})" if args.keep and not args.list else ""
        output.console.print(f"\n{summary}{kept}")
        if result.failed:
            output.fail(f"{result.failed.workflow}: step `{result.failed.step}` failed ({result.failed.reason})")
    return result.exit_code


def cmd_plan_outputs(args) -> int:
    from lakegate.ci.saved_plan import PlanUnreadable, output_changes, show

    stack = Path(args.stack)
    try:
        changes = output_changes(show(stack, args.plan))
    except PlanUnreadable as exc:
        output.fail(str(exc))
        return exit_codes.PREFLIGHT_FAILED
    if changes:
        listed = ", ".join(f"{c.name} ({'/'.join(c.actions)})" for c in changes)
        output.fail(f"{stack.name}'s applied plan changed output(s) {listed}; the saved plan of {args.reader} was made "
                    f"against the old values and is not applied: run the deploy again to plan {args.reader} against "
                    "the new ones")
        return exit_codes.PREFLIGHT_FAILED
    output.console.print(f"{stack.name}'s plan changes none of its outputs: {args.reader}'s saved plan still holds")
    return exit_codes.OK


def cmd_promote(args) -> int:
    from .promotion_commands import checked_before_registry

    return with_environments(checked_before_registry(_promote_with_ci_approval))(args)


def _promote_with_ci_approval(args, envs) -> int:
    from lakegate.promotion.api import approve, promote

    factory = adapter_factory(args, envs)
    hook = serving_hook(args, factory)

    def once():
        result = promote(envs, args.model, args.to, adapter_factory=factory, audit_dir=audit_dir(args),
                         serving_hook=hook)
        if args.json:
            output.emit_json(result.as_dict())
        else:
            print_promotion(result)
        return result

    result = once()
    if result.outcome == "approval_missing":
        approval = approve(envs, args.model, args.to, result.version, adapter_factory=factory,
                           audit_dir=audit_dir(args), ci=args.approval)
        if args.json:
            output.emit_json(approval.as_dict())
        else:
            output.console.print(f"{approval.model} v{approval.version} approved by {approval.approved_by} "
                                 f"(confirmed by {approval.kind})")
        result = once()
    refusal = result.refusal()
    if refusal is not None:
        output.fail(str(refusal))
        return getattr(exit_codes, result.failure_kind)
    return exit_codes.OK


def cmd_audit(args) -> int:
    from lakegate.ci.audit_store import BlobClient, pull, push
    from lakegate.promotion.credentials import azure_credentials
    from lakegate.promotion.state_dir import ensure_state_dir

    envs = _load(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    if args.env not in envs:
        output.fail(f"unknown environment '{args.env}' (known: {', '.join(envs.names)})")
        return exit_codes.INVALID_DEFINITIONS
    env = envs[args.env]
    # CredentialsError (11), StorageUnreachable (9) and state-folder refusals (6) leave through cli/failures.py.
    folder = ensure_state_dir(args.state_dir) / "audit"
    client = BlobClient(azure_credentials(pinned=env.credentials.strategy, tenant_id=env.azure.tenant_id))
    result = (pull if args.direction == "pull" else push)(env, folder, client)
    if args.json:
        output.emit_json({"ok": True, **result.as_dict()})
    else:
        output.console.print(f"{env.name} audit log {args.direction}: "
                             + ", ".join(f"{name} {what}" for name, what in result.files.items()))
    return exit_codes.OK
