"""Databricks guardrails: each rule fires on its failing variant and not on the examples (the exact set of
ids, checkov-style); references between sections are checked when the YAML loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakegate.infra.errors import DefinitionError
from lakegate.infra.guardrails.packs import DEFAULT
from lakegate.infra.guardrails.runner import check_environments
from lakegate.infra.loader import load_environments
from lakegate.infra.model import Environments

from .helpers import EXAMPLES, copy_examples, edit, line_of, variant

DATABRICKS_RULES = {"LG-PROD-006", "LG-PROD-007", "LG-PROD-008", "LG-PROD-009", "LG-UC-001", "LG-COMPUTE-001",
                    "LG-COMPUTE-002", "LG-JOB-001", "LG-JOB-002"}


def fired(report) -> set[str]:
    return {f.tag for f in report.findings if f.status != "waived"}


def dumped(env, section: str) -> list[dict]:
    return [item.model_dump(by_alias=True) for item in getattr(env, section)]


def with_grant(envs, name: str, principal: str, on: str, privileges: list[str]):
    grants = dumped(envs[name], "grants") + [{"principal": principal, "on": on, "privileges": privileges}]
    return variant(envs, name, grants=grants)


def with_member(envs, name: str, group: str, member: str):
    principals = envs[name].principals.model_dump()
    principals["groups"][group]["members"].append(member)
    return variant(envs, name, principals=principals)


def with_model(envs, name: str, model: str, **changes):
    """One model's declaration changed (nested sections updated key by key)."""
    models = {k: v.model_dump(by_alias=True, exclude_unset=True) for k, v in envs[name].models.items()}
    for key, value in changes.items():
        current = models[model].get(key)
        models[model][key] = {**current, **value} if isinstance(value, dict) and isinstance(current, dict) else value
    return variant(envs, name, models=models)


def with_custom_job(envs, name: str, job: str, *, task: dict | None = None, **changes):
    """A hand-written job in workflows.jobs: a copy of `job` (a model's own) named `adhoc-<step>`, changed; `task`
    changes its first task (`python_file=None, notebook=...` turns it into a notebook task)."""
    entry = envs[name].job(job).model_dump(by_alias=True)
    entry.update(name="adhoc-" + job.split("-", 1)[1], moved_from=None, **changes)
    if task:
        entry["tasks"][0] = entry["tasks"][0] | task
    jobs = envs[name].workflows.model_dump(by_alias=True)["jobs"] + [entry]
    return variant(envs, name, workflows={"jobs": jobs})


def prod_with_adhoc_cluster(envs):
    compute = envs["prod"].compute.model_dump()
    compute["allow_all_purpose"] = True
    compute["policies"].append({"name": "prod-adhoc", "node_types": ["Standard_D8ds_v5"], "max_workers": 4,
                                "auto_termination_minutes": 30, "spark_version": "17.3.x-cpu-ml-scala2.13"})
    compute["clusters"] = [{"name": "adhoc", "policy": "prod-adhoc", "node_type": "Standard_D8ds_v5",
                            "users": ["ml-engineers"]}]
    return variant(envs, "prod", compute=compute)


def test_rules_are_registered_once_with_metadata():
    rules = {r.id: r for r in DEFAULT}
    assert DATABRICKS_RULES <= set(rules)
    for rule_id in DATABRICKS_RULES:
        assert rules[rule_id].info and len(rules[rule_id].explanation) > 40
        assert rules[rule_id].production_only == rule_id.startswith("LG-PROD-")


def test_examples_pass_every_databricks_rule(envs):
    # Production rules do not apply elsewhere: dev has an all-purpose cluster, dev and staging endpoints
    # scale to zero, data scientists write dev's feature schema.
    assert envs["dev"].compute.clusters and envs["staging"].endpoints[0].scale_to_zero
    assert fired(check_environments(envs)) == set()


CASES = [
    ("LG-PROD-006 cluster", prod_with_adhoc_cluster, {"LG-PROD-006[cluster=adhoc]"}),
    ("LG-PROD-006 allowed", lambda e: variant(e, "prod", compute={"allow_all_purpose": True}),
     {"LG-PROD-006[compute.allow_all_purpose=true]"}),
    ("LG-PROD-007 declared", lambda e: with_grant(e, "prod", "ml-engineers", "schema prod.features", ["SELECT", "MODIFY"]),
     {"LG-PROD-007[group=ml-engineers,schema=prod.features]"}),
    # Declared in dev.yaml, on prod's catalog: it is prod's data, so the prod rule sees it.
    ("LG-PROD-007 from dev", lambda e: with_grant(e, "dev", "data-scientists", "catalog prod", ["CREATE_SCHEMA"]),
     {"LG-PROD-007[group=data-scientists,catalog=prod]"}),
    ("LG-PROD-008", lambda e: with_model(e, "prod", "churn", serving={"scale_to_zero": True}),
     {"LG-PROD-008[endpoint=churn]"}),
    ("LG-PROD-009", lambda e: with_grant(e, "prod", "account users", "schema prod.predictions", ["USE_SCHEMA", "SELECT"]),
     {"LG-PROD-009[schema=prod.predictions]"}),
    # (The loader refuses a grant declared in one file on another environment's catalog; these variants bypass
    # it to show the rules hold on their own.)
    ("LG-UC-001", lambda e: with_grant(e, "prod", "sp-lakegate-prod", "schema staging.ml", ["USE_SCHEMA", "CREATE_MODEL"]),
     {"LG-UC-001[schema=staging.ml]", "LG-ACCESS-001[schema=staging.ml]"}),
    ("LG-ACCESS-001 read beyond the promotion path",
     lambda e: with_grant(e, "prod", "sp-lakegate-prod", "schema staging.features", ["USE_SCHEMA", "SELECT"]),
     {"LG-ACCESS-001[schema=staging.features]"}),
    ("LG-ACCESS-001 through a group", lambda e: with_member(e, "prod", "ml-engineers", "sp-lakegate-dev"),
     # ml-engineers is one account group: the principal gets its grants in staging and prod alike.
     {"LG-ACCESS-001[group=ml-engineers,catalog=prod]", "LG-ACCESS-001[group=ml-engineers,catalog=staging]",
      *(f"LG-UC-003[principal=ml-engineers,holdout={table}]" for table in (
          "prod.holdout.churn_validation", "prod.holdout.demand_validation", "staging.features.churn_validation",
          "staging.features.demand_validation"))}),
    ("LG-COMPUTE-001 never", lambda e: variant(e, "dev", compute={"clusters": [
        dumped(e["dev"].compute, "clusters")[0] | {"auto_termination_minutes": 0}]}), {"LG-COMPUTE-001[cluster=exploration]"}),
    ("LG-COMPUTE-001 over policy", lambda e: variant(e, "dev", compute={"clusters": [
        dumped(e["dev"].compute, "clusters")[0] | {"auto_termination_minutes": 240}]}), {"LG-COMPUTE-001[cluster=exploration]"}),
    ("LG-COMPUTE-001 warehouse", lambda e: variant(e, "staging", sql_warehouses=[
        w | {"auto_stop_minutes": 0} for w in dumped(e["staging"], "sql_warehouses")]), {"LG-COMPUTE-001[warehouse=lakegate-staging]"}),
    ("LG-JOB-001 person", lambda e: with_custom_job(e, "dev", "churn-train", run_as="ana.silva@contoso.com"),
     {"LG-JOB-001[job=adhoc-train]"}),
    ("LG-JOB-001 other sp", lambda e: with_custom_job(e, "staging", "churn-deploy", run_as="sp-lakegate-prod"),
     {"LG-JOB-001[job=adhoc-deploy]"}),
    ("LG-JOB-002 python file", lambda e: with_custom_job(e, "prod", "churn-train",
                                                         task={"python_file": "pipelines/training/train_fraud.py"}),
     {"LG-JOB-002[job=adhoc-train,task=train,file=pipelines/training/train_fraud.py]"}),
    # The notebook the examples ran before this repository held them: a deployed job failed on its first run.
    ("LG-JOB-002 notebook", lambda e: with_custom_job(e, "dev", "churn-train", task={
        "python_file": None, "notebook": "pipelines/training/train_churn_nb"}),
     {"LG-JOB-002[job=adhoc-train,task=train,notebook=pipelines/training/train_churn_nb]"}),
    # A .py that exists but is no Databricks notebook: a notebook task cannot run it.
    ("LG-JOB-002 not a notebook", lambda e: with_custom_job(e, "staging", "churn-train", task={
        "python_file": None, "notebook": "pipelines/training/train"}),
     {"LG-JOB-002[job=adhoc-train,task=train,notebook=pipelines/training/train (no `# Databricks notebook source` line)]"}),
]


@pytest.mark.parametrize("build,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_fires(envs, build, expected):
    assert fired(check_environments(build(envs))) == expected


NOT_FIRING = [
    ("write grant for a non-human group in prod",
     lambda e: with_grant(e, "prod", "crm-scoring", "schema prod.predictions", ["USE_SCHEMA", "SELECT", "MODIFY"])),
    ("human write grant outside prod", lambda e: with_grant(e, "staging", "ml-engineers", "schema staging.features", ["MODIFY"])),
    ("the promotion target reading its source's models", lambda e: e),
    ("account users outside prod", lambda e: with_grant(e, "dev", "account users", "catalog dev", ["BROWSE"])),
    ("explicit run_as of the own service principal", lambda e: with_custom_job(e, "dev", "churn-train",
                                                                                run_as="sp-lakegate-dev")),
    ("cluster stops sooner than its policy", lambda e: variant(e, "dev", compute={"clusters": [
        dumped(e["dev"].compute, "clusters")[0] | {"auto_termination_minutes": 15}]})),
    ("a notebook of this repository in Databricks source format",
     lambda e: with_custom_job(e, "dev", "churn-train", task={"python_file": None,
                                                              "notebook": "pipelines/monitoring/refresh_monitor"})),
    ("workspace paths when the job has no code source",
     lambda e: variant(with_custom_job(e, "dev", "churn-train", task={"python_file": None,
                                                                      "notebook": "/Workspace/Shared/somewhere"}),
                       "dev", workflows={"code": None})),
]


@pytest.mark.parametrize("build", [c[1] for c in NOT_FIRING], ids=[c[0] for c in NOT_FIRING])
def test_rule_does_not_fire(envs, build):
    assert fired(check_environments(build(envs))) == set()


def test_a_policy_that_never_terminates_fires(envs):
    """The model refuses such a policy from YAML; a model built in code is still checked (defence in depth)."""
    dev = envs["dev"]
    policy = dev.compute.policies[0].model_copy(update={"auto_termination_minutes": 0})
    changed = dev.model_copy(update={"compute": dev.compute.model_copy(update={"policies": [policy]})})
    changed._source = dev._source
    report = check_environments(Environments([changed if e.name == "dev" else e for e in envs]))
    assert fired(report) == {"LG-COMPUTE-001[policy=dev-small]", "LG-COMPUTE-001[cluster=exploration]"}


def test_account_users_in_prod_pass_with_a_waiver(envs):
    changed = with_grant(envs, "prod", "account users", "schema prod.predictions", ["USE_SCHEMA", "SELECT"])
    waiver = {"id": "LG-PROD-009", "applies_to": "schema=prod.predictions", "approved_by": "ciso@contoso.com",
              "reason": "Churn scores are published to every analyst by decision of the data council"}
    report = check_environments(variant(changed, "prod", waivers=[waiver]))
    assert report.passed and fired(report) == set()
    (finding,) = report.waived
    assert finding.tag == "LG-PROD-009[schema=prod.predictions]"


def test_check_command_fails_with_the_rule_id(tmp_path):
    defs = copy_examples(tmp_path / "environments")
    edit(defs / "prod.yaml", "scale_to_zero: false", "scale_to_zero: true")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    result = subprocess.run([sys.executable, str(EXAMPLES.parents[2] / "main.py"), "check", "--environments", str(defs)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "LG-PROD-008[endpoint=churn]" in result.stdout + result.stderr


# --- references between sections, checked when the YAML loads (located at the section's line) ----------

REFERENCE_ERRORS = [
    # (file, old text, new text, the field path reported, the message, the line it points at)
    ("prod.yaml", "train: {moved_from: train, cluster: {node_type: Standard_D16ds_v5",
     "train: {moved_from: train, cluster: {policy: prod-nope, node_type: Standard_D16ds_v5", "models.churn.jobs.train",
     "job 'churn-train' cluster 'main': unknown policy 'prod-nope'", r"^      train: \{moved_from"),
    ("prod.yaml", "node_type: Standard_D16ds_v5, min_workers: 4, max_workers: 20",
     "node_type: Standard_D16ds_v5, min_workers: 4, max_workers: 40", "models.churn.jobs.train",
     "job 'churn-train' cluster 'main': max_workers 40 exceeds policy limit 20", r"^      train: \{moved_from"),
    ("dev.yaml", "batch: {output_table: predictions.churn_scores}", "batch: {output_table: scores.churn_scores}",
     "models.churn.jobs.batch-inference",
     "job 'churn-batch-inference' output_table: schema 'scores' is not one of unity_catalog.schemas",
     r"^      batch-inference: \{moved_from"),
    ("dev.yaml", "      train: {moved_from: train,", "      trian: {moved_from: train,", "models.churn.jobs",
     "unknown step 'trian' (did you mean train?)", r"^    jobs:"),
    ("prod.yaml", "consumers: [crm-scoring, ml-engineers]\n    batch: {output_table: predictions.churn_scores}",
     "consumers: [crm-scoring, data-scientists]\n    batch: {output_table: predictions.churn_scores}",
     "models.churn.serving",
     "serving endpoint 'churn' consumers: group 'data-scientists' has no entitlements, so it is not assigned to this "
     "workspace", r"^    serving:\n"),
    ("staging.yaml", "secret_scopes:", "serving: [{name: fraud-staging, model: fraud}]\nsecret_scopes:", "serving",
     "serving endpoint 'fraud-staging': model 'fraud' is not one of the environment's models", r"^serving:"),
    ("dev.yaml", "acls: {sp-lakegate-dev: READ", "acls: {sp-lakegate-prod: READ", "secret_scopes",
     "secret scope 'lakegate-ml' acls: unknown principal 'sp-lakegate-prod'", r"^secret_scopes:"),
    ("prod.yaml", "      users: [ml-engineers]\n      cluster_type: job", "      users: [data-scientists]\n      cluster_type: job",
     "compute", "policy 'prod-jobs' users: group 'data-scientists' has no entitlements", r"^compute:"),
    ("prod.yaml", "name: landing, container: landing", "name: landing, container: raw", "unity_catalog",
     "external location 'landing': container 'raw' is not one of storage.containers", r"^unity_catalog:"),
]


@pytest.mark.parametrize("file,old,new,path,message,line", REFERENCE_ERRORS, ids=[r[4][:40] for r in REFERENCE_ERRORS])
def test_broken_references_are_located(tmp_path, file, old, new, path, message, line):
    defs = copy_examples(tmp_path / "environments")
    edit(defs / file, old, new)
    with pytest.raises(DefinitionError) as caught:
        load_environments(defs)
    # (the broken environment is left out, so others' references to it are reported too)
    (problem,) = [p for p in caught.value.problems if p.file.endswith(file)]
    assert problem.path == path and message in problem.message
    text = (defs / file).read_text()
    import re

    found = re.search(line, text, re.MULTILINE)
    if path == "models.churn.serving":  # churn's serving block, not demand's
        found = list(re.finditer(line, text, re.MULTILINE))[0]
    assert problem.line == text[:found.start()].count("\n") + 1
