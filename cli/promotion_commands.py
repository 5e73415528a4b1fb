"""Promotion commands: local registry, train, promote, approve, rollback, status, audit verify."""

from __future__ import annotations

import sys
from pathlib import Path

from . import exit_codes, output
from .presenters import print_promotion, status_table
from .registry_access import adapter_factory, audit_dir, require_running, serving_hook, state_dir_option, \
    with_environments


def add_promotion_commands(commands, common) -> None:
    def command(name, handler, help):
        parser = commands.add_parser(name, help=help)
        common(parser)
        state_dir_option(parser)
        parser.set_defaults(handler=with_environments(checked_before_registry(handler)))
        return parser

    local = command("local", cmd_local, "start, stop or inspect the local embedded registry")
    local.add_argument("action", choices=["up", "down", "status"], help="up: start (or re-provision) the server; down: "
                       "stop it; status: whether it runs, and where")

    train = command("train", cmd_train, "run a model's train job and register a version (local registry; the same as "
                                        "`run MODEL-train --env ENV`, after its feature refresh when its table is missing)")
    train.add_argument("model", nargs="?", help="the model (default: the environment's only model)")
    train.add_argument("--env", metavar="ENV", help="where it trains (default: the environment models are trained in, "
                       "the one without promotion.from)")
    train.add_argument("--quality", default="good", help="passed to the model's fit() (the examples: poor simulates a "
                       "feature-pipeline bug: shuffled columns, same signature)")
    train.add_argument("--seed", type=int, default=7, help="sampling, split and fit seed")

    promote = command("promote", cmd_promote, "promote a model into ENV from its promotion.from, through its gates")
    promote.add_argument("model", help="model name (churn) or full name (dev.ml.churn)")
    promote.add_argument("--to", required=True, metavar="ENV", help="the target environment (its principal acts; it "
                         "pulls from its promotion.from)")
    which = promote.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="N", help="source version number")
    which.add_argument("--alias", help="source alias (default: the source's champion; latest in dev)")
    promote.add_argument("--allow-rolled-back", action="store_true", help="promote files that were rolled back out of "
                         "the target's champion (refused otherwise, exit 6; where approval is required it must be given "
                         "after the rollback); a person's decision: CI never passes it")
    _registry_option(promote)

    approve = command("approve", cmd_approve, "sign (or confirm from CI) a person's approval of a version (required in prod)")
    approve.add_argument("model", help="model name (churn) or full name (prod.ml.churn)")
    approve.add_argument("--env", required=True, metavar="ENV", help="the environment whose approval gate this is")
    approve.add_argument("--version", required=True, metavar="N", help="the version in that environment")
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
    rollback.add_argument("model", help="model name (churn) or full name (prod.ml.churn)")
    rollback.add_argument("--env", required=True, metavar="ENV", help="the environment whose champion moves back")
    _registry_option(rollback)

    status = command("status", cmd_status, "champion, challenger, versions, lineage and gates per environment")
    status.add_argument("--env", metavar="ENV", help="only this environment")
    _registry_option(status)

    audit = command("audit", cmd_audit, "verify every environment's audit log: chain, registry anchors, registry state")
    audit.add_argument("action", choices=["verify"], help="verify: the hash chain, its registry anchors, the registry "
                       "state")
    audit.add_argument("--offline", action="store_true", help="file-only checks (hash chain, head): no anchors, no "
                       "registry state; truncation and full rewrites are only caught with the registry")
    audit.add_argument("--env", metavar="ENV", help="only this environment's log")
    _registry_option(audit)



def checked_before_registry(handler):
    """The handler, after what can be refused before any registry call (exit 6): first the environment and model
    named on the command line (known to the definitions, with the closest names), then the request itself."""

    def run(args, envs) -> int:
        check_names(args, envs)
        check_request(args)
        return handler(args, envs)

    return run


def check_names(args, envs) -> None:
    from lakegate.promotion import naming

    name = getattr(args, "to", None) or getattr(args, "env", None)
    env = naming.environment(envs, name) if name is not None else None
    if env is not None and getattr(args, "model", None) is not None:
        naming.declared_model(env, args.model)


def check_request(args) -> None:
    """What can be refused before any registry call: --version, --alias, --state-dir (exit 6)."""
    from lakegate.promotion.validation import check_alias, check_version

    if getattr(args, "version", None) is not None:
        args.version = check_version(args.version)
    if getattr(args, "alias", None) is not None:
        args.alias = check_alias(args.alias)
    _check_state_dir(args)


def _check_state_dir(args) -> None:
    """The state folder is private (0700) or refused; only commands that start something create it."""
    from lakegate.promotion.local.server import LocalRegistryError
    from lakegate.promotion.state_dir import ensure_state_dir

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


def cmd_local(args, envs) -> int:
    from lakegate.promotion.local.server import LocalRegistry
    from lakegate.promotion.local_access import derive_local_plan

    registry = LocalRegistry(Path(args.state_dir))
    with output.progress(args.action == "up" and output.progress_wanted(args.json), f"local up ({args.state_dir})"):
        result = {"up": lambda: registry.up(derive_local_plan(envs)), "down": registry.down,
                  "status": registry.status}[args.action]()
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
    """A model's train job, run locally as the environment's principal (pipelines/training/train.py); its feature
    refresh first when the feature table is missing."""
    from lakegate.pipelines.runner import run_job
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.promotion.errors import InvalidRequest
    from lakegate.promotion.local.server import LocalRegistry
    from lakegate.promotion.naming import environment

    root = environment(envs, args.env) if args.env else next(env for env in envs if env.promotion.from_env is None)
    model = training_model(root, args.model)
    policy = root.policy(model)
    job = root.job(f"{model.replace('_', '-')}-train")
    if job is None:
        raise InvalidRequest(f"model {model} has no train job in {root.name} ({root.locate('models', model, 'jobs')})")
    registry = LocalRegistry(Path(args.state_dir))
    require_running(registry, args.state_dir)
    runtime = LocalRuntime(envs, root.name, Path(args.state_dir))
    with output.progress(output.progress_wanted(args.json), f"train {model} in {root.name}"):
        if not runtime.tables.exists(policy.features_table):
            refresh = root.job(f"{model.replace('_', '-')}-feature-refresh")
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


def training_model(env, asked: str | None) -> str:
    """The model `train` trains: the one asked for (declared in `env`), else the environment's only model."""
    from lakegate.infra.suggest import did_you_mean
    from lakegate.promotion.errors import InvalidRequest

    if asked is None:
        if len(env.models) != 1:
            raise InvalidRequest(f"{env.name} holds {len(env.models)} models ({', '.join(env.models) or 'none'}): "
                                 "name the one to train (`train MODEL`)")
        return next(iter(env.models))
    name = asked.split(".")[-1]
    if name not in env.models:
        raise InvalidRequest(f"model {asked} is not declared in {env.locate('models')}{did_you_mean(name, env.models)} "
                             f"(models of {env.name}: {', '.join(env.models) or 'none'})")
    return name


def _raise_on_error(run):
    if run.error is not None:
        raise run.error
    return run


def cmd_promote(args, envs) -> int:  # --version / --alias were checked before (exit 6, no registry call)
    from lakegate.promotion import model_stack
    from lakegate.promotion.api import promote

    factory = adapter_factory(args, envs)
    model_stack.warm_up()  # the gates' imports, while the registry round trips and the copy wait on sockets
    asked = f" v{args.version}" if args.version else f"@{args.alias}" if args.alias else ""
    with output.progress(output.progress_wanted(args.json), f"promote {args.model}{asked} to {args.to}") as view:
        result = promote(envs, args.model, args.to, adapter_factory=factory, audit_dir=audit_dir(args),
                         version=args.version, alias=args.alias, progress=view.copy if view else None,
                         serving_hook=serving_hook(args, factory), allow_rolled_back=args.allow_rolled_back)
    if args.json:
        output.emit_json(result.as_dict())
    else:
        print_promotion(result)
    refusal = result.refusal()
    if refusal is not None:
        output.fail(str(refusal))
        return getattr(exit_codes, result.failure_kind)
    return exit_codes.OK


def cmd_approve(args, envs) -> int:
    from lakegate.promotion.api import approval_statement, approve

    if args.print_statement:
        if not args.by:
            from lakegate.promotion.errors import InvalidRequest

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
    from lakegate.promotion.api import rollback

    factory = adapter_factory(args, envs)
    result = rollback(envs, args.model, args.env, adapter_factory=factory, audit_dir=audit_dir(args),
                      serving_hook=serving_hook(args, factory))
    if args.json:
        output.emit_json(result.as_dict())
    else:
        output.console.print(f"{result.model}: champion v{result.from_version} -> v{result.to_version} (rolled back; "
                             f"v{result.from_version}'s files are held: promoting them again needs --allow-rolled-back)")
    return exit_codes.OK


def cmd_status(args, envs) -> int:
    from lakegate.promotion.status import environment_status, status

    factory = adapter_factory(args, envs)
    data = {"environments": [environment_status(envs[args.env], factory)]} if args.env else status(envs, factory)
    if args.json:
        output.emit_json(data)
        return exit_codes.OK
    output.console.print(status_table(data))
    return exit_codes.OK


def _only(result, env: str):
    """The verification of one environment's log (the others are checked, not reported)."""
    from dataclasses import replace

    return replace(result, checked={k: v for k, v in result.checked.items() if k == env},
                   problems=[p for p in result.problems if p.env == env],
                   notes={k: v for k, v in result.notes.items() if k == env})


def cmd_audit(args, envs) -> int:
    from lakegate.promotion.audit import verify as verify_audit
    from lakegate.promotion.audit_check import cross_check as cross_check_audit

    if args.offline:
        result = verify_audit(audit_dir(args))
    else:
        result = cross_check_audit(envs, audit_dir(args), adapter_factory(args, envs))
    if args.env:
        result = _only(result, args.env)
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
