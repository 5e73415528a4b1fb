"""The account stack: CI identities, resource groups and deployer roles, account principals and groups, the
metastore. One test per resource family, on the examples and on a variant (existing application, SCIM group)."""

from __future__ import annotations

import json

import pytest

from lakegate.infra import access

from .helpers import variant

EXISTING_APP_ID = "0a1b2c3d-0000-4000-8000-00000000c1d0"


def resources(body: dict, kind: str) -> dict[str, dict]:
    return body.get("resource", {}).get(kind, {})


def ref(kind: str, logical_id: str, attribute: str) -> str:
    return f"${{{kind}.{logical_id}.{attribute}}}"


@pytest.fixture(scope="module")
def account(stack):
    return stack("account")


def applications(account) -> dict[str, tuple[str, dict]]:
    return {app["display_name"]: (key, app) for key, app in resources(account, "azuread_application").items()}


def test_backend_and_providers(account, envs):
    assert account["terraform"]["backend"]["azurerm"]["key"] == "account.tfstate"
    (databricks,) = account["provider"]["databricks"]
    assert databricks == {"host": "https://accounts.azuredatabricks.net", "account_id": envs.account.databricks_account_id,
                          "azure_tenant_id": envs.account.tenant_id}
    azurerm = account["provider"]["azurerm"]
    subscriptions = {p["subscription_id"] for p in azurerm}
    assert subscriptions == {e.azure.subscription_id for e in envs} | {envs.account.state.subscription_id}
    assert all(p["alias"] and p["use_oidc"] for p in azurerm)


def test_ci_identity_per_environment_with_oidc_federation_only(account, envs):
    apps = applications(account)
    assert set(apps) == {e.service_principal for e in envs}
    key, staging = apps["sp-lakegate-staging"]
    assert "environment:staging" in staging["tags"]
    credentials = {c["display_name"]: c for c in resources(account, "azuread_application_federated_identity_credential").values()}
    assert credentials["github-actions-staging"]["subject"] == "repo:contoso/lakegate-ml:environment:staging"
    assert credentials["github-actions-staging"]["application_id"] == ref("azuread_application", key, "id")
    assert credentials["azure-devops-staging"]["subject"] == "sc://contoso/lakegate/lakegate-staging"
    assert credentials["azure-devops-staging"]["issuer"] == envs["staging"].principals.service_principal.ci_oidc.azure_devops.issuer
    assert {c["audiences"][0] for c in credentials.values()} == {"api://AzureADTokenExchange"}
    assert sorted(name for name in credentials if name.endswith("-prod")) == ["azure-devops-prod", "github-actions-prod"]


def test_resource_group_of_each_environment_in_its_subscription(account, envs):
    groups = {g["name"]: g for g in resources(account, "azurerm_resource_group").values()}
    aliases = {p["alias"]: p["subscription_id"] for p in account["provider"]["azurerm"]}
    for env in envs:
        group = groups[env.azure.resource_group]
        assert group["location"] == env.azure.location and group["tags"] == env.tags
        assert aliases[group["provider"].removeprefix("azurerm.")] == env.azure.subscription_id


def test_role_assignments_are_exactly_the_derived_deployer_roles(account, envs):
    principals = {key: app for key, app in resources(account, "azuread_service_principal").items()}
    by_client = {sp["client_id"]: key for key, sp in principals.items()}
    apps = applications(account)
    emitted = {}
    for assignment in resources(account, "azurerm_role_assignment").values():
        emitted.setdefault(assignment["principal_id"], set()).add(
            (assignment["role_definition_name"], assignment["scope"], assignment.get("condition")))
        assert assignment["principal_type"] == "ServicePrincipal"
    for env in envs:
        app_key, _ = apps[env.service_principal]
        sp_key = by_client[ref("azuread_application", app_key, "client_id")]
        expected = {(r.role, r.scope, r.condition) for r in access.deployer_roles(env, envs)}
        assert emitted[ref("azuread_service_principal", sp_key, "object_id")] == expected


def test_account_principals_groups_and_members(account, envs):
    sps = {sp["display_name"]: sp for sp in resources(account, "databricks_service_principal").values()}
    apps = applications(account)
    for env in envs:
        key, _ = apps[env.service_principal]
        assert sps[env.service_principal]["application_id"] == ref("azuread_application", key, "client_id")
    groups = {key: g["display_name"] for key, g in resources(account, "databricks_group").items()}
    assert set(groups.values()) == set(access.account_groups(envs))
    users = {key: u["user_name"] for key, u in resources(account, "databricks_user").items()}
    members = {(groups[m["group_id"].split(".")[1]], users[m["member_id"].split(".")[1]])
               for m in resources(account, "databricks_group_member").values()}
    assert members == {(g, u) for g, us in access.account_groups(envs).items() for u in us}


def test_metastore_assignment_and_one_principal_grant_per_known_workspace(account, envs):
    assignments = {a["workspace_id"]: a for a in resources(account, "databricks_metastore_assignment").values()}
    assert set(assignments) == {e.workspace.id for e in envs}
    grants = list(resources(account, "databricks_grant").values())
    # databricks_grant (one principal), never databricks_grants: the metastore is shared with other teams.
    assert "databricks_grants" not in account["resource"]
    assert {g["provider_config"]["workspace_id"] for g in grants} == {str(e.workspace.id) for e in envs}
    assert all(sorted(g["privileges"]) == sorted(access.DEPLOY_METASTORE_PRIVILEGES) for g in grants)


def test_existing_application_and_scim_group_are_looked_up_not_created(envs):
    from cdktn import Testing

    from lakegate.infra.stacks.account import AccountStack

    changed = variant(envs, "dev", principals={
        **envs["dev"].principals.model_dump(),
        "service_principal": {"name": "sp-lakegate-dev", "application_id": EXISTING_APP_ID},
    })
    for env in changed:  # data-scientists is synced from Entra ID in this variant: every file says so
        if "data-scientists" in env.principals.groups:
            principals = changed[env.name].principals.model_dump()
            principals["groups"]["data-scientists"]["existing"] = True
            changed = variant(changed, env.name, principals=principals)
    changed.account = envs.account
    body = json.loads(Testing.synth(AccountStack(Testing.app(), envs=changed)))
    assert "sp-lakegate-dev" not in {a["display_name"] for a in resources(body, "azuread_application").values()}
    (existing,) = body["data"]["azuread_service_principal"].values()
    assert existing["client_id"] == EXISTING_APP_ID
    assert "data-scientists" not in {g["display_name"] for g in resources(body, "databricks_group").values()}
    assert {u["user_name"] for u in resources(body, "databricks_user").values()} == {
        "sam.okafor@contoso.com", "priya.nair@contoso.com", "head.of.ml@contoso.com"}
