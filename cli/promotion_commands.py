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

    train = command("train", cmd_train, "train the example model and register it in dev (local registry)")
    train.add_argument("--quality", choices=["good", "poor"], default="good")
    train.add_argument("--seed", type=int, default=7)

    promote = command("promote", cmd_promote, "promote a model into ENV from its promotion.from, through its gates")
    promote.add_argument("model", help="model name (churn) or full name (dev.ml.churn)")
    promote.add_argument("--to", required=True, metavar="ENV")
    which = promote.add_mutually_exclusive_group()
    which.add_argument("--version", help="source version number")
    which.add_argument("--alias", help="source alias (default: the source's champion; latest in dev)")
    _registry_option(promote)

    approve = command("approve", cmd_approve, "record a person's approval of a version (required in prod)")
    approve.add_argument("model")
    approve.add_argument("--env", required=True)
    approve.add_argument("--version", required=True)
    approve.add_argument("--by", required=True, metavar="NAME", help="the approving person (not a service principal)")
    _registry_option(approve)

    rollback = command("rollback", cmd_rollback, "move champion back to the previous champion in the audit log")
    rollback.add_argument("model")
    rollback.add_argument("--env", required=True)
    _registry_option(rollback)

    status = command("status", cmd_status, "champion, challenger, versions, lineage and gates per environment")
    _registry_option(status)

    audit = command("audit", cmd_audit, "verify the hash chain of every environment's audit log")
    audit.add_argument("action", choices=["verify"])

    command("demo", cmd_demo, "synthesize, then walk a model dev -> staging -> prod on a fresh local registry")


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
    from examples.train import train_and_register
    from promotion.local import secret_file
    from promotion.local.server import LocalRegistry, LocalRegistryError

    registry, dev = LocalRegistry(Path(args.state_dir)), envs.names[0]
    if registry.status().state != "running":
        raise LocalRegistryError(f"the local registry in {args.state_dir} is not running: run `python main.py local up`")
    env = envs[dev]
    principal = env.service_principal
    trained = train_and_register(registry.url, principal, secret_file.user_password(registry.state_dir, principal),
                                 env.unity_catalog.model_full_name(env.unity_catalog.models[0].name),
                                 quality=args.quality, seed=args.seed)
    if args.json:
        from dataclasses import asdict

        output.emit_json(asdict(trained))
    else:
        figures = ", ".join(f"{k} {v:.3f}" for k, v in trained.metrics.items())
        output.console.print(f"registered {trained.model} v{trained.version} as {principal} ({figures})")
    return exit_codes.OK


def cmd_promote(args, envs) -> int:
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
    from promotion.api import approve

    result = approve(envs, args.model, args.env, args.version, args.by, adapter_factory=adapter_factory(args, envs),
                     audit_dir=audit_dir(args))
    if args.json:
        output.emit_json(result.as_dict())
    else:
        output.console.print(f"{result.model} v{result.version} approved by {result.approved_by} at {result.approved_at}")
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
    from promotion.api import verify_audit

    result = verify_audit(audit_dir(args))
    if args.json:
        output.emit_json(result.as_dict())
    else:
        for env, count in result.checked.items():
            output.console.print(f"{env}: {count} entries, chain intact")
    for problem in result.problems:
        output.fail(str(problem))
    return exit_codes.OK if result.ok else exit_codes.AUDIT_TAMPERED


def cmd_demo(args, envs) -> int:
    from .demo import run_demo

    return run_demo(args, envs)
