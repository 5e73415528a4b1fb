"""`ci simulate`: the steps of the rendered pipelines, in order, run on this machine against the local registry.

The pull-request path runs end to end for real (check, synth into a temp folder, local up in a temp state
folder, the feature data the training job reads, the smoke training, local down); `make test` is skipped
(`--skip tests`: the suite must not run itself). The deploy events are listed (`--list`), which walks the same
code without running the registry, and checked step by step against the rendered workflows.
"""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from lakegate.ci import github
from lakegate.ci.plan import build_plan
from lakegate.cli.app import main


def simulate(capsys, *args: str) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["ci", "simulate", *args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def by_step(result: dict) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in result["steps"]]


def test_the_pull_request_path_runs_end_to_end_on_the_local_registry(capsys):
    code, result, err = simulate(capsys, "--event", "pull_request", "--skip", "tests")
    assert "Traceback" not in err
    assert result["workflows"] == ["pull request"]
    assert by_step(result) == [
        ("checkout", "skipped"), ("python", "skipped"), ("terraform", "skipped"), ("install", "skipped"),
        ("check", "ran"), ("pipelines", "ran"), ("synth", "ran"),
        ("tests", "skipped"), ("local-up", "ran"), ("data-churn-feature-refresh", "ran"), ("smoke-churn-train", "ran"),
        ("data-demand-feature-refresh", "ran"), ("smoke-demand-train", "ran"), ("local-down", "ran")], err[-3000:]
    assert code == 0 and result["ok"]
    steps = {s["step"]: s for s in result["steps"]}
    assert steps["tests"]["reason"] == "--skip tests"
    temp = result["temp_dir"]
    assert steps["synth"]["command"][-2:] == ["--out", f"{temp}/cdktf.out"]            # never the checkout's
    assert steps["smoke-churn-train"]["command"][2:] == ["run", "churn-train", "--env", "dev", "--smoke", "--state-dir",
                                                         f"{temp}/lakegate"]
    assert "local registry: stopped" in err


def test_deploy_events_list_the_rendered_steps_in_order(capsys, envs):
    code, push, _ = simulate(capsys, "--event", "push", "--list")
    assert code == 0 and push["workflows"] == ["deploy dev", "deploy staging"]
    seeds = ["local-up", "seed-dev-churn-feature-refresh", "seed-dev-churn-train", "seed-dev-demand-feature-refresh",
             "seed-dev-demand-train", "seed-staging-churn-feature-refresh", "seed-staging-demand-feature-refresh"]
    assert [s["step"] for s in push["steps"] if s["local_stand_in"]] == [*seeds, "local-down"]
    staging = [s for s in push["steps"] if s["workflow"] == "deploy staging"]
    setup = [("checkout", "skipped"), ("python", "skipped"), ("terraform", "skipped"), ("install", "skipped")]
    terraform = [(f"{verb}-staging-{stack}", "skipped") for stack in ("azure", "databricks") for verb in ("init", "plan")]
    assert [(s["job"], s["step"], s["status"]) for s in staging] == [("plan", *s) for s in [
        *setup, ("check", "listed"), ("login", "skipped"), ("doctor", "skipped"), ("synth", "listed"), *terraform,
        ("upload-plan", "skipped")]] + [("deploy", *s) for s in [
        *setup, ("login", "skipped"), ("download-plan", "skipped"),
        ("apply-init-staging-azure", "skipped"), ("apply-staging-azure", "skipped"),
        ("outputs-staging-azure", "skipped"), ("apply-init-staging-databricks", "skipped"),
        ("apply-staging-databricks", "skipped"),
        ("audit-pull", "skipped"), ("promote-churn", "listed"), ("promote-demand", "listed"), ("audit-push", "skipped")]]
    reasons = {s["step"]: s["reason"] for s in staging}
    assert reasons["login"].startswith("needs the cloud: ") and reasons["apply-staging-azure"].startswith(
        "needs the cloud: applies the approved plan")
    synth = next(s for s in staging if s["step"] == "synth")
    assert synth["command"][2:6] == ["synth", "--env", "staging", "--out"]     # runs here too (into the temp folder)
    assert reasons["promote-churn"].startswith("local equivalent of a cloud step")
    promote = next(s for s in staging if s["step"] == "promote-churn")
    assert promote["ci_command"] == ".venv/bin/python main.py promote churn --to staging --registry databricks"
    assert promote["command"][2:5] == ["promote", "churn", "--to"] and "--registry" not in promote["command"]
    dev = [s for s in push["steps"] if s["workflow"] == "deploy dev"]
    assert [s["step"] for s in dev if s["status"] == "note"] == ["deploy", "promote"]   # local state; trained here
    assert push["steps"][-1]["step"] == "local-down"

    code, release, _ = simulate(capsys, "--event", "release", "--list")
    assert code == 0 and release["workflows"] == ["deploy prod"]
    assert [s["step"] for s in release["steps"] if s["local_stand_in"]] == [
        *seeds[:6], "seed-staging-demand-feature-refresh", "seed-promote-staging-churn", "seed-promote-staging-demand",
        "seed-prod-churn-feature-refresh", "seed-prod-demand-feature-refresh", "local-down"]
    prod = next(s for s in release["steps"] if s["step"] == "promote-churn")
    assert prod["ci_command"].endswith("ci promote churn --to prod --approval github --registry databricks")


@pytest.mark.parametrize("event,workflow", [("pull_request", "pull-request"), ("release", "deploy-prod")])
def test_simulate_and_render_come_from_one_plan(capsys, envs, event, workflow):
    """Every `run:` of the rendered workflow is a step simulate shows, in the same order, with the same command."""
    rendered = yaml.safe_load(github.render(build_plan(envs, "github"))[f".github/workflows/{workflow}.yml"])
    runs = [step["run"] for job in rendered["jobs"].values() for step in job["steps"] if "run" in step]
    _, result, _ = simulate(capsys, "--event", event, "--list")
    shown = [s["ci_command"] for s in result["steps"] if s["ci_command"] and not s["local_stand_in"]]
    assert shown == runs
    assert all(shlex.split(r) for r in runs)


def test_skip_names_a_step_or_is_refused(capsys):
    capsys.readouterr()
    assert main(["ci", "simulate", "--event", "push", "--skip", "nope"]) == 6
    err = capsys.readouterr().err
    assert "--skip nope: no such step" in err and "tests" in err and "Traceback" not in err


class _Result:
    def __init__(self, outcome: str, version: str = "3"):
        self.outcome, self.version, self.model = outcome, version, "prod.ml.churn"
        self.failure_kind = {"gate_failed": "GATE_FAILED", "approval_missing": "APPROVAL_MISSING"}.get(outcome)

    def refusal(self):
        from lakegate.promotion.errors import ApprovalMissing, GateFailed

        if self.outcome == "champion":
            return None
        return (ApprovalMissing if self.outcome == "approval_missing" else GateFailed)(f"{self.model} stays challenger")

    def as_dict(self):
        return {"outcome": self.outcome, "version": self.version}


@pytest.mark.parametrize("outcomes,approved,code", [
    (["approval_missing", "champion"], True, 0),        # the CI path: gates, the run's approval, champion
    (["champion"], False, 0),                           # already approved (a re-run)
    (["gate_failed"], False, 5),                        # a failed gate is never approved around
    (["approval_missing", "approval_missing"], True, 7),
])
def test_ci_promote_records_the_runs_approval_only_when_it_is_all_that_is_missing(monkeypatch, capsys, outcomes,
                                                                                  approved, code):
    from lakegate.promotion import api as promotion_api
    from lakegate.cli import ci_commands, promotion_commands

    calls = []
    monkeypatch.setattr(promotion_api, "promote", lambda *a, **k: calls.append("promote") or _Result(outcomes[
        calls.count("promote") - 1]))

    class Approval:
        model, version, approved_by, kind = "prod.ml.churn", "3", "head.of.ml@contoso.com", "github"

        def as_dict(self):
            return {}

    def approve(envs, model, env, version, **kwargs):
        calls.append(("approve", model, env, version, kwargs["ci"]))
        return Approval()

    monkeypatch.setattr(promotion_api, "approve", approve)
    monkeypatch.setattr(ci_commands, "adapter_factory", lambda args, envs: None)
    monkeypatch.setattr(ci_commands, "print_promotion", lambda result: None)
    monkeypatch.setattr(promotion_commands, "check_request", lambda args: None)
    assert main(["ci", "promote", "churn", "--to", "prod", "--approval", "github"]) == code
    assert (("approve", "churn", "prod", "3", "github") in calls) is approved
    assert calls.count("promote") == len(outcomes)
