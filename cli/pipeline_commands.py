"""Pipeline commands: `run` a job's tasks locally, `serve` an environment's champion over REST."""

from __future__ import annotations

import sys
from pathlib import Path

from . import exit_codes, output
from .failures import kind_of
from .presenters import print_task, task_rows
from .registry_access import state_dir_option, with_environments


def add_pipeline_commands(commands, common) -> None:
    run = commands.add_parser("run", help="run a job's tasks locally, in order, as the environment's principal, with "
                                          "the deployed job's parameters (local registry and lakehouse)")
    common(run)
    run.add_argument("job", help="job name as in workflows.jobs (feature-refresh, train, batch-inference, ...)")
    run.add_argument("--env", required=True, metavar="ENV", help="environment whose job runs (and whose principal)")
    run.add_argument("--smoke", action="store_true", help="the pull-request run: smoke_test=true (5 %% sample, one "
                                                          "epoch, nothing registered); only jobs with a smoke_test")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a job parameter the job's tasks declare, as `run-now --job-parameters` does "
                          "(repeatable; typed: pipelines/parameters.py; never another environment's)")
    run.add_argument("--engine", choices=("local", "spark"), default="local",
                     help="local (default): pandas and Delta tables; spark: the Databricks code path on a local Spark "
                          "session (SparkTables, spark_udf scoring, notebooks with dbutils; needs Java 17)")
    state_dir_option(run, "registry, lakehouse, audit logs")
    run.set_defaults(handler=with_environments(cmd_run, prepare=_check_state_dir))

    serve = commands.add_parser("serve", help="serve the environment's champion over REST on 127.0.0.1 (follows the "
                                              "alias: the URL stays when the champion changes; requests are logged)")
    common(serve)
    serve.add_argument("model", help="model name (churn) or full name (prod.ml.churn)")
    serve.add_argument("--env", required=True, metavar="ENV", help="environment whose champion is served, as its principal")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--alias", default="champion", help="alias served (default champion)")
    serve.add_argument("--refresh-seconds", type=float, default=2.0, help="how often the alias is checked (default 2)")
    serve.add_argument("--no-log", action="store_true", help="do not log requests to the payload table")
    serve.add_argument("--registry-timeout", type=float, default=120.0, metavar="SECONDS",
                       help="stop (exit 9) when the local registry has been stopped this long (default 120); a "
                            "registry restarted on another port meanwhile is followed")
    state_dir_option(serve, "registry, lakehouse")
    serve.set_defaults(handler=with_environments(cmd_serve, prepare=_check_state_dir))


def _check_state_dir(args) -> None:
    from lakegate.promotion.state_dir import ensure_state_dir

    ensure_state_dir(Path(args.state_dir), create=args.command == "run")  # private (0700), ours


def _parameters(pairs: list[str]) -> dict[str, str]:
    from lakegate.pipelines.parameters import ParameterProblem, check_name, shown

    parsed = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterProblem("USAGE", f"--param {shown(pair)}: expected NAME=VALUE")
        check_name(name.strip())  # exit 64 for a name no job could declare; the runner checks the rest
        parsed[name.strip()] = value
    return parsed


def cmd_run(args, envs) -> int:
    from lakegate.pipelines.runner import resolve_job, run_job

    resolve_job(envs, args.env, args.job)  # an unknown job or environment is refused before anything runs
    overrides = _parameters(args.param)
    people = not args.json
    if people:
        output.console.rule(f"[bold]run {args.job} --env {args.env}[/bold]" + (" (smoke)" if args.smoke else "")
                            + f" on the {args.engine} engine")
    # Only what runs now: each task's line is printed on stdout when it ends (print_task).
    with output.progress(output.progress_wanted(args.json), f"run {args.job} --env {args.env}", listed=()):
        run = run_job(envs, args.env, args.job, state_dir=Path(args.state_dir), smoke=args.smoke,
                      overrides=overrides, echo=people, on_task=print_task if people else None, engine=args.engine)
    if args.json:
        output.emit_json(run.as_dict())
    else:
        output.console.print(output.table(f"{args.env}-{args.job}: {'succeeded' if run.ok else 'failed'} in "
                                          f"{run.seconds:.1f} s on the {run.engine} engine", ["task", "kind", "status", "seconds", "task values"],
                                          task_rows(run)))
    if run.error is not None:
        kind = kind_of(run.error)
        if kind is None:
            raise run.error
        if not args.json:
            output.fail(str(run.error))
        return getattr(exit_codes, kind)
    return exit_codes.OK


def _check_serve_options(args) -> None:
    """What the command line says, checked before any registry call (exit 6, one line)."""
    import math
    import re
    import socket

    from lakegate.pipelines.errors import PipelineError
    from lakegate.pipelines.serving.server import HOST
    from lakegate.promotion.validation import check_alias

    name = r"[a-z][a-z0-9_]{0,62}"  # a Unity Catalog identifier (infra/model/base.py Identifier)
    if not re.fullmatch(rf"{name}(\.{name}\.{name})?", args.model):
        shown = args.model if len(args.model) <= 40 else args.model[:37] + "..."
        raise PipelineError(f"model {shown!r} is not a model name (churn) or full name (prod.ml.churn): lowercase "
                            "letters, digits and _")
    check_alias(args.alias)
    if not 0 <= args.port <= 65535:
        raise PipelineError(f"--port {args.port}: a port is 0 (a free one) to 65535")
    for option, value in (("--refresh-seconds", args.refresh_seconds), ("--registry-timeout", args.registry_timeout)):
        if not (math.isfinite(value) and value > 0):
            raise PipelineError(f"{option} {value:g}: must be a number of seconds above 0")
    if args.port:  # taken or privileged: say so now, not after loading the model
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closed port is free
            try:
                probe.bind((HOST, args.port))
            except OSError as error:
                raise PipelineError(f"--port {args.port}: cannot listen on {HOST}:{args.port} "
                                    f"({error.strerror or error})") from None


def cmd_serve(args, envs) -> int:
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.pipelines.serving.server import ChampionServer
    from lakegate.promotion.local.server import LocalRegistryError
    from lakegate.promotion.naming import declared_model, environment

    from .serve_hint import curl_command, served_example

    _check_serve_options(args)
    declared_model(environment(envs, args.env), args.model)  # exit 6 with the closest names, before the registry
    runtime = LocalRuntime(envs, args.env, Path(args.state_dir))
    runtime.echo = False
    server = ChampionServer(runtime, args.model, port=args.port, alias=args.alias,
                            refresh_seconds=args.refresh_seconds, log_requests=not args.no_log,
                            registry_timeout=args.registry_timeout)
    try:
        url = server.start()
    except OSError as error:
        raise OSError(f"cannot serve on 127.0.0.1:{args.port or 'a free port'}: {error}") from None
    summary = {"ok": True, "url": url, "model": server.full_name, "version": server.version, "alias": args.alias,
               "principal": runtime.principal, "payload_table": None if args.no_log else
               runtime.tables.full_name(server.payload_table), "signature_checking": server.signature_checking,
               "openapi": url.rsplit("/invocations", 1)[0] + "/openapi.json",
               "feature_lookup": server.app.describe()["feature_lookup"]}
    body, missing = served_example(runtime, server.full_name, server.version)
    summary["example_request"], summary["curl"] = body, curl_command(url, body) if body else None
    if args.json:
        output.emit_json(summary)
    else:
        output.console.print(f"serving {server.full_name}@{args.alias} (v{server.version}) as {runtime.principal} at\n"
                             f"  {url}\n  (OpenAPI: {summary['openapi']}; {server.signature_checking} signature "
                             "checking)\n" + (f"requests logged to {summary['payload_table']}; " if not args.no_log else "")
                             + (f"requests by key ({server.lookup.key}) look features up in "
                                f"{server.lookup.full_name}; " if server.lookup is not None else "")
                             + "Ctrl-C stops", markup=False)
        # Unwrapped, on a line of its own: pasted as is into another terminal.
        output.console.print(f"try it (v{server.version}'s input example):" if body else
                             f"no example request: {missing}; the columns are in the OpenAPI document", markup=False)
        if body:
            output.console.print(summary["curl"], markup=False, soft_wrap=True, highlight=False)
    sys.stdout.flush()
    try:
        server.wait()
    finally:
        server.stop()
    if server.failure is not None:
        raise LocalRegistryError(server.failure)  # exit 9: the registry is gone, so is the endpoint
    return exit_codes.OK
