"""Each environment deploys alone: its stacks depend only on its own azure stack and the account stack, read no
other environment's state, reference nothing that does not exist at their point of the deploy order, and the
README's deploy commands are exactly the ones that work against the manifest."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from lakegate.infra import access
from lakegate.infra.guardrails.runner import check_environments

from .helpers import variant

STATE_KEY = re.compile(r"([\w-]+)\.tfstate$")


def manifest(synthesized) -> dict:
    return json.loads((synthesized.outdir / "manifest.json").read_text())["stacks"]


def environment_of(stack: str) -> str | None:
    return None if stack == "account" else stack.rsplit("-", 1)[0]


def test_dependencies_in_the_manifest(synthesized, envs):
    stacks = manifest(synthesized)
    assert stacks["account"]["dependencies"] == []
    for env in envs:
        assert stacks[f"{env.name}-azure"]["dependencies"] == ["account"]
        assert sorted(stacks[f"{env.name}-databricks"]["dependencies"]) == ["account", f"{env.name}-azure"]
    assert set(stacks) == {"account"} | {f"{e.name}-{k}" for e in envs for k in ("azure", "databricks")}


def test_no_remote_state_crosses_environments(synthesized):
    seen = 0
    for name, body in synthesized.stacks.items():
        own = environment_of(name)
        for state in body.get("data", {}).get("terraform_remote_state", {}).values():
            config = state["config"]
            (stack,) = STATE_KEY.findall(config.get("key") or config.get("path", ""))
            assert stack in {"account", f"{own}-azure"}, f"{name} reads the state of {stack}"
            seen += 1
        if own is None:
            assert "terraform_remote_state" not in body.get("data", {}), "the account stack reads nobody's state"
    # Each databricks stack reads exactly two: its azure stack and the account stack.
    assert seen == 2 * len([s for s in synthesized.stacks if s.endswith("-databricks")])


def test_the_account_state_holds_no_secret(stack, envs):
    account = stack("account")
    outputs = account["output"]
    assert set(outputs) == {f"application_id_{e.name}" for e in envs}
    assert not any(o.get("sensitive") for o in outputs.values())
    # Application (client) ids: references to the Entra applications it creates, not credentials.
    assert all(re.fullmatch(r"\$\{azuread_application\.[\w-]+\.client_id\}", o["value"]) for o in outputs.values())
    assert not [t for t in account["resource"] if re.search(r"password|secret|certificate|key$", t)]


# -- the documented deploy commands (docs/first-deploy.md) -------------------------------------------------------

def readme_deploy_commands(root) -> list[list[str]]:
    text = (root / "docs" / "first-deploy.md").read_text()
    block = text.split("<!-- BEGIN DEPLOY COMMANDS")[1].split("<!-- END DEPLOY COMMANDS -->")[0]
    return [shlex.split(line)[2:] for line in block.splitlines() if line.startswith("cdktf deploy ")]


def test_readme_deploy_commands_work_against_the_manifest(synthesized, root):
    """What the cdktf CLI does with each command: without --ignore-missing-stack-dependencies it refuses a stack
    whose dependency is not in the command; with it, the dependency must have been deployed by an earlier
    command (else the plan would read a state or an object that does not exist yet)."""
    stacks, deployed = manifest(synthesized), []
    commands = readme_deploy_commands(root)
    assert commands, "no deploy commands in docs/first-deploy.md"
    for command in commands:
        ignore = "--ignore-missing-stack-dependencies" in command
        listed = [arg for arg in command if not arg.startswith("--")]
        for name in listed:
            missing = set(stacks[name]["dependencies"]) - set(listed)
            assert not missing or ignore, f"cdktf deploy {' '.join(command)}: dependencies not included: {missing}"
            assert missing <= set(deployed), f"cdktf deploy {' '.join(command)}: {missing} not deployed before"
        # An environment deploys alone: one command never touches two environments.
        assert len({environment_of(name) for name in listed}) == 1, command
        deployed += listed
    assert sorted(deployed) == sorted(stacks)


def test_a_readme_without_the_flag_would_be_refused(synthesized):
    stacks = manifest(synthesized)
    # The check above is not vacuous: prod's stacks alone do depend on a stack the command does not list.
    assert set(stacks["prod-databricks"]["dependencies"]) - {"prod-azure", "prod-databricks"} == {"account"}


# -- a first apply on empty environments -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def first_apply(envs, tmp_path_factory):
    """The examples before any workspace exists: no `workspace.id` anywhere."""
    from lakegate.infra.synth import synthesize

    fresh = envs
    for env in envs:
        fresh = variant(fresh, env.name, workspace={"id": None})
    fresh.account = envs.account
    return fresh, synthesize(fresh, tmp_path_factory.mktemp("first") / "cdktf.out")


def test_first_apply_binds_no_workspace_that_does_not_exist_yet(first_apply):
    fresh, result = first_apply
    for env in fresh:
        body = result.stacks[f"{env.name}-databricks"]
        bindings = body["resource"].get("databricks_workspace_binding", {}).values()
        # Only its own workspace, by reference to its own azure stack.
        assert [b["binding_type"] for b in bindings] == ["BINDING_TYPE_READ_WRITE"]
        assert all("cross-stack-reference-input-" + env.name + "-azure" in b["workspace_id"] for b in bindings)
    # What waits is said, as warnings (synth still succeeds).
    report = check_environments(fresh)
    assert report.passed
    assert {f.tag for f in report.warnings} == {"LG-UC-002[binding=dev->staging]", "LG-UC-002[binding=staging->prod]",
                                                "LG-UC-002[binding=prod->dev]"}


def test_first_apply_assigns_no_metastore_by_an_unknown_workspace_id(first_apply, stack):
    _, result = first_apply
    account = result.stacks["account"]
    assert "databricks_metastore_assignment" not in account["resource"]
    assert "databricks_grant" not in account["resource"]
    # Once the ids are declared (the examples), the account stack assigns and grants through that workspace.
    assert len(stack("account")["resource"]["databricks_metastore_assignment"]) == 3


def test_first_apply_gives_workspaces_only_groups_that_some_stack_creates(first_apply):
    fresh, result = first_apply
    created = {g["display_name"] for g in result.stacks["account"]["resource"]["databricks_group"].values()}
    existing = {name for env in fresh for name, group in env.principals.groups.items() if group.existing}
    for env in fresh:
        body = result.stacks[f"{env.name}-databricks"]
        assigned = {a["group_name"] for a in body["resource"].get("databricks_permission_assignment", {}).values()}
        assert assigned <= created | existing
        for grants in body["resource"].get("databricks_grants", {}).values():
            for grant in grants["grant"]:
                principal = grant["principal"]
                assert principal in created | existing | {"account users"} or "outputs.application_id_" in principal


def test_first_apply_serves_no_version_and_monitors_no_table(first_apply):
    fresh, result = first_apply
    for env in fresh:
        body = result.stacks[f"{env.name}-databricks"]
        assert "databricks_quality_monitor" not in body["resource"]
        for endpoint in body["resource"].get("databricks_model_serving", {}).values():
            assert "config" not in endpoint and endpoint["lifecycle"]["ignore_changes"] == ["config"]


def test_references_within_a_stack_are_terraform_references(first_apply):
    """Every `${...}` of a stack names one of its own resources, data sources or the two remote states."""
    fresh, result = first_apply
    for name, body in result.stacks.items():
        defined = {f"{kind}.{key}" for kind, items in body.get("resource", {}).items() for key in items}
        defined |= {f"data.{kind}.{key}" for kind, items in body.get("data", {}).items() for key in items}
        for reference in re.findall(r"\$\{([^}]*)\}", json.dumps(body)):
            parts = re.findall(r"\b((?:data\.)?[a-z]+_[\w]+\.[\w-]+)", reference)
            for part in parts:
                if part.startswith(("data.", "azurerm_", "azuread_", "databricks_")) and not part.startswith("data.terraform_remote_state"):
                    head = ".".join(part.split(".")[:3] if part.startswith("data.") else part.split(".")[:2])
                    assert head in defined, f"{name}: ${{{reference}}} names {head}, not in the stack"


def test_deployer_roles_are_confined_to_the_environment(envs):
    for env in envs:
        roles = access.deployer_roles(env, envs)
        assert {(r.role, r.scope_env) for r in roles} == {
            ("Contributor", env.name), ("Role Based Access Control Administrator", env.name),
            *([("Storage Blob Data Contributor", env.name)] if env.state.backend == "azurerm" else []),
            ("Storage Blob Data Reader", "account")}
        group = f"/subscriptions/{env.azure.subscription_id}/resourceGroups/{env.azure.resource_group}"
        assert {r.scope for r in roles if r.scope_env == env.name} <= {group, access.state_container_id(
            env.state, env.azure.subscription_id)}
        (rbac,) = [r for r in roles if r.condition]
        assert access.BLOB_DATA_CONTRIBUTOR_ID in rbac.condition and "'ServicePrincipal'" in rbac.condition
