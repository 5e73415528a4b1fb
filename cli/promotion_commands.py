"""Promotion commands: local registry, promote, approve, rollback, status, audit, train, demo."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from . import exit_codes, output

DEFAULT_STATE_DIR = ".lakegate"


def add_promotion_commands(commands, common) -> None:
    def command(name, handler, help):
        parser = commands.add_parser(name, help=help)
        common(parser)
        parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="local state: registry, audit logs, locks")
        parser.set_defaults(handler=lambda args: _guarded(handler, args))
        return parser

    local = command("local", cmd_local, "start, stop or inspect the local embedded registry")
    local.add_argument("action", choices=["up", "down", "status"])

    train = command("train", cmd_train, "run the training pipeline in dev and register dev.ml.churn (local registry; "
                                        "the same as `run train --env dev`)")
    train.add_argument("--quality", choices=["good", "poor"], default="good",
                       help="poor: simulate a feature-pipeline bug (shuffled columns, same signature)")
    train.add_argument("--seed", type=int, default=7, help="sampling, split and SGD seed")

    promote = command("promote", cmd_promote, "promote a model into ENV from its promotion.from, through its gates")
    promote.add_argument("model", help="model name (churn) or full name (dev.ml.churn)")
    promote.add_argument("--to", required=True, metavar="ENV")
    which = promote.add_mutually_exclusive_group()
    which.add_argument("--version", help="source version number")
    which.add_argument("--alias", help="source alias (default: the source's champion; latest in dev)")
    _registry_option(promote)

    approve = command("approve", cmd_approve, "sign (or confirm from CI) a person's approval of a version (required in prod)")
    approve.add_argument("model")
    approve.add_argument("--env", required=True)
    approve.add_argument("--version", required=True)
    how = approve.add_mutually_exclusive_group()
    how.add_argument("--key", metavar="FILE", help="sign now with this SSH key (private key, or a .pub whose key is in "
                     "ssh-agent); its public half must be enrolled in promotion.approval.signers")
    how.add_argument("--signature", metavar="FILE", help="a signature made elsewhere (ssh-keygen -Y sign -n "
                     "lakegate-approval) over the statement --print-statement wrote")
    how.add_argument("--ci", choices=["github", "azure-devops"], help="the approval given in this CI run's environment "
                     "protection, confirmed through the platform's API with the job's token")
    how.add_argument("--print-statement", action="store_true", help="print the statement to sign (needs --by) and exit")
    approve.add_argument("--statement", metavar="FILE", help="with --signature: the signed statement (default: the "
                         "signature's file name without .sig)")
    approve.add_argument("--by", metavar="IDENTITY", help="the approver's enrolled identity: required by "
                         "--print-statement, otherwise only checked (a name alone is never an approval)")
    _registry_option(approve)

    rollback = command("rollback", cmd_rollback, "move champion back to the previous champion in the audit log")
    rollback.add_argument("model")
    rollback.add_argument("--env", required=True)
    _registry_option(rollback)

    status = command("status", cmd_status, "champion, challenger, versions, lineage and gates per environment")
    _registry_option(status)

    audit = command("audit", cmd_audit, "verify every environment's audit log: chain, registry anchors, registry state")
    audit.add_argument("action", choices=["verify"])
    audit.add_argument("--offline", action="store_true", help="file-only checks (hash chain, head): no anchors, no "
                       "registry state; truncation and full rewrites are only caught with the registry")
    _registry_option(audit)

    command("demo", cmd_demo, "synthesize, then walk a model dev -> staging -> prod on a fresh local registry")


def _check_request(args) -> None:
    """What can be refused before any registry call: --version, --alias, --state-dir (exit 6)."""
    from promotion.validation import check_alias, check_version

    if getattr(args, "version", None) is not None:
        args.version = check_version(args.version)
    if getattr(args, "alias", None) is not None:
        args.alias = check_alias(args.alias)
    _check_state_dir(args)


def _check_state_dir(args) -> None:
    """The state folder is private (0700) or refused; only commands that start something create it."""
    from promotion.local.server import LocalRegistryError
    from promotion.state_dir import ensure_state_dir

    creates = (args.command == "local" and args.action == "up") or args.command == "demo" \
        or (getattr(args, "registry", "local") == "databricks" and args.command != "audit")
    path = Path(args.state_dir)
    try:
        present = path.exists() or path.is_symlink()
    except OSError:
        present = True  # let ensure_state_dir say what is wrong with it
    if present or creates or _parent_is_not_a_folder(path):
        ensure_state_dir(path, create=creates)
    elif args.command == "audit":
        ensure_state_dir(path, create=False)  # "does not exist": there is nothing to verify (exit 6)
    elif args.command not in ("local",):
        raise LocalRegistryError(f"the local registry in {args.state_dir} is not running: run `python main.py local up`")


def _parent_is_not_a_folder(path: Path) -> bool:
    for parent in path.absolute().parents:
        if parent.exists():
            return not parent.is_dir()
    return False


def _registry_option(parser) -> None:
    parser.add_argument("--registry", choices=["local", "databricks"], default="local",
                        help="local embedded registry (default) or Databricks Unity Catalog")


def _guarded(handler, args) -> int:
    """Run a command; map every refusal to its documented exit code with a one-line message."""
    from infra.errors import DefinitionError
    from promotion.api import failure_kind

    from .infra_commands import load_or_report

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    envs = load_or_report(args)
    if envs is None:
        return exit_codes.INVALID_DEFINITIONS
    try:
        _check_request(args)
        return handler(args, envs)
    except DefinitionError as error:
        output.problems(error.problems)
        return exit_codes.INVALID_DEFINITIONS
    except Exception as error:  # noqa: BLE001 - every failure gets its kind's exit code
        # Looked up, not imported: importing databricks-sdk costs ~1 s, and unimported it raised nothing.
        credentials = sys.modules.get("promotion.credentials")
        kind = "CREDENTIALS" if credentials and isinstance(error, credentials.CredentialsError) else failure_kind(error)
        if kind == "UNEXPECTED":
            raise
        if getattr(args, "json", False):
            output.emit_json({"ok": False, "error": kind.lower(), "message": str(error)})
        output.fail(str(error))
        return getattr(exit_codes, kind)


def adapter_factory(args, envs):
    """`env name -> adapter` acting as that environment's service principal."""
    if getattr(args, "registry", "local") == "databricks":
        from promotion.databricks.factory import databricks_adapter_factory

        return databricks_adapter_factory(envs)
    from promotion.local.server import LocalRegistry, LocalRegistryError

    registry = LocalRegistry(Path(args.state_dir))
    if registry.status().state != "running":
        raise LocalRegistryError(f"the local registry in {args.state_dir} is not running: run `python main.py local up`")
    return lambda env_name: registry.adapter(envs[env_name].service_principal)


def serving_hook(args, factory):
    if getattr(args, "registry", "local") == "databricks":
        from promotion.databricks.factory import databricks_serving_hook

        return databricks_serving_hook(factory)
    return None  # the local registry serves nothing


def audit_dir(args) -> Path:
    return Path(args.state_dir) / "audit"


@contextmanager
def copy_progress(enabled: bool):
    """A progress bar for artifact copies (None when printing JSON)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=output.console, transient=True) as bar:
        task = bar.add_task("copying artifacts", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total or None)


def cmd_local(args, envs) -> int:
    from promotion.local.server import LocalRegistry
    from promotion.local_access import derive_local_plan

    registry = LocalRegistry(Path(args.state_dir))
    result = {"up": lambda: registry.up(derive_local_plan(envs)), "down": registry.down, "status": registry.status}[args.action]()
    data = result.to_dict()
    if args.json:
        output.emit_json(data)
    else:
        described = f"local registry: {result.state}" + (f" at {result.url}" if result.url and result.state == "running" else "")
        if args.action == "up":
            described += f" ({'started in %.1f s' % result.ready_seconds if result.started else 'already running'}; "
            described += f"{len(result.changes)} change(s))" if result.changes else "nothing to change)"
        output.console.print(described)
        for change in result.changes or []:
            output.console.print(f"  {change}")
    return exit_codes.OK if args.action != "status" or result.state in ("running", "stopped") else exit_codes.REGISTRY_UNAVAILABLE


def cmd_train(args, envs) -> int:
    """The training pipeline's job in the environment where models are trained (dev), run locally as its
    principal (pipelines/training/train_churn.py); its feature refresh first when the feature table is missing."""
    from pipelines.runner import run_job
    from pipelines.runtime import LocalRuntime
    from promotion.local.server import LocalRegistry, LocalRegistryError

    registry = LocalRegistry(Path(args.state_dir))
    if registry.status().state != "running":
        raise LocalRegistryError(f"the local registry in {args.state_dir} is not running: run `python main.py local up`")
    root = next(env for env in envs if env.promotion.from_env is None)
    job = next((j for j in root.workflows.jobs if j.purpose == "training"), None)
    if job is None:
        from promotion.errors import InvalidRequest

        raise InvalidRequest(f"{root.name} has no training job ({root.locate('workflows', 'jobs')})")
    runtime = LocalRuntime(envs, root.name, Path(args.state_dir))
    features = next((t.parameters.get("features_table") for t in job.tasks if t.parameters.get("features_table")),
                    "features.churn_features")
    if not runtime.tables.exists(features):
        refresh = next((j for j in root.workflows.jobs if j.purpose == "feature_refresh"), None)
        if refresh is not None:
            _raise_on_error(run_job(envs, root.name, refresh.name, state_dir=Path(args.state_dir), echo=False))
    run = _raise_on_error(run_job(envs, root.name, job.name, state_dir=Path(args.state_dir), echo=False,
                                  overrides={"quality": args.quality, "seed": str(args.seed)}))
    trained = run.tasks[0].result
    if args.json:
        from dataclasses import asdict

        output.emit_json(asdict(trained))
    else:
        figures = ", ".join(f"{k} {v:.3f}" for k, v in trained.metrics.items())
        output.console.print(f"registered {trained.model} v{trained.version} as {root.service_principal} ({figures}; "
                             f"the training run's claim: targets compute their own)")
    return exit_codes.OK


def _raise_on_error(run):
    if run.error is not None:
        raise run.error
    return run


def cmd_promote(args, envs) -> int:  # --version / --alias were checked before (exit 6, no registry call)
    from promotion.api import promote

    factory = adapter_factory(args, envs)
    with copy_progress(not args.json) as progress:
        result = promote(envs, args.model, args.to, adapter_factory=factory, audit_dir=audit_dir(args),
                         version=args.version, alias=args.alias, progress=progress, serving_hook=serving_hook(args, factory))
    if args.json:
        output.emit_json(result.as_dict())
    else:
        print_promotion(result)
    refusal = result.refusal()
    if refusal is not None:
        output.fail(str(refusal))
        return getattr(exit_codes, result.failure_kind)
    return exit_codes.OK


def print_promotion(result) -> None:
    rows = [[g.gate_id, "passed" if g.passed else "FAILED", g.message] for g in result.gates]
    title = (f"{result.source_model} v{result.source_version} -> {result.model} v{result.version}: {result.outcome}"
             f"{' (reused earlier copy)' if result.reused else ''}, {result.seconds:.2f} s")
    output.console.print(output.table(title, ["gate", "result", "details"], rows))


def cmd_approve(args, envs) -> int:
    from promotion.api import approval_statement, approve

    if args.print_statement:
        if not args.by:
            from promotion.errors import InvalidRequest

            raise InvalidRequest("--print-statement needs --by IDENTITY (the enrolled approver who will sign it)")
        text = approval_statement(envs, args.model, args.env, args.version, args.by,
                                  adapter_factory=adapter_factory(args, envs))
        sys.stdout.write(text.decode())
        sys.stdout.flush()
        return exit_codes.OK
    result = approve(envs, args.model, args.env, args.version, adapter_factory=adapter_factory(args, envs),
                     audit_dir=audit_dir(args), key=args.key, signature=args.signature,
                     statement_file=args.statement, ci=args.ci, by=args.by)
    if args.json:
        output.emit_json(result.as_dict())
    else:
        how = "signature verified" if result.kind == "ssh" else f"confirmed by {result.kind}"
        output.console.print(f"{result.model} v{result.version} approved by {result.approved_by} at {result.approved_at} "
                             f"({how}; artifacts sha256 {result.artifacts_sha256[:12]}…)")
    return exit_codes.OK


def cmd_rollback(args, envs) -> int:
    from promotion.api import rollback

    factory = adapter_factory(args, envs)
    result = rollback(envs, args.model, args.env, adapter_factory=factory, audit_dir=audit_dir(args),
                      serving_hook=serving_hook(args, factory))
    if args.json:
        output.emit_json(result.as_dict())
    else:
        output.console.print(f"{result.model}: champion v{result.from_version} -> v{result.to_version} (rolled back)")
    return exit_codes.OK


def cmd_status(args, envs) -> int:
    from promotion.api import status

    data = status(envs, adapter_factory(args, envs))
    if args.json:
        output.emit_json(data)
        return exit_codes.OK
    output.console.print(status_table(data))
    return exit_codes.OK


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
                         _gates_summary(gates)])
    return output.table("Models", ["env", "model", "champion", "challenger", "versions", "lineage", "last gates"], rows)


def _gates_summary(gates: dict) -> str:
    if not gates:
        return "-"
    results = gates.get("results") or []
    failed = [r["gate_id"] for r in results if not r.get("passed")]
    head = f"v{gates.get('version')}: " if gates.get("version") else ""
    return head + (f"failed {', '.join(failed)}" if failed else f"{len(results)} passed")


def cmd_audit(args, envs) -> int:
    from promotion.api import cross_check_audit, verify_audit

    if args.offline:
        result = verify_audit(audit_dir(args))
    else:
        result = cross_check_audit(envs, audit_dir(args), adapter_factory(args, envs))
    if args.json:
        output.emit_json(result.as_dict())
    else:
        for env, count in result.checked.items():
            if result.cross_checked:
                details = "; ".join(result.notes.get(env, []))
                output.console.print(f"{env}: {count} entries, chain intact, anchors and registry state match"
                                     + (f" ({details})" if details else ""))
            else:
                output.console.print(f"{env}: {count} entries, chain intact")
        if not result.cross_checked:
            output.console.print("NOT cross-checked with the registry (--offline): anchors, champion, hidden or deleted "
                                 "versions; removing the last entries with the head file, or rewriting the whole log, "
                                 "is only caught without --offline")
    for problem in result.problems:
        output.fail(str(problem))
    return exit_codes.OK if result.ok else exit_codes.AUDIT_TAMPERED


def cmd_demo(args, envs) -> int:
    from .demo import run_demo

    return run_demo(args, envs)
