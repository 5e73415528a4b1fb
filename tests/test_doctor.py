"""`python main.py doctor --env ENV` (infra/preflight/, cli/doctor_command.py) against local HTTPS stubs.

tests/arm_stub.py plays Entra ID's token endpoint, Azure Resource Manager and the Databricks accounts
console's OIDC metadata, each on 127.0.0.1 and a free port behind a throwaway self-signed certificate
(trusted through REQUESTS_CA_BUNDLE / SSL_CERT_FILE, set with monkeypatch only). The credentials are the
environment's own, resolved by promotion/credentials/: azure-workload-identity with a federated token
file, exchanged for real by azure-identity against the Entra stub; ARM is called for real by
azure-mgmt-resource and azure-mgmt-authorization. The CLI runs in-process (`cli.app.main`).

Until infra/loader.py loads environments/_account.yaml, the tests set `envs.account` themselves (and point
its host at the accounts stub, which listens on a port the YAML's host pattern cannot name).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from pathlib import Path

import pytest
import yaml

from tests.arm_stub import AccountsStub, ArmStub, EntraStub, self_signed_certificate

from lakegate.cli.app import main  # noqa: E402
from lakegate.infra.access import ASSIGN_ONLY_BLOB_CONTRIBUTOR_TO_SERVICE_PRINCIPALS, deployer_roles  # noqa: E402
from lakegate.infra.loader import load_environments  # noqa: E402
from lakegate.infra.model.account import Account  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tests" / "fixtures" / "environments"
TENANT = "99999999-9999-4999-8999-999999999999"
STATE_SUB = "44444444-4444-4444-8444-444444444444"
PRINCIPALS = {   # environment -> (application id, service principal object id)
    "dev": ("d0d0d0d0-0000-4000-8000-00000000a001", "0b0b0b0b-0000-4000-8000-0000000000d1"),
    "staging": ("d0d0d0d0-0000-4000-8000-00000000a002", "0b0b0b0b-0000-4000-8000-0000000000d2"),
    "prod": ("d0d0d0d0-0000-4000-8000-00000000a003", "0b0b0b0b-0000-4000-8000-0000000000d3"),
}
CHECK_IDS = ["DOC-AZURE-001", "DOC-AZURE-002", "DOC-AZURE-003", "DOC-AZURE-004", "DOC-AZURE-005",
             "DOC-STATE-001", "DOC-STATE-002", "DOC-STATE-003", "DOC-RBAC-001", "DOC-RBAC-002", "DOC-DBX-001"]


def _account(envs) -> Account:
    if envs.account is not None:
        return envs.account
    return Account.model_validate(yaml.safe_load((EXAMPLES / "_account.yaml").read_text()))


# ------------------------------------------------------------------------------------------------
# stubs (module-wide; their state is reset for every test) and the environment of one run


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("doctor-tls"))


@pytest.fixture(scope="module")
def stubs(tls):
    with EntraStub(tls) as entra, AccountsStub(tls) as accounts:
        with ArmStub(tls, entra) as arm:
            for client_id, object_id in PRINCIPALS.values():
                entra.register(client_id, object_id)
            yield entra, arm, accounts


@pytest.fixture
def envs():
    loaded = load_environments(EXAMPLES)
    loaded.account = _account(loaded)
    return loaded


@pytest.fixture
def cloud(stubs, envs):
    """A world where every environment is ready: what `cdktf deploy account` and the platform team create."""
    entra, arm, accounts = stubs
    arm.subscriptions.clear(), arm.locations.clear(), arm.providers.clear()
    arm.resource_groups.clear(), arm.resources.clear(), arm.assignments.clear(), arm.requests.clear()
    arm.forbidden.clear(), arm.unregistered.clear()
    accounts.accounts = {envs.account.databricks_account_id}
    accounts.requests.clear()
    entra.requests.clear()
    arm.add_subscription(STATE_SUB, TENANT)
    arm.resource_groups[(STATE_SUB, "rg-lakegate-tfstate")] = "westeurope"
    state_account = arm.add_storage_account(STATE_SUB, "rg-lakegate-tfstate", "stlakegatetfstate")
    arm.add_container(state_account, "tfstate-account")
    for env in envs:
        arm.add_subscription(env.azure.subscription_id, TENANT)
        arm.resource_groups[(env.azure.subscription_id, env.azure.resource_group.lower())] = env.azure.location
        if env.state.backend == "azurerm":
            arm.add_container(state_account, env.state.container)
        for role in deployer_roles(env, envs):
            arm.assign(PRINCIPALS[env.name][1], role.role, role.scope, role.condition)
    return arm


@pytest.fixture
def run(stubs, tls, cloud, monkeypatch, tmp_path, capsys):
    """run('prod', '--json') -> (exit code, stdout, stderr), as prod's principal (federated token file)."""
    entra, arm, accounts = stubs
    for name in list(os.environ):
        if name.startswith(("AZURE_", "AZURESUBSCRIPTION_", "ACTIONS_ID_TOKEN_", "SYSTEM_OIDC", "LAKEGATE_ARM_")) \
                or name in ("SYSTEM_ACCESSTOKEN",):
            monkeypatch.delenv(name)
    (tmp_path / "azure").mkdir()
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure"))     # no Azure CLI login
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", entra.url)
    monkeypatch.setenv("LAKEGATE_ARM_ENDPOINT", arm.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls[0]))
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.chdir(ROOT)

    from lakegate.cli import infra_commands

    def with_account(directory):
        loaded = load_environments(directory)
        loaded.account = _account(loaded).model_copy(update={"host": accounts.url})
        return loaded

    monkeypatch.setattr(infra_commands, "load_environments", with_account)

    def invoke(env_name: str, *extra: str, principal: str | None = None, client_id: str | None = None,
               federated: bool = True):
        """As `principal`'s application (default: env_name's), or as `client_id` (an app Entra may not know)."""
        client_id = client_id or PRINCIPALS[principal or env_name][0]
        app = entra.apps.get(client_id)
        token_file = tmp_path / f"token-{client_id}"
        token_file.write_text(app.federated_token if app else "eyJhbGciOiJSUzI1NiJ9.unknown-SECRET.sig")
        if federated:
            monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        else:
            monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
        monkeypatch.setenv("AZURE_CLIENT_ID", client_id)
        capsys.readouterr()
        code = main(["doctor", "--env", env_name, "--environments", "environments", *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def by_id(out: str) -> dict[str, dict]:
    results = json.loads(out)
    assert [r["id"] for r in results] == CHECK_IDS
    assert all(set(r) == {"id", "title", "status", "detail", "fix"} for r in results)
    return {r["id"]: r for r in results}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------------
# everything ready


def test_everything_passes_for_prod(run, stubs, envs):
    entra, arm, accounts = stubs
    code, out, err = run("prod", "--json")
    assert code == 0, out + err
    results = by_id(out)
    assert {i: r["status"] for i, r in results.items()} == dict.fromkeys(CHECK_IDS, "passed")
    assert all(r["fix"] == "" for r in results.values())
    oid = PRINCIPALS["prod"][1]
    assert results["DOC-AZURE-001"]["detail"].startswith(
        f"azure-workload-identity (AKS federated token file, client {PRINCIPALS['prod'][0]}, tenant {TENANT}): "
        f"object id {oid}")
    assert results["DOC-AZURE-003"]["detail"] == (
        "Microsoft.Databricks Registered, Microsoft.Storage Registered, Microsoft.Network Registered, "
        "Microsoft.ManagedIdentity Registered, Microsoft.OperationalInsights Registered")
    assert results["DOC-AZURE-005"]["detail"] == "resource group rg-lakegate-prod exists in westeurope"
    assert results["DOC-STATE-003"]["detail"].startswith("stlakegatetfstate: allowSharedKeyAccess false")
    rbac = results["DOC-RBAC-001"]["detail"]
    for role, where in [("Contributor", "resourceGroups/rg-lakegate-prod"),
                        ("Role Based Access Control Administrator", "resourceGroups/rg-lakegate-prod"),
                        ("Storage Blob Data Contributor", "containers/tfstate-prod"),
                        ("Storage Blob Data Reader", "containers/tfstate-account")]:
        assert f"present: {role} on " in rbac and where in rbac
    assert results["DOC-RBAC-002"]["detail"] == "nothing beyond the 4 expected role(s)"
    assert "answered 200 with OIDC metadata" in results["DOC-DBX-001"]["detail"]

    # the token was the environment's own, for ARM; every ARM call carried it; the account probe carried none
    exchange = entra.calls("POST")[-1]
    assert exchange.path == f"/{TENANT}/oauth2/v2.0/token"
    assert exchange.body["client_id"] == PRINCIPALS["prod"][0] and exchange.body["scope"] == f"{arm.url}/.default"
    assert len(entra.calls("POST")) == 1                       # one token for the whole run
    assert arm.requests and all(r.principal == oid for r in arm.requests)
    listings = [r for r in arm.requests if r.path.endswith("/providers/Microsoft.Authorization/roleAssignments")]
    assert {r.query["$filter"] for r in listings} == {f"assignedTo('{oid}')"}
    assert {r.path.rsplit("/providers/Microsoft.Authorization", 1)[0] for r in listings} == {
        r.scope for r in deployer_roles(envs["prod"], envs)}
    assert [r.authorized for r in accounts.requests] == [False]
    assert err == ""


def test_the_table_for_people(run):
    code, out, err = run("prod")
    assert code == 0, out + err
    assert f"doctor prod: as azure-workload-identity, object id {PRINCIPALS['prod'][1]}" in out
    assert "DOC-RBAC-001" in out and " fix:" not in out
    assert out.strip().splitlines()[-1] == "doctor prod: 11 passed, 0 failed, 0 warning(s), 0 skipped"


def test_the_fixes_for_people_are_whole_lines_below_the_table(run, cloud):
    oid = PRINCIPALS["prod"][1]
    cloud.providers[("33333333-3333-4333-8333-333333333333", "microsoft.databricks")] = "NotRegistered"
    cloud.assignments = [a for a in cloud.assignments if not (a.principal_id == oid and a.role.startswith("Role Based"))]
    code, out, err = run("prod")
    assert code == 12
    lines = out.splitlines()
    assert lines[-1] == "doctor prod: 9 passed, 2 failed, 0 warning(s), 0 skipped"
    fixes = lines[lines.index("DOC-AZURE-003 (failed) fix:"):-1]
    assert fixes[:2] == ["DOC-AZURE-003 (failed) fix:",
                         "  az provider register --namespace Microsoft.Databricks --subscription "
                         "33333333-3333-4333-8333-333333333333"]
    assert fixes[2:4] == ["DOC-RBAC-001 (failed) fix:", "  deploy the account stack: cdktf deploy account (it assigns "
                          "these roles); or, as the platform team:"]
    assert fixes[4].startswith(f"  az role assignment create --assignee-object-id {oid} --assignee-principal-type "
                               "ServicePrincipal --role 'Role Based Access Control Administrator' --scope /subscriptions/")
    assert fixes[4].endswith(" --condition-version 2.0")
    # the condition survives a POSIX shell as one argument, exactly as infra/access.py writes it
    argv = shlex.split(fixes[4])
    assert argv[argv.index("--condition") + 1] == ASSIGN_ONLY_BLOB_CONTRIBUTOR_TO_SERVICE_PRINCIPALS
    assert len(fixes) == 5


def test_local_state_is_skipped_with_why_for_dev(run):
    code, out, err = run("dev", "--json")
    assert code == 0, out + err
    results = by_id(out)
    for check in ("DOC-STATE-001", "DOC-STATE-002", "DOC-STATE-003"):
        assert results[check]["status"] == "skipped"
        assert results[check]["detail"].startswith("state.backend is local (environments/dev.yaml:")
        assert "there is no state account to check" in results[check]["detail"]
    assert {r["status"] for i, r in results.items() if not i.startswith("DOC-STATE")} == {"passed"}
    assert "Storage Blob Data Reader on " in results["DOC-RBAC-001"]["detail"]   # the account stack's outputs


# ------------------------------------------------------------------------------------------------
# failures, each with its fix


def test_a_provider_not_registered_fails_with_the_register_command(run, cloud):
    cloud.providers[("33333333-3333-4333-8333-333333333333", "microsoft.databricks")] = "NotRegistered"
    code, out, err = run("prod", "--json")
    assert code == 12
    provider = by_id(out)["DOC-AZURE-003"]
    assert provider["status"] == "failed"
    assert provider["detail"].startswith("Microsoft.Databricks NotRegistered, Microsoft.Storage Registered")
    assert provider["fix"] == ("az provider register --namespace Microsoft.Databricks "
                               "--subscription 33333333-3333-4333-8333-333333333333")


def test_a_missing_resource_group_fails_and_names_the_account_stack(run, cloud):
    del cloud.resource_groups[("33333333-3333-4333-8333-333333333333", "rg-lakegate-prod")]
    code, out, err = run("prod", "--json")
    assert code == 12
    group = by_id(out)["DOC-AZURE-005"]
    assert group["status"] == "failed"
    assert group["detail"].startswith("resource group rg-lakegate-prod does not exist in subscription 3333")
    assert group["fix"] == "deploy the account stack: cdktf deploy account"


def test_a_resource_group_in_another_region_fails(run, cloud):
    cloud.resource_groups[("33333333-3333-4333-8333-333333333333", "rg-lakegate-prod")] = "northeurope"
    code, out, err = run("prod", "--json")
    assert code == 12
    group = by_id(out)["DOC-AZURE-005"]
    assert group["status"] == "failed" and "is in northeurope, azure.location is westeurope" in group["detail"]
    assert group["fix"].startswith("set azure.location to northeurope (environments/prod.yaml:")


def test_a_location_not_offered_fails(run, cloud):
    cloud.locations["33333333-3333-4333-8333-333333333333"] = ["northeurope", "swedencentral"]
    code, out, err = run("prod", "--json")
    assert code == 12
    location = by_id(out)["DOC-AZURE-004"]
    assert location["status"] == "failed"
    assert location["detail"].startswith("westeurope (environments/prod.yaml:")
    assert "not offered to subscription 33333333-3333-4333-8333-333333333333 (offered: northeurope, swedencentral)" \
        in location["detail"]


def test_a_missing_role_fails_with_the_fix_and_an_extra_one_warns(run, cloud, envs):
    oid = PRINCIPALS["prod"][1]
    rg = "/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/rg-lakegate-prod"
    cloud.assignments = [a for a in cloud.assignments if not (a.principal_id == oid and a.role == "Contributor")]
    owner = cloud.assign(oid, "Owner", "/subscriptions/33333333-3333-4333-8333-333333333333")
    code, out, err = run("prod", "--json")
    assert code == 12
    results = by_id(out)
    expected = results["DOC-RBAC-001"]
    assert expected["status"] == "failed"
    assert "missing: Contributor on resourceGroups/rg-lakegate-prod (subscription 3333" in expected["detail"]
    assert "present: Role Based Access Control Administrator on resourceGroups/rg-lakegate-prod" in expected["detail"]
    assert expected["fix"].splitlines() == [
        "deploy the account stack: cdktf deploy account (it assigns these roles); or, as the platform team:",
        f'az role assignment create --assignee-object-id {oid} --assignee-principal-type ServicePrincipal '
        f'--role Contributor --scope {rg}']
    extra = results["DOC-RBAC-002"]
    assert extra["status"] == "warning"
    assert extra["detail"] == "also holds: Owner on subscription 33333333-3333-4333-8333-333333333333"
    assert extra["fix"] == (f"az role assignment delete --ids /subscriptions/33333333-3333-4333-8333-333333333333"
                            f"/providers/Microsoft.Authorization/roleAssignments/{owner.id}")


def test_extra_roles_alone_only_warn(run, cloud):
    oid = PRINCIPALS["prod"][1]
    rg = "/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/rg-lakegate-prod"
    for a in cloud.assignments:   # the RBAC administrator lost its condition: it could make itself Owner
        if a.principal_id == oid and a.role == "Role Based Access Control Administrator":
            a.condition = None
    cloud.assign(oid, "Storage Account Contributor", f"{rg}/providers/Microsoft.Storage/storageAccounts/stlakegateprod")
    code, out, err = run("prod", "--json")
    assert code == 0, out
    results = by_id(out)
    assert results["DOC-RBAC-001"]["status"] == "passed"
    extra = results["DOC-RBAC-002"]
    assert extra["status"] == "warning"
    assert "Storage Account Contributor on resourceGroups/rg-lakegate-prod/providers/Microsoft.Storage/storageAccounts" \
           "/stlakegateprod" in extra["detail"]
    assert ("Role Based Access Control Administrator on resourceGroups/rg-lakegate-prod (subscription "
            "33333333-3333-4333-8333-333333333333) without its condition: it may assign any role, Owner included"
            ) in extra["detail"]
    assert extra["fix"].splitlines()[-1] == "deploy the account stack: cdktf deploy account (it sets the condition)"


def test_a_missing_state_container_fails_with_the_create_command(run, cloud):
    container = (f"/subscriptions/{STATE_SUB}/resourceGroups/rg-lakegate-tfstate/providers/Microsoft.Storage"
                 "/storageAccounts/stlakegatetfstate/blobServices/default/containers/tfstate-prod")
    del cloud.resources[container.lower()]
    code, out, err = run("prod", "--json")
    assert code == 12
    results = by_id(out)
    assert results["DOC-STATE-001"]["status"] == "passed"
    state = results["DOC-STATE-002"]
    assert state["status"] == "failed"
    assert state["detail"].startswith("container tfstate-prod of stlakegatetfstate: HTTP 404 ContainerNotFound")
    assert state["fix"] == ("az storage container-rm create --name tfstate-prod --storage-account stlakegatetfstate "
                            f"--resource-group rg-lakegate-tfstate --subscription {STATE_SUB}")


def test_a_missing_state_account_fails_and_skips_what_needs_it(run, cloud):
    account = (f"/subscriptions/{STATE_SUB}/resourceGroups/rg-lakegate-tfstate/providers/Microsoft.Storage"
               "/storageAccounts/stlakegatetfstate")
    del cloud.resources[account.lower()]
    code, out, err = run("prod", "--json")
    assert code == 12
    results = by_id(out)
    assert results["DOC-STATE-001"]["status"] == "failed"
    assert results["DOC-STATE-001"]["fix"].startswith(
        "az storage account create --name stlakegatetfstate --resource-group rg-lakegate-tfstate "
        f"--subscription {STATE_SUB} --location westeurope")
    for dependent in ("DOC-STATE-002", "DOC-STATE-003"):
        assert results[dependent] == {**results[dependent], "status": "skipped",
                                      "detail": "needs DOC-STATE-001 (state storage account present), which failed"}


def test_doctor_never_registers_a_provider_itself(run, cloud):
    """azure-mgmt-core would POST a registration on 409 MissingSubscriptionRegistration; doctor reports it."""
    account = (f"/subscriptions/{STATE_SUB}/resourceGroups/rg-lakegate-tfstate/providers/Microsoft.Storage"
               "/storageAccounts/stlakegatetfstate")
    cloud.unregistered.add(account.lower())
    code, out, err = run("prod", "--json")
    assert code == 12
    state = by_id(out)["DOC-STATE-001"]
    assert state["status"] == "failed" and "HTTP 409 MissingSubscriptionRegistration" in state["detail"]
    assert state["fix"] == f"az provider register --namespace Microsoft.Storage --subscription {STATE_SUB}"
    assert {r.method for r in cloud.requests} == {"GET"}


def test_shared_keys_are_a_warning_and_an_unreadable_account_is_judged_by_its_container(run, cloud):
    account = (f"/subscriptions/{STATE_SUB}/resourceGroups/rg-lakegate-tfstate/providers/Microsoft.Storage"
               "/storageAccounts/stlakegatetfstate")
    cloud.resources[account.lower()]["properties"]["allowSharedKeyAccess"] = True
    code, out, err = run("prod", "--json")
    assert code == 0
    keys = by_id(out)["DOC-STATE-003"]
    assert keys["status"] == "warning" and "accepts shared keys (allowSharedKeyAccess true)" in keys["detail"]
    assert keys["fix"] == ("az storage account update --name stlakegatetfstate --resource-group rg-lakegate-tfstate "
                           f"--subscription {STATE_SUB} --allow-shared-key-access false")

    # The deployer holds data-plane roles on its container only: ARM refuses it the account itself.
    cloud.forbidden.add(account.lower())
    code, out, err = run("prod", "--json")
    assert code == 0
    results = by_id(out)
    assert results["DOC-STATE-001"]["status"] == "passed"
    assert "exists (its container answers; the account itself is not readable by the caller, HTTP 403 " \
           "AuthorizationFailed" in results["DOC-STATE-001"]["detail"]
    assert results["DOC-STATE-003"]["status"] == "skipped"
    assert results["DOC-STATE-003"]["detail"].startswith("cannot read stlakegatetfstate's properties (HTTP 403")


def test_an_unreachable_databricks_account_fails_the_check_not_the_run(run, stubs):
    _, _, accounts = stubs
    accounts.accounts = set()
    code, out, err = run("prod", "--json")
    assert code == 12
    account = by_id(out)["DOC-DBX-001"]
    assert account["status"] == "failed" and account["detail"].endswith("answered HTTP 404")
    assert account["fix"].startswith("check databricks_account_id and host in environments/_account.yaml")


def test_a_disabled_subscription_fails_and_skips_what_needs_it(run, cloud):
    cloud.subscriptions["33333333-3333-4333-8333-333333333333"]["state"] = "Disabled"
    code, out, err = run("prod", "--json")
    assert code == 12
    results = by_id(out)
    assert results["DOC-AZURE-002"]["status"] == "failed"
    assert "is Disabled: nothing can be deployed into it" in results["DOC-AZURE-002"]["detail"]
    assert [results[i]["status"] for i in ("DOC-AZURE-003", "DOC-AZURE-004", "DOC-AZURE-005")] == ["skipped"] * 3


def test_another_principal_is_named_as_the_caller(run):
    code, out, err = run("prod", "--json", principal="staging")    # staging's identity runs prod's preflight
    assert code == 12
    results = by_id(out)
    assert results["DOC-RBAC-001"]["status"] == "failed"
    assert results["DOC-RBAC-001"]["detail"].startswith(f"object id {PRINCIPALS['staging'][1]}: missing: Contributor")
    assert results["DOC-RBAC-002"]["status"] == "passed"      # staging's own scopes are not prod's


def test_a_person_signed_in_with_the_azure_cli_is_told_the_roles_checked_are_theirs(run, stubs, tmp_path, monkeypatch):
    """azure-cli (people): a stand-in `az` prints a token of a user; ARM accepts it as that user."""
    import base64
    import time

    entra, _, _ = stubs
    person = "0a0a0a0a-0000-4000-8000-00000000beef"
    claims = {"oid": person, "tid": TENANT, "idtyp": "user", "scp": "user_impersonation", "upn": "sam@contoso.com"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = f"eyJ0eXAiOiJKV1QifQ.{payload}.c2ln"
    entra.issued[token] = person
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text("#!/bin/sh\n" + """case "$*" in
  *"account get-access-token"*) echo '{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000",
      "expires_on": %d, "subscription": "sub", "tenant": "%s", "tokenType": "Bearer"}' ;;
  *) echo "unexpected arguments: $*" >&2; exit 2 ;;
esac
""" % (token, int(time.time()) + 3600, TENANT))
    (bin_dir / "az").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    profile = Path(os.environ["AZURE_CONFIG_DIR"]) / "azureProfile.json"
    profile.write_text(json.dumps({"subscriptions": [{"id": "sub", "tenantId": TENANT}]}), encoding="utf-8-sig")
    code, out, err = run("dev", "--json", federated=False)      # dev pins no strategy: azure-cli is the one
    assert code == 12, out + err
    results = by_id(out)
    caller = results["DOC-AZURE-001"]
    assert caller["status"] == "warning"
    assert caller["detail"].startswith(f"azure-cli (Azure CLI account ({profile})): object id {person} (User): a "
                                       "person, not sp-lakegate-dev; the role checks below are about you")
    assert results["DOC-RBAC-001"]["status"] == "failed"
    assert "--assignee-principal-type User --role Contributor" in results["DOC-RBAC-001"]["fix"]


# ------------------------------------------------------------------------------------------------
# the run cannot start: credentials, reachability, definitions


def test_no_credentials_exit_11_with_one_line(run):
    code, out, err = run("prod", federated=False)     # prod pins azure-workload-identity
    assert code == 11 and out == ""
    assert one_line(err) == ("error: azure-workload-identity: pinned but not configured: set AZURE_CLIENT_ID and "
                             "AZURE_TENANT_ID and run in GitHub Actions with `id-token: write`, in an Azure DevOps "
                             "workload-identity service connection, or on AKS")
    code, out, err = run("dev", "--json", federated=False)      # dev pins none: none is configured
    assert code == 11
    assert json.loads(out) == {"ok": False, "error": "credentials", "message": one_line(err).removeprefix("error: ")}
    assert one_line(err).startswith("error: credentials: no strategy is configured; azure-workload-identity: ")


def test_a_token_entra_refuses_exit_11_with_one_line(run):
    code, out, err = run("prod", client_id="d0d0d0d0-0000-4000-8000-0000000000ff")
    assert code == 11 and out == ""
    line = one_line(err)
    assert line.startswith("error: azure-workload-identity: could not get an Entra token for Azure Resource Manager: ")
    assert "AADSTS700016" in line and "SECRET" not in line


def test_arm_unreachable_exit_9_with_one_line(run, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("LAKEGATE_ARM_ENDPOINT", url)
    code, out, err = run("prod")
    assert code == 9 and out == ""
    line = one_line(err)
    assert line.startswith(f"error: Azure Resource Manager cannot be reached at {url}: ")
    assert "Connection refused" in line or "Failed to establish" in line


def test_entra_unreachable_exit_9_with_one_line(run, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", url)
    code, out, err = run("prod", "--json")
    assert code == 9
    assert json.loads(out) == {"ok": False, "error": "unreachable", "message": one_line(err).removeprefix("error: ")}
    assert one_line(err).startswith(f"error: Entra ID cannot be reached at {url}: ")


def test_an_unknown_env_exit_6(run):
    code, out, err = run("prd", principal="prod")
    assert code == 6 and out == ""
    assert one_line(err) == "error: --env: unknown environment 'prd' (did you mean prod?) (known: dev, staging, prod)"


def test_invalid_definitions_exit_2(run, tmp_path, capsys):
    broken = tmp_path / "environments"
    broken.mkdir()
    (broken / "qa.yaml").write_text("name: qa\n")
    capsys.readouterr()
    assert main(["doctor", "--env", "qa", "--environments", str(broken)]) == 2
    assert "problem(s) in" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# units


def test_arm_endpoint_and_scope_default_to_the_public_cloud_and_follow_sovereign_ones(monkeypatch):
    from lakegate.infra.preflight.arm import ArmSettings

    monkeypatch.delenv("LAKEGATE_ARM_ENDPOINT", raising=False)
    monkeypatch.delenv("LAKEGATE_ARM_SCOPE", raising=False)
    assert ArmSettings.from_environment() == ArmSettings("https://management.azure.com",
                                                         "https://management.azure.com/.default")
    monkeypatch.setenv("LAKEGATE_ARM_ENDPOINT", "https://management.usgovcloudapi.net/")
    assert ArmSettings.from_environment().scope == "https://management.core.usgovcloudapi.net/.default"
    monkeypatch.setenv("LAKEGATE_ARM_SCOPE", "https://example.test/.default")
    assert ArmSettings.from_environment().scope == "https://example.test/.default"


def test_a_crashing_check_fails_and_the_run_goes_on():
    from lakegate.infra.preflight.checks import Check, Context, passed, run_checks

    def crash(ctx):
        raise KeyError("boom")

    checks = [Check("DOC-T-001", "crashes", crash), Check("DOC-T-002", "needs it", lambda ctx: passed("ran"),
                                                            needs=("DOC-T-001",)),
              Check("DOC-T-003", "independent", lambda ctx: passed("ran"))]
    results = run_checks(Context(None, None, None, None), checks)
    assert [(r.id, r.status) for r in results] == [("DOC-T-001", "failed"), ("DOC-T-002", "skipped"),
                                                   ("DOC-T-003", "passed")]
    assert results[0].detail == "the check crashed: KeyError: 'boom'"
    assert results[1].detail == "needs DOC-T-001 (crashes), which failed"


def test_jwt_claims_of_anything_else_are_empty():
    from lakegate.infra.preflight.identity import jwt_claims

    assert jwt_claims("opaque-token") == {} and jwt_claims("a.!!!.c") == {} and jwt_claims("a.bnVsbA.c") == {}
