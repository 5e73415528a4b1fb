"""The main job: synthesize every environment, then walk a model dev -> staging -> prod on a fresh local registry.

Each step is what a CI pipeline or a person would run (`python main.py promote ...`), called in-process
so the demo pays the start-up costs once. The demo uses its own state folder (`.lakegate/demo`,
recreated each run) so it never touches a registry you started with `local up`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from infra.guardrails.runner import check_environments

from . import exit_codes, output
from .infra_commands import print_guardrails, resource_counts
from .promotion_commands import copy_progress, print_promotion, status_table

APPROVER = "head.of.ml@contoso.com"


class Walkthrough:
    """Runs the steps, records one summary row each, and stops at the first unexpected outcome."""

    def __init__(self):
        self.rows: list[list[str]] = []
        self.started = time.perf_counter()

    def step(self, title: str, expected: str, actual: str, detail: str = "") -> None:
        ok = expected == actual
        self.rows.append([str(len(self.rows) + 1), title, actual, "as expected" if ok else f"EXPECTED {expected}", detail])
        output.console.rule(f"[bold]{len(self.rows)}. {title}[/bold]: {actual}")
        if not ok:
            raise DemoFailed(f"step {len(self.rows)} ({title}) ended {actual}, expected {expected}")


class DemoFailed(Exception):
    pass


def run_demo(args, envs) -> int:
    from promotion.local.server import LocalRegistry

    walk = Walkthrough()
    state_dir = Path(args.state_dir) / "demo"
    registry = LocalRegistry(state_dir)
    registry.down()  # a previous demo interrupted hard may have left its server running
    shutil.rmtree(state_dir, ignore_errors=True)
    try:
        synthesize_all(walk, envs)
        walk_model(walk, envs, registry)
    except DemoFailed as failure:
        output.fail(str(failure))
        return exit_codes.UNEXPECTED
    finally:
        registry.down()
    output.console.print(output.table(f"Demo finished in {time.perf_counter() - walk.started:.1f} s "
                                      f"(audit logs kept in {state_dir / 'audit'})",
                                      ["#", "step", "outcome", "check", "details"], walk.rows))
    return exit_codes.OK


def synthesize_all(walk: Walkthrough, envs) -> None:
    from infra.synth import synthesize

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


def walk_model(walk: Walkthrough, envs, registry) -> None:
    from examples.train import train_and_register
    from promotion.api import approve, promote, rollback, status, verify_audit
    from promotion.local import secret_file
    from promotion.local_access import derive_local_plan

    started = registry.up(derive_local_plan(envs))
    walk.step("start the local registry", "running", started.state,
              f"{started.url}, ready in {started.ready_seconds or 0:.1f} s, {len(started.changes)} provisioning changes")
    dev, staging, prod = envs.names[0], envs.names[1], envs.names[2]
    model = envs[dev].unity_catalog.models[0].name
    factory = lambda env_name: registry.adapter(envs[env_name].service_principal)  # noqa: E731
    audit = registry.state_dir / "audit"
    dev_sp = envs[dev].service_principal
    password = secret_file.user_password(registry.state_dir, dev_sp)

    def train(quality: str, seed: int):
        trained = train_and_register(registry.url, dev_sp, password, envs[dev].unity_catalog.model_full_name(model),
                                     quality=quality, seed=seed)
        walk.step(f"train a {quality} model in {dev} as {dev_sp}", "registered", "registered",
                  f"{trained.model} v{trained.version}, accuracy {trained.metrics['accuracy']:.3f}")
        return trained

    def promote_to(target: str, version: str | None = None, expected: str = "champion"):
        source_alias = None if target == staging else "champion"
        with copy_progress(True) as progress:
            result = promote(envs, model, target, adapter_factory=factory, audit_dir=audit,
                             version=version if target == staging else None, alias=source_alias, progress=progress)
        print_promotion(result)
        failed = ", ".join(f"{g.gate_id} ({g.message})" for g in result.failed_gates)
        walk.step(f"promote {result.source_model} v{result.source_version} to {target} as "
                  f"{envs[target].service_principal}", expected, result.outcome,
                  failed or f"{result.model} v{result.version}, {len(result.gates)} gates passed, {result.seconds:.2f} s")
        return result

    first = train("good", seed=7)
    promote_to(staging, first.version)
    poor = train("poor", seed=7)
    promote_to(staging, poor.version, expected="gate_failed")
    promote_to(prod, expected="approval_missing")
    prod_version = _challenger(factory(prod), envs[prod].unity_catalog.model_full_name(model))
    approval = approve(envs, model, prod, prod_version, APPROVER, adapter_factory=factory, audit_dir=audit)
    walk.step(f"approve {approval.model} v{approval.version}", "approved", "approved", f"by {approval.approved_by}")
    promote_to(prod)

    second = train("good", seed=11)
    promote_to(staging, second.version)
    promote_to(prod, expected="approval_missing")
    prod_version = _challenger(factory(prod), envs[prod].unity_catalog.model_full_name(model))
    approval = approve(envs, model, prod, prod_version, APPROVER, adapter_factory=factory, audit_dir=audit)
    walk.step(f"approve {approval.model} v{approval.version}", "approved", "approved", f"by {approval.approved_by}")
    promote_to(prod)

    back = rollback(envs, model, prod, adapter_factory=factory, audit_dir=audit)
    walk.step(f"roll back {back.model}", "rolled back", "rolled back", f"champion v{back.from_version} -> v{back.to_version}")
    verified = verify_audit(audit)
    walk.step("verify the audit logs", "intact", "intact" if verified.ok else "broken",
              ", ".join(f"{env}: {n} entries" for env, n in verified.checked.items()))
    output.console.print(status_table(status(envs, factory)))
    stopped = registry.down()
    walk.step("stop the local registry", "stopped", stopped.state)


def _challenger(adapter, full_name: str) -> str:
    from promotion import aliases

    version = adapter.get_version_by_alias(full_name, aliases.CHALLENGER)
    if version is None:
        raise DemoFailed(f"{full_name} has no challenger to approve")
    return version.version
