"""Scaffolding as a new user tries it, on a throwaway copy of the examples: `new environment qa --after staging`,
`new model fraud --task regression` and `generate` give definitions that pass `check`, synthesize, render CI and
train; refusals have their exit codes and write nothing."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from .helpers import copy_examples, edit, mark_project, run_in_process, tree_digest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "environments"


digest = tree_digest


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project copy (cdktf.json marks its root) walked through new environment, new model and generate; the
    outcome of every step is kept for the tests below."""
    root = tmp_path_factory.mktemp("project")
    mark_project(root)
    shutil.copy(ROOT / "README.md", root / "README.md")
    (root / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "first-deploy.md", root / "docs" / "first-deploy.md")
    shutil.copy(ROOT / "RULES.md", root / "RULES.md")
    defs = copy_examples(root / "environments")
    folder = ("--environments", str(defs))
    steps = {"new_environment": run_in_process("new", "environment", "qa", "--after", "staging", "--json", *folder)}
    steps["check_after_environment"] = run_in_process("check", *folder)
    steps["again"] = run_in_process("new", "environment", "qa", "--after", "staging", *folder)
    steps["new_model"] = run_in_process("new", "model", "fraud", "--task", "regression", *folder)
    steps["check_after_model"] = run_in_process("check", *folder)
    steps["stale"] = run_in_process("generate", "--check", "--root", str(root), *folder)
    steps["generate"] = run_in_process("generate", "--root", str(root), *folder)
    steps["generate_check"] = run_in_process("generate", "--check", "--root", str(root), *folder)
    steps["ci_check"] = run_in_process("ci", "render", "--check", "--root", str(root), *folder)
    steps["docs_check"] = run_in_process("docs", "--check")
    steps["check_at_the_end"] = run_in_process("check", *folder)
    return root, defs, steps


def test_new_environment_passes_check_at_once(project):
    _, defs, steps = project
    created = steps["new_environment"]
    assert created.returncode == 0, created.stderr
    report = json.loads(created.stdout)
    assert report["ok"] and report["created"] == [str(defs / "qa.yaml")]
    assert {c["path"] for c in report["changes"]} >= {"name", "azure.resource_group", "state.container",
                                                      "storage.account_name", "workspace.name", "workspace.id",
                                                      "unity_catalog.catalog", "workspace.vnet.cidr", "promotion.from"}
    check = steps["check_after_environment"]
    assert check.returncode == 0, check.stderr
    assert "4 environment(s) valid: dev, staging, qa, prod" in check.stdout


def test_every_isolated_value_is_the_new_environments_own(project):
    from lakegate.infra.loader import load_environments

    _, defs, _ = project
    envs = load_environments(defs)
    qa, staging = envs["qa"], envs["staging"]
    assert (qa.azure.resource_group, qa.state.container, qa.storage.account_name, qa.workspace.name) == (
        "rg-lakegate-qa", "tfstate-qa", "stlakegateqa", "dbw-lakegate-qa")
    assert qa.workspace.id is None and qa.production is False
    assert qa.unity_catalog.catalog == "qa" and qa.service_principal == "sp-lakegate-qa"
    assert {str(g.on) for g in qa.grants} == {str(g.on).replace("staging", "qa") for g in staging.grants}
    assert "sp-lakegate-staging" not in (defs / "qa.yaml").read_text()
    oidc = qa.principals.service_principal.ci_oidc
    assert (oidc.github.environment, oidc.azure_devops.service_connection) == ("qa", "lakegate-qa")
    vnet = qa.workspace.vnet
    assert (vnet.cidr, vnet.public_subnet, vnet.private_subnet) == ("10.21.0.0/16", "10.21.0.0/22", "10.21.4.0/22")
    assert [e.name for e in envs] == ["dev", "staging", "qa", "prod"]
    assert (qa.promotion.from_env, envs["prod"].promotion.from_env) == ("staging", "qa")


def test_the_follower_is_rewired_in_place_and_comments_are_kept(project):
    _, defs, _ = project
    before = (EXAMPLES / "prod.yaml").read_text().splitlines()
    after = (defs / "prod.yaml").read_text().splitlines()[: len(before)]  # fraud is appended below
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert changed == [("  from: staging", "  from: qa")]
    staging = (EXAMPLES / "staging.yaml").read_text()
    qa = (defs / "qa.yaml").read_text()
    comments = [line.strip() for line in staging.splitlines() if line.strip().startswith("#")]
    assert comments and all(comment in qa for comment in comments)
    assert "# id: the `workspace_id` output of qa-azure" in qa


def test_a_second_run_refuses_and_writes_nothing(project):
    _, _, steps = project
    again = steps["again"]
    assert again.returncode == 2
    assert "qa.yaml: environment 'qa' already exists" in again.stderr


def test_the_new_environment_synthesizes(project, tmp_path):
    from lakegate.infra.loader import load_environments
    from lakegate.infra.synth import synthesize

    _, defs, _ = project
    result = synthesize(load_environments(defs), tmp_path / "cdktf.out", only=["qa"])
    assert {"qa-azure", "qa-databricks", "account"} <= set(result.stacks)
    backend = result.stacks["qa-azure"]["terraform"]["backend"]["azurerm"]
    assert backend["container_name"] == "tfstate-qa"
    groups = [r["name"] for r in result.stacks["account"]["resource"]["azurerm_resource_group"].values()]
    assert groups.count("rg-lakegate-qa") == 1 and groups.count("rg-lakegate-staging") == 1


def test_new_model_passes_check_and_its_stub_trains(project):
    from lakegate.infra.loader import load_environments
    from lakegate.pipelines.user_code import FeatureContext

    root, defs, steps = project
    assert steps["new_model"].returncode == 0, steps["new_model"].stderr
    assert steps["check_after_model"].returncode == 0, steps["check_after_model"].stderr
    envs = load_environments(defs)
    assert all("fraud" in env.models for env in envs)
    policies = {env.name: env.policy("fraud") for env in envs}
    assert policies["dev"].code == "models/fraud.py" and policies["dev"].task == "regression"
    assert [g.gate_id for g in policies["prod"].gates if getattr(g, "metric", None)] and \
        all(getattr(g, "metric", "rmse") in ("rmse", "mae", "r2") for env in envs for g in policies[env.name].gates)
    assert "approval" in [g.type for g in policies["prod"].gates]
    assert "approval" not in [g.type for g in policies["staging"].gates]
    spec = importlib.util.spec_from_file_location("fraud_stub", root / "models" / "fraud.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.features(FeatureContext("prod"))
    assert {"fraud_id", "target"} <= set(frame.columns)
    model, metrics = module.fit(frame.drop(columns=["fraud_id"]), {"alpha": "1.0"})
    # The thresholds new model wrote for prod (r2 >= 0.85, rmse <= 2.5): the stub can be promoted.
    assert metrics["r2"] >= 0.85 and metrics["rmse"] <= 2.5, metrics
    assert len(model.predict(frame[module.FEATURES].head(3))) == 3


def test_generate_regenerates_everything_derived(project):
    root, _, steps = project
    stale = steps["stale"]
    assert stale.returncode == 10
    assert ".github/workflows/deploy-qa.yml is out of date" in stale.stderr and "docs/first-deploy.md is out of date" in stale.stderr
    assert steps["generate"].returncode == 0, steps["generate"].stderr
    assert steps["generate_check"].returncode == 0, steps["generate_check"].stderr
    assert steps["ci_check"].returncode == 0, steps["ci_check"].stderr
    assert steps["docs_check"].returncode == 0, steps["docs_check"].stderr
    assert steps["check_at_the_end"].returncode == 0, steps["check_at_the_end"].stderr
    readme = (root / "docs" / "first-deploy.md").read_text()
    assert "cdktf deploy qa-azure qa-databricks --ignore-missing-stack-dependencies" in readme
    assert (root / ".github" / "workflows" / "deploy-qa.yml").is_file() and (root / "RULES.md").is_file()


def test_the_first_deploy_pages_deploy_block_is_generated_from_the_projects_environments():
    # The project's own folder (a user's added environments included): current once `generate` ran.
    from lakegate.infra.loader import load_environments
    from lakegate.infra.scaffold.deploy_block import with_deploy_commands

    readme = (ROOT / "docs" / "first-deploy.md").read_text()
    assert with_deploy_commands(readme, load_environments(ROOT / "environments")) == readme, \
        "run `python main.py generate`"


# -- refusals: each with its exit code, nothing written ----------------------------------------------------------

@pytest.mark.parametrize("args, code, message", [
    (("new", "environment", "QA", "--after", "staging"), 64, "'QA' is not a valid environment name"),
    (("new", "environment", "uat", "--after", "stagin"), 6, "unknown environment 'stagin' (did you mean staging?)"),
    (("new", "environment", "dev", "--after", "staging"), 2, "environment 'dev' already exists"),
    (("new", "model", "Fraud", "--task", "regression"), 64, "'Fraud' is not a valid model name"),
    (("new", "model", "fraud", "--task", "ranking"), 64, "invalid choice: 'ranking'"),
    (("new", "model", "churn", "--task", "classification"), 2, "model 'churn' already exists"),
    (("new", "model", "fraud", "--task", "regression", "--code-dir", "/"), 6, "is outside the project"),
])
def test_refusals(defs, args, code, message):
    mark_project(defs.parent)
    before = digest(defs.parent)
    result = run_in_process(*args, "--environments", str(defs))
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert digest(defs.parent) == before


def test_an_invalid_folder_is_refused_with_the_loaders_problems(defs):
    edit(defs / "dev.yaml", "catalog: dev", "catalog: Dev")
    before = digest(defs.parent)
    result = run_in_process("new", "environment", "qa", "--after", "staging", "--environments", str(defs))
    assert result.returncode == 2
    assert "dev.yaml:36: unity_catalog.catalog" in result.stderr
    assert digest(defs.parent) == before


def test_a_failing_check_after_writing_restores_every_file(defs):
    # prod already uses the workspace name uat would get: the whole folder is checked after writing, refused,
    # and every file (the new one and prod.yaml, which was rewired) is back as it was.
    edit(defs / "prod.yaml", "name: dbw-lakegate-prod", "name: dbw-lakegate-uat")
    before = digest(defs.parent)
    result = run_in_process("new", "environment", "uat", "--after", "staging", "--environments", str(defs))
    assert result.returncode == 2
    assert "workspace 'dbw-lakegate-uat' is already used" in result.stderr and "nothing written" in result.stderr
    assert digest(defs.parent) == before and not (defs / "uat.yaml").exists()


# -- the text editing underneath ---------------------------------------------------------------------------------

def test_spans_locate_values_and_keys_in_characters(tmp_path):
    from lakegate.infra.scaffold.text import Document

    path = tmp_path / "x.yaml"
    path.write_bytes("# é comment\nname: café  # kept\nacls: {sp-a: READ, b: MANAGE}\nid: 12\nz: 1\r\n".encode())
    doc = Document(path, "x.yaml")
    doc.set(("name",), "thé")
    doc.rename_key(("acls", "sp-a"), "sp-b")
    doc.remove(("id",))
    doc.remove(("acls", "b"))
    assert doc.rendered() == "# é comment\nname: \"thé\"  # kept\nacls: {sp-b: READ}\nz: 1\r\n"


@pytest.mark.parametrize("value, text", [("plain", "plain"), ("yes", '"yes"'), ("1.0", '"1.0"'), ("a: b", '"a: b"'),
                                         ("x, y", '"x, y"'), (True, "true"), (0.8, "0.8")])
def test_scalars_read_back_as_written(value, text):
    import yaml

    from lakegate.infra.scaffold.text import scalar

    assert scalar(value) == text and yaml.safe_load(f"k: {text}")["k"] == value


def test_a_model_starts_a_models_section_where_there_is_none(defs):
    mark_project(defs.parent)
    dev = (defs / "dev.yaml").read_text()
    (defs / "dev.yaml").write_text(dev[: dev.index("# The models dev holds")])
    staging = (defs / "staging.yaml").read_text()
    (defs / "staging.yaml").write_text(staging[: staging.index("# The models staging holds")] + "models: {}\n")
    result = run_in_process("new", "model", "risk", "--task", "classification", "--environments", str(defs))
    assert result.returncode == 0, result.stderr
    from lakegate.infra.loader import load_environments

    envs = load_environments(defs)
    assert [list(env.models) for env in envs] == [["risk"], ["risk"], ["churn", "demand", "risk"]]
    assert (defs / "dev.yaml").read_text().endswith("# The models dev holds.\nmodels:\n  risk:\n"
                                                   "    description: What risk predicts (describe it here)\n"
                                                   "    task: classification\n    code: models/risk.py\n"
                                                   "    features: {table: features.risk_features, key: risk_id}\n"
                                                   "    label: target\n    training:\n      parameters: {C: \"1.0\"}\n"
                                                   "    evaluation: {metrics: [accuracy, f1, precision, recall, roc_auc]}\n"
                                                   "    serving:\n      scale_to_zero: true\n"
                                                   "    batch: {output_table: predictions.risk_predictions}\n")
    assert "models: {}" not in (defs / "staging.yaml").read_text()
    assert (defs.parent / "models" / "risk.py").read_text().startswith('"""risk: which class a row belongs to')


def test_after_an_environment_without_a_source_promotion_from_is_added(defs):
    from lakegate.infra.loader import load_environments
    from lakegate.infra.model import Environment
    from lakegate.infra.scaffold.environment import plan_environment
    from lakegate.infra.yaml_source import load_yaml

    written = plan_environment(defs, load_environments(defs), "sandbox", "dev", production=True)
    text = written.files[defs / "sandbox.yaml"]
    assert "promotion:\n  from: dev\n  evaluation: {table: \"holdout.{model}_validation\"}\n  gates:" in text
    assert "\nproduction: true\n" in text
    assert set(written.files) == {defs / "sandbox.yaml", defs / "staging.yaml"}   # staging now promotes from sandbox
    (defs / "sandbox.yaml").write_text(text)
    data, _, problems = load_yaml(defs / "sandbox.yaml", "sandbox.yaml")
    env = Environment.model_validate(data)
    assert problems == [] and env.production and env.promotion.from_env == "dev" and env.state.backend == "local"


def test_a_refused_model_leaves_no_stub_and_no_folder(defs):
    # demand's endpoint in dev is already called what fraud's would be: written, refused by the check, and every
    # file back as it was, models/ (created for the stub) gone again.
    mark_project(defs.parent)
    edit(defs / "dev.yaml", "      consumers: [data-scientists, ml-engineers]\n    batch: {output_table: predictions.demand",
         "      consumers: [data-scientists, ml-engineers]\n      endpoint: fraud-dev\n"
         "    batch: {output_table: predictions.demand")
    before = digest(defs.parent)
    result = run_in_process("new", "model", "fraud", "--task", "regression", "--environments", str(defs))
    assert result.returncode == 2, result.stderr
    assert "serving endpoint 'fraud-dev' is declared twice" in result.stderr and "nothing written" in result.stderr
    assert digest(defs.parent) == before and not (defs.parent / "models").exists()


def test_explicit_endpoint_names_are_made_the_new_environments(defs):
    edit(defs / "staging.yaml", "    serving:\n      scale_to_zero: true\n      consumers: [ml-engineers]\n    batch: "
         "{output_table: predictions.demand", "    serving:\n      endpoint: demand-staging-api\n      scale_to_zero: "
         "true\n      consumers: [ml-engineers]\n    batch: {output_table: predictions.demand")
    result = run_in_process("new", "environment", "qa", "--after", "staging", "--environments", str(defs))
    assert result.returncode == 0, result.stderr
    assert "models.demand.serving.endpoint: demand-staging-api -> demand-qa-api" in result.stdout
    assert "      endpoint: demand-qa-api\n" in (defs / "qa.yaml").read_text()


def test_after_dev_the_copys_hold_out_gets_a_schema_only_its_principal_reads(defs):
    # dev's grants are for the people who train there: judged on a schema they read, LG-UC-003 would refuse the copy.
    result = run_in_process("new", "environment", "sandbox", "--after", "dev", "--environments", str(defs))
    assert result.returncode == 0, result.stderr
    text = (defs / "sandbox.yaml").read_text()
    assert "  - {principal: sp-lakegate-sandbox, on: schema sandbox.holdout, privileges: [USE_SCHEMA, SELECT, MODIFY, " \
           "CREATE_TABLE]}\n" in text
    from lakegate.infra.loader import load_environments

    envs = load_environments(defs)
    assert envs["sandbox"].policy("churn").evaluation_table == "holdout.churn_validation"
    assert envs["staging"].promotion.from_env == "sandbox" and [e.name for e in envs][:2] == ["dev", "sandbox"]
