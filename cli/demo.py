"""The main job: synthesize every environment, then walk the ML lifecycle on a fresh local registry and lakehouse.

features (every environment) -> train in dev -> promote through staging's and prod's gates (figures computed by the
target: a poor model whose logged accuracy dev forged is refused) -> prod's signed approval -> batch scoring ->
the champion served over REST -> rollback (the same URL follows) -> drift injected into the served traffic ->
monitoring triggers the retraining job in prod -> prod's gates and approval decide -> cooldown.

Each step is what a CI pipeline or a person would run (`python main.py run ...`, `promote ...`), called in-process
so the demo pays the start-up costs once. The demo uses its own state folder (`.lakegate/demo`,
recreated each run) so it never touches a registry you started with `local up`.

Prod's approval is signed for real: the demo generates a throwaway SSH key for the approver in its
state folder (`.lakegate/demo/approver/`, mode 0700, removed with the folder on the next run) and
enrols its public half for the approver in the demo's copy of the definitions (in memory: the
reviewed YAML is not touched and no private key ever leaves the state folder).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import exit_codes, output
from .presenters import print_guardrails, print_promotion, status_table
from .demo_requests import DemoFailed, ask, drifted_traffic, example_row
from .registry_access import state_dir_option, with_environments

APPROVER = "head.of.ml@contoso.com"


def add_demo_command(commands, common) -> None:
    demo = commands.add_parser("demo", help="synthesize, then walk a model through its whole lifecycle on a fresh local "
                                            "registry (the README's main job)")
    common(demo)
    state_dir_option(demo, "the demo's registry, lakehouse and audit logs live in its demo/")
    demo.set_defaults(handler=with_environments(run_demo, prepare=_private_state_dir))


def _private_state_dir(args) -> None:
    from lakegate.promotion.state_dir import ensure_state_dir

    ensure_state_dir(Path(args.state_dir))  # created private (0700) or refused (exit 6)


class Walkthrough:
    """Runs the steps, records one summary row each, and stops at the first unexpected outcome."""

    def __init__(self):
        self.rows: list[list[str]] = []
        self.started = time.perf_counter()
        self.view: output.Progress | None = None   # the terminal's progress display, when there is one

    def step(self, title: str, expected: str, actual: str, detail: str = "") -> None:
        ok = expected == actual
        self.rows.append([str(len(self.rows) + 1), title, actual, "as expected" if ok else f"EXPECTED {expected}", detail])
        output.console.rule(f"[bold]{len(self.rows)}. {title}[/bold]: {actual}")
        if self.view is not None:
            self.view.title = f"demo: step {len(self.rows)} done ({title})"
        if not ok:
            raise DemoFailed(f"step {len(self.rows)} ({title}) ended {actual}, expected {expected}")

    def as_json(self) -> list[dict]:
        return [dict(zip(("step", "title", "outcome", "check", "details"), row)) for row in self.rows]


def run_demo(args, envs) -> int:
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow resets its logger's level when imported
    from lakegate.promotion.local.server import LocalRegistry

    refusal = _uncommitted_code(envs)
    if refusal:
        from .failures import refused

        return refused(args, "INVALID_REQUEST", refusal)  # with --json, as JSON on stdout too
    walk = Walkthrough()
    state_dir = Path(args.state_dir) / "demo"
    registry = LocalRegistry(state_dir)
    registry.down()  # a previous demo interrupted hard may have left its server running
    shutil.rmtree(state_dir, ignore_errors=True)
    # --json: stdout is the JSON summary alone; the walk's narrative goes to stderr (a CI log keeps it).
    narrative = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    try:
        with narrative, output.progress(output.progress_wanted(args.json), "demo", listed=()) as view:
            walk.view = view
            synthesize_all(walk, envs)
            key = demo_approver_key(state_dir)
            walk_model(walk, enrol_demo_approver(envs, APPROVER, key), registry, key)
    except DemoFailed as failure:
        if args.json:
            output.emit_json({"ok": False, "error": "demo_failed", "message": str(failure), "steps": walk.as_json()})
        output.fail(str(failure))
        return exit_codes.UNEXPECTED
    finally:
        registry.down()
    seconds = time.perf_counter() - walk.started
    if args.json:
        output.emit_json({"ok": True, "seconds": round(seconds, 1), "audit": str(state_dir / "audit"),
                          "steps": walk.as_json()})
        return exit_codes.OK
    output.console.print(output.table(f"Demo finished in {seconds:.1f} s (audit logs kept in {state_dir / 'audit'})",
                                      ["#", "step", "outcome", "check", "details"], walk.rows))
    return exit_codes.OK


def _uncommitted_code(envs) -> str:
    """The walk promotes through the lineage gate, which refuses a model trained from uncommitted code: say so before
    anything starts, not at the first promotion."""
    from lakegate.pipelines.lineage import lineage_tags

    for env in envs:
        for name, model in env.models.items():
            tags = lineage_tags(model.code)
            if tags.get("git_dirty") == "true" or tags.get("git_entry_point_in_commit") != "true":
                return (f"the demo trains {name} from {model.code} and promotes it through the lineage gate, which "
                        "refuses code no commit holds: commit or stash your changes first (`git status`)")
    return ""


def synthesize_all(walk: Walkthrough, envs) -> None:
    from lakegate.infra.guardrails.runner import check_environments
    from lakegate.infra.synth import synthesize

    from .infra_commands import resource_counts

    report = check_environments(envs)
    print_guardrails(report)
    walk.step("guardrails", "passed", "passed" if report.passed else "violated",
              f"{report.rules_run} rules, {len(report.waived)} waived")
    started = time.perf_counter()
    result = synthesize(envs, Path("cdktf.out"))
    counts = {name: sum(resource_counts(js).values()) for name, js in result.stacks.items()}
    rows = [[name, total] for name, total in counts.items()]
    output.console.print(output.table("cdktf.out/stacks", ["stack", "resources"], rows))
    walk.step("synthesize every environment", "synthesized", "synthesized",
              f"{len(counts)} stacks, {sum(counts.values())} resources in {time.perf_counter() - started:.1f} s")


def demo_approver_key(state_dir: Path) -> Path:
    """A throwaway ed25519 key for the demo's approver, in the (private) demo state folder."""
    from lakegate.promotion.signing import ssh_keygen
    from lakegate.promotion.state_dir import ensure_state_dir

    folder = ensure_state_dir(state_dir) / "approver"
    folder.mkdir(mode=0o700, exist_ok=True)
    key = folder / "id_ed25519"
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    subprocess.run([ssh_keygen(), "-q", "-t", "ed25519", "-N", "", "-C", f"{APPROVER} (lakegate demo)", "-f", str(key)],
                   check=True, capture_output=True, env=env, timeout=30)
    return key


def enrol_demo_approver(envs, identity: str, key: Path):
    """The definitions with `identity`'s key replaced by the demo key in every environment that needs
    approvals (in memory: environments/*.yaml stay as reviewed)."""
    from lakegate.infra.model import Environments
    from lakegate.infra.model.promotion import Signer
    from lakegate.promotion.signing import public_key_of

    public = public_key_of(key)
    changed = []
    for env in envs:
        approval = env.promotion.approval
        if approval.required:
            signers = [s for s in approval.signers if s.identity != identity]
            signers.append(Signer(identity=identity, key=public))
            approval = approval.model_copy(update={"signers": signers})
            env = env.model_copy(update={"promotion": env.promotion.model_copy(update={"approval": approval})})
        changed.append(env)
    return Environments(changed, getattr(envs, "account", None))


def walk_model(walk: Walkthrough, envs, registry, key: Path) -> None:
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.pipelines.serving.server import ChampionServer
    from lakegate.promotion.api import approve, cross_check_audit, promote, rollback, status
    from lakegate.promotion.local_access import derive_local_plan

    started = registry.up(derive_local_plan(envs))
    walk.step("start the local registry", "running", started.state,
              f"{started.url}, ready in {started.ready_seconds or 0:.1f} s, {len(started.changes)} provisioning changes")
    dev, staging, prod = envs.names[0], envs.names[1], envs.names[2]
    model = "churn" if "churn" in envs[dev].models else envs[dev].model_names[0]
    factory = lambda env_name: registry.adapter(envs[env_name].service_principal)  # noqa: E731
    audit = registry.state_dir / "audit"
    dev_sp = envs[dev].service_principal
    prod_full = envs[prod].unity_catalog.model_full_name(model)

    def run(env_name: str, job: str, expected_error: bool = False, model_name: str = model, **params):
        from lakegate.pipelines.runner import run_job

        job = f"{model_name}-{job}"
        result = run_job(envs, env_name, job, state_dir=registry.state_dir, echo=True,
                         overrides={k: str(v) for k, v in params.items()})
        if result.error is not None and not expected_error:
            raise DemoFailed(f"{env_name}-{job} failed: {result.error}")
        return result

    for env_name in (dev, staging, prod):
        for name in envs[env_name].models:
            refreshed = run(env_name, "feature-refresh", model_name=name)
            walk.step(f"refresh {name}'s features in {env_name} (job {name}-feature-refresh, as "
                      f"{envs[env_name].service_principal})", "succeeded", "succeeded" if refreshed.ok else "failed",
                      "; ".join(refreshed.tasks[0].messages))

    def train(quality: str, seed: int, model_name: str = model):
        trained = run(dev, "train", model_name=model_name, quality=quality, seed=seed).tasks[0].result
        figures = ", ".join(f"{k} {v:.3f}" for k, v in list(trained.metrics.items())[:2])
        walk.step(f"train a {quality} {model_name} model in {dev} (job {model_name}-train, as {dev_sp})", "registered",
                  "registered", f"{trained.model} v{trained.version}, logged {figures}")
        return trained

    def promote_to(target: str, version: str | None = None, expected: str = "champion", model_name: str = model):
        source_alias = None if target == staging else "champion"
        result = promote(envs, model_name, target, adapter_factory=factory, audit_dir=audit,
                         version=version if target == staging else None, alias=source_alias,
                         progress=walk.view.copy if walk.view else None)
        print_promotion(result)
        failed = ", ".join(f"{g.gate_id} ({g.message})" for g in result.failed_gates)
        walk.step(f"promote {result.source_model} v{result.source_version} to {target} as "
                  f"{envs[target].service_principal}", expected, result.outcome,
                  failed or f"{result.model} v{result.version}, {len(result.gates)} gates passed, {result.seconds:.2f} s")
        return result

    def sign(version: str, model_name: str = model):
        approval = approve(envs, model_name, prod, version, adapter_factory=factory, audit_dir=audit, key=key)
        walk.step(f"approve {approval.model} v{approval.version}", "approved", "approved",
                  f"signed by {approval.approved_by} (artifacts {approval.artifacts_sha256[:12]}…)")

    first = train("good", seed=7)
    promote_to(staging, first.version)
    poor = train("poor", seed=7)
    forged = forge_accuracy(registry, envs[dev], poor.run_id, 0.97)
    walk.step(f"{dev_sp} rewrites the poor run's logged accuracy", "forged", "forged",
              f"{poor.metrics['accuracy']:.3f} -> {forged:.2f} on run {poor.run_id[:12]} (dev owns its runs)")
    promote_to(staging, poor.version, expected="gate_failed")
    promote_to(prod, expected="approval_missing")
    prod_version = _challenger(factory(prod), prod_full)
    # A tag naming the approver, written by prod's own principal, is not an approval: the gate refuses it.
    from lakegate.promotion import registry_tags

    factory(prod).set_version_tag(prod_full, prod_version, registry_tags.APPROVED_BY, APPROVER)
    promote_to(prod, expected="approval_missing")
    sign(prod_version)
    promote_to(prod)

    second = train("good", seed=16)  # a better model on the targets' own data (seed 11 is 0.001 worse in prod)
    promote_to(staging, second.version)
    promote_to(prod, expected="approval_missing")
    sign(_challenger(factory(prod), prod_full))
    promote_to(prod)

    scored = run(prod, "batch-inference").tasks[0].result
    walk.step(f"score a batch in {prod} (job batch-inference)", "scored", "scored",
              f"{scored['rows']} rows by v{scored['model_version']} -> {scored['table']} in {scored['seconds']:.2f} s")

    runtime = LocalRuntime(envs, prod, registry.state_dir)
    runtime.echo = False
    server = ChampionServer(runtime, model, refresh_seconds=0.5, log_interval=0.2)
    url = server.start()
    try:
        answer = ask(url)
        walk.step(f"serve {prod}'s champion over REST and ask it once", f"v{server.version}", answer["version"],
                  f"{url} -> {answer['predictions']} ({answer['ms']:.0f} ms); logged to "
                  f"{runtime.tables.full_name(server.payload_table)}")

        back = rollback(envs, model, prod, adapter_factory=factory, audit_dir=audit)
        walk.step(f"roll back {back.model}", "rolled back", "rolled back", f"champion v{back.from_version} -> v{back.to_version}")
        server.check_alias()
        answer = ask(url)
        walk.step("the same URL now serves the rolled-back champion", f"v{back.to_version}", answer["version"],
                  f"{url} (no restart, no consumer change)")

        sent = drifted_traffic(url)
        server.log.flush()
        walk.step(f"inject drift: {sent} requests with shifted customers", "logged", "logged",
                  f"{server.log.written} requests in {runtime.tables.full_name(server.payload_table)}")
        monitored = run(prod, "monitoring")
        refresh, retrain = monitored.task("refresh_monitor"), monitored.task("retrain")
        decision = (retrain.job_run.tasks[0].result.decision if retrain.job_run else {}) or {}
        walk.step(f"monitor {prod} (job monitoring): drift {refresh.values.get('drift')} > "
                  f"{envs[prod].job(model + '-monitoring').retrain_on_drift.threshold:g}: retrain",
                  "approval_missing", decision.get("outcome", retrain.status),
                  f"{prod_full} v{decision.get('version')} registered by the retraining job; " +
                  "; ".join(f"{g['gate_id']}: {g['message']}" for g in decision.get("gates", []) if not g["passed"]))
        retrained = decision["version"]
        sign(retrained)
        judged = run(prod, "validate", model_version=retrained).tasks[0].result.get("decision", {})
        walk.step(f"re-judge the approved retrained v{retrained} (job validate)", "champion", judged.get("outcome", "?"),
                  f"{len(judged.get('gates', []))} gates passed")
        server.check_alias()
        answer = ask(url)
        walk.step("the same URL serves the retrained champion", f"v{retrained}", answer["version"], url)
        again = run(prod, "monitoring")
        walk.step("monitor again: still drifting, but in cooldown", "true", str(again.task("refresh_monitor").values.get(
            "in_cooldown")), "; ".join(m for m in again.task("refresh_monitor").messages if "cooldown" in m))
    finally:
        server.stop()

    for other in [name for name in envs[dev].models if name != model]:
        walk_second_model(walk, envs, other, run, train, promote_to, sign, factory, registry, prod)

    verified = cross_check_audit(envs, audit, factory)
    walk.step("verify the audit logs against the registry", "intact", "intact" if verified.ok else "broken",
              ", ".join(f"{env}: {n} entries" for env, n in verified.checked.items())
              or "; ".join(str(p) for p in verified.problems))
    output.console.print(status_table(status(envs, factory)))
    stopped = registry.down()
    walk.step("stop the local registry", "stopped", stopped.state)


def walk_second_model(walk, envs, name: str, run, train, promote_to, sign, factory, registry, prod: str) -> None:
    """Another model of the same environments (the examples: demand, a regression) through its own gates, its own
    batch table and its own endpoint: nothing of churn's policy applies to it."""
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.pipelines.serving.server import ChampionServer

    first = train("good", seed=7, model_name=name)
    staging = envs[prod].promotion.from_env
    promote_to(staging, first.version, model_name=name)
    promote_to(prod, expected="approval_missing" if envs[prod].policy(name).approval.required else "champion",
               model_name=name)
    if envs[prod].policy(name).approval.required:
        sign(_challenger(factory(prod), envs[prod].unity_catalog.model_full_name(name)), model_name=name)
        promote_to(prod, model_name=name)
    scored = run(prod, "batch-inference", model_name=name).tasks[0].result
    walk.step(f"score a {name} batch in {prod} (job {name}-batch-inference)", "scored", "scored",
              f"{scored['rows']} rows by v{scored['model_version']} -> {scored['table']}")
    runtime = LocalRuntime(envs, prod, registry.state_dir)
    runtime.echo = False
    server = ChampionServer(runtime, name, refresh_seconds=0.5, log_interval=0.2)
    url = server.start()
    try:
        answer = ask(url, example_row(runtime, envs[prod], name))
        walk.step(f"serve {prod}'s {name} champion at its own URL", f"v{server.version}", answer["version"],
                  f"{url} -> {answer['predictions']}")
    finally:
        server.stop()


def forge_accuracy(registry, env, run_id: str, value: float) -> float:
    """What the issue saw: the source's principal raises its own run's logged accuracy after registering."""
    from mlflow.tracking import MlflowClient

    from lakegate.pipelines.mlflow_login import acting_as
    from lakegate.promotion.local import secret_file
    from lakegate.promotion.local.workspaces import workspace_for_catalog

    principal = env.service_principal
    with acting_as(registry.url, principal, secret_file.user_password(registry.state_dir, principal),
                   workspace_for_catalog(env.unity_catalog.catalog)):
        MlflowClient().log_metric(run_id, "accuracy", value)
    return value


def _challenger(adapter, full_name: str) -> str:
    from lakegate.promotion import registry_tags

    version = adapter.get_version_by_alias(full_name, registry_tags.CHALLENGER)
    if version is None:
        raise DemoFailed(f"{full_name} has no challenger to approve")
    return version.version
