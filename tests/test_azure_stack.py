"""The `<env>-azure` stacks: one test per resource family, on the example environments (synthesized
once per session by conftest) and on two variants built here (what the examples don't exercise)."""

from __future__ import annotations

import importlib
import json
import re
from functools import cache

import pytest

from tests.helpers import variant

EXISTING_APP_ID = "0a1b2c3d-0000-4000-8000-00000000c1d0"


# --- helpers ---------------------------------------------------------------------------------------

def resources(stack_json: dict, resource_type: str) -> list[dict]:
    return list(stack_json.get("resource", {}).get(resource_type, {}).values())


def only(stack_json: dict, resource_type: str) -> dict:
    found = resources(stack_json, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def has_resource(stack_json: dict, resource_type: str, properties: dict) -> bool:
    """cdktn's own matcher (a partial deep match), over the synthesized JSON."""
    from cdktn import Testing

    return Testing.to_have_resource_with_properties(json.dumps(stack_json), resource_type, properties)


def ref(stack_json: dict, resource_type: str, attribute: str) -> str:
    """`${type.logical_id.attribute}` of the single resource of that type."""
    (logical_id,) = stack_json["resource"][resource_type]
    return f"${{{resource_type}.{logical_id}.{attribute}}}"


# --- variants --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def variants(envs):
    """Stacks the examples don't produce, synthesized with cdktn's Testing app.

    bare:   dev without VNet or Log Analytics, with an existing CI application, storage closed to public
            networks.
    locked: prod with the workspace closed to public networks.
    """
    from cdktn import Testing

    from lakegate.infra.stacks.azure import AzureStack

    bare_envs = variant(
        envs, "dev",
        workspace={"vnet": None},
        monitoring={"log_analytics": None},
        storage={"public_network_access": False},
        principals={"service_principal": {"name": "sp-lakegate-dev", "application_id": EXISTING_APP_ID}},
    )
    locked_envs = variant(envs, "prod", workspace={"public_network_access": False})
    app = Testing.app()
    bare = AzureStack(app, "bare-azure", env=bare_envs["dev"], envs=bare_envs)
    locked = AzureStack(app, "locked-azure", env=locked_envs["prod"], envs=locked_envs)
    return {
        "bare": json.loads(Testing.synth(bare)),
        "locked": json.loads(Testing.synth(locked)),
        "bare_foundation": bare.foundation,
        "prod_like_foundation": locked.foundation,
    }


def azure_stacks(synthesized, variants) -> dict[str, dict]:
    found = {name: body for name, body in synthesized.stacks.items() if name.endswith("-azure")}
    return {**found, "bare-azure": variants["bare"], "locked-azure": variants["locked"]}


# --- providers and backend -------------------------------------------------------------------------

def test_providers_use_oidc_and_the_environment_subscription(stack, envs, variants):
    prod = stack("prod-azure")
    (azurerm,) = prod["provider"]["azurerm"]
    assert azurerm["use_oidc"] is True
    assert azurerm["subscription_id"] == envs["prod"].azure.subscription_id
    assert azurerm["tenant_id"] == envs["prod"].azure.tenant_id
    assert azurerm["features"] == [{}]
    assert azurerm["storage_use_azuread"] is True  # shared keys are off: data plane via Entra ID
    # Entra objects (the CI identity) are the account stack's: no azuread provider here.
    for body in (prod, variants["bare"]):
        assert "azuread" not in body["provider"] and "azuread" not in body["terraform"]["required_providers"]


def test_remote_backend_where_the_yaml_gives_one(stack, envs):
    for name in ("prod", "staging"):
        state = envs[name].state
        assert stack(f"{name}-azure")["terraform"]["backend"] == {"azurerm": {
            "resource_group_name": state.resource_group,
            "storage_account_name": state.storage_account,
            "container_name": state.container,
            "key": f"{name}-azure.tfstate",
            "use_oidc": True,
            "use_azuread_auth": True,
        }}


def test_local_backend_otherwise_outside_cdktf_out(stack):
    backend = stack("dev-azure")["terraform"]["backend"]
    # Relative to cdktf.out/stacks/dev-azure/: the project root, which a new synth doesn't replace.
    assert backend == {"local": {"path": "../../../.terraform-state/dev-azure.tfstate"}}


# --- resource families ------------------------------------------------------------------------------

def test_resources_go_into_the_resource_group_the_account_stack_created(stack, envs):
    for env in envs:
        body = stack(f"{env.name}-azure")
        # Created (with the deployer's roles on it) by the account stack, before this stack's first deploy.
        assert "azurerm_resource_group" not in body["resource"]
        placed = [r for by_id in body["resource"].values() for r in by_id.values() if "resource_group_name" in r]
        assert placed and {r["resource_group_name"] for r in placed} == {env.azure.resource_group}
        assert {r["location"] for r in placed if "location" in r} == {env.azure.location}


def test_storage_account_is_adls_gen2_private_and_keyless(stack, envs):
    prod, env = stack("prod-azure"), envs["prod"]
    assert has_resource(prod, "azurerm_storage_account", {
        "name": env.storage.account_name,
        "is_hns_enabled": True,
        "https_traffic_only_enabled": True,
        "min_tls_version": "TLS1_2",
        "allow_nested_items_to_be_public": False,
        "shared_access_key_enabled": False,
        "infrastructure_encryption_enabled": True,
        "account_replication_type": "RAGZRS",
        "network_rules": {"default_action": "Deny", "bypass": ["AzureServices"]},
    })
    account = only(prod, "azurerm_storage_account")
    assert account["blob_properties"] == {
        "delete_retention_policy": {"days": 30}, "container_delete_retention_policy": {"days": 30},
    }
    rules = account["network_rules"]
    # The clusters' subnets and the access connector (a resource-instance rule) get through the firewall.
    subnet_ids = {f"${{azurerm_subnet.{logical_id}.id}}" for logical_id in prod["resource"]["azurerm_subnet"]}
    assert set(rules["virtual_network_subnet_ids"]) == subnet_ids
    assert rules["private_link_access"] == [{
        "endpoint_resource_id": ref(prod, "azurerm_databricks_access_connector", "id"),
        "endpoint_tenant_id": env.azure.tenant_id,
    }]
    # dev asks for public network access: the firewall allows, everything else stays locked.
    dev_account = only(stack("dev-azure"), "azurerm_storage_account")
    assert dev_account["network_rules"]["default_action"] == "Allow"
    assert dev_account["shared_access_key_enabled"] is False
    assert dev_account["allow_nested_items_to_be_public"] is False
    assert dev_account["blob_properties"]["delete_retention_policy"] == {"days": 7}


def test_storage_containers_are_private_and_follow_the_yaml(stack, envs):
    for env in envs:
        body = stack(f"{env.name}-azure")
        containers = resources(body, "azurerm_storage_container")
        assert sorted(c["name"] for c in containers) == sorted(env.storage.containers)
        assert {c["container_access_type"] for c in containers} == {"private"}
        assert {c["storage_account_id"] for c in containers} == {ref(body, "azurerm_storage_account", "id")}
        assert has_resource(body, "azurerm_storage_container",
                            {"name": "unity-catalog", "container_access_type": "private"})


def test_access_connector_has_a_managed_identity_with_blob_data_contributor_on_the_storage(stack, envs):
    prod = stack("prod-azure")
    assert has_resource(prod, "azurerm_databricks_access_connector", {
        "name": "ac-dbw-lakegate-prod", "identity": {"type": "SystemAssigned"}, "tags": envs["prod"].tags,
    })
    assignment = only(prod, "azurerm_role_assignment")
    assert assignment["role_definition_name"] == "Storage Blob Data Contributor"
    assert assignment["scope"] == ref(prod, "azurerm_storage_account", "id")
    logical_id = next(iter(prod["resource"]["azurerm_databricks_access_connector"]))
    assert assignment["principal_id"] == (
        f"${{azurerm_databricks_access_connector.{logical_id}.identity[0].principal_id}}"
    )
    assert has_resource(prod, "azurerm_role_assignment", {"principal_type": "ServicePrincipal"})


def test_vnet_injection_network(stack, envs, variants):
    prod, vnet = stack("prod-azure"), envs["prod"].workspace.vnet
    assert has_resource(prod, "azurerm_virtual_network", {"address_space": [vnet.cidr], "tags": envs["prod"].tags})
    subnets = {s["name"]: s for s in resources(prod, "azurerm_subnet")}
    assert set(subnets) == {"snet-dbw-lakegate-prod-public", "snet-dbw-lakegate-prod-private"}
    assert subnets["snet-dbw-lakegate-prod-public"]["address_prefixes"] == [vnet.public_subnet]
    assert subnets["snet-dbw-lakegate-prod-private"]["address_prefixes"] == [vnet.private_subnet]
    for subnet in subnets.values():
        (delegation,) = subnet["delegation"]
        assert delegation["service_delegation"]["name"] == "Microsoft.Databricks/workspaces"
        assert "Microsoft.Network/virtualNetworks/subnets/join/action" in delegation["service_delegation"]["actions"]
        assert subnet["virtual_network_name"] == ref(prod, "azurerm_virtual_network", "name")
        assert subnet["service_endpoint"] == [{"service": "Microsoft.Storage"}]
    only(prod, "azurerm_network_security_group")
    associations = resources(prod, "azurerm_subnet_network_security_group_association")
    assert len(associations) == 2
    assert {a["network_security_group_id"] for a in associations} == {
        ref(prod, "azurerm_network_security_group", "id")
    }
    assert {a["subnet_id"] for a in associations} == {
        f"${{azurerm_subnet.{logical_id}.id}}" for logical_id in prod["resource"]["azurerm_subnet"]
    }
    bare = variants["bare"]["resource"]
    for family in ("azurerm_virtual_network", "azurerm_subnet", "azurerm_network_security_group",
                   "azurerm_subnet_network_security_group_association"):
        assert family not in bare


def test_workspace_vnet_injected_without_public_ip(stack, envs):
    prod = stack("prod-azure")
    assert has_resource(prod, "azurerm_databricks_workspace", {
        "name": "dbw-lakegate-prod",
        "sku": "premium",
        "managed_resource_group_name": "rg-lakegate-prod-managed",
        "public_network_access_enabled": True,
        "network_security_group_rules_required": "AllRules",
        "tags": envs["prod"].tags,
    })
    custom = only(prod, "azurerm_databricks_workspace")["custom_parameters"]
    associations = prod["resource"]["azurerm_subnet_network_security_group_association"]
    role_of = {k: s["name"].rsplit("-", 1)[1] for k, s in prod["resource"]["azurerm_subnet"].items()}
    subnet_of = {role: f"${{azurerm_subnet.{k}.name}}" for k, role in role_of.items()}
    association_of = {
        role_of[a["subnet_id"].split(".")[1]]: f"${{azurerm_subnet_network_security_group_association.{k}.id}}"
        for k, a in associations.items()
    }
    assert custom == {
        "no_public_ip": True,
        "virtual_network_id": ref(prod, "azurerm_virtual_network", "id"),
        "public_subnet_name": subnet_of["public"],
        "private_subnet_name": subnet_of["private"],
        "public_subnet_network_security_group_association_id": association_of["public"],
        "private_subnet_network_security_group_association_id": association_of["private"],
    }


def test_workspace_variants(variants):
    bare = only(variants["bare"], "azurerm_databricks_workspace")
    assert bare["custom_parameters"] == {"no_public_ip": True}
    assert "network_security_group_rules_required" not in bare  # only valid with VNet injection
    assert bare["managed_resource_group_name"] == "rg-lakegate-dev-managed"
    locked = only(variants["locked"], "azurerm_databricks_workspace")
    assert locked["public_network_access_enabled"] is False
    assert locked["network_security_group_rules_required"] == "NoAzureDatabricksRules"


def test_workspace_closed_to_public_networks_needs_vnet_injection(envs):
    # The model refuses it before any construct sees it (the construct keeps its own check as a backstop).
    with pytest.raises(ValueError, match="public_network_access false needs vnet"):
        variant(envs, "dev", workspace={"vnet": None, "public_network_access": False})


def test_log_analytics_and_diagnostic_settings(stack, envs, variants):
    prod, env = stack("prod-azure"), envs["prod"]
    assert has_resource(prod, "azurerm_log_analytics_workspace", {
        "name": "log-dbw-lakegate-prod", "retention_in_days": 365, "sku": "PerGB2018",
        "local_authentication_enabled": False, "tags": env.tags,
    })
    law_id = ref(prod, "azurerm_log_analytics_workspace", "id")
    settings = {s["target_resource_id"]: s for s in resources(prod, "azurerm_monitor_diagnostic_setting")}
    workspace_setting = settings[ref(prod, "azurerm_databricks_workspace", "id")]
    assert workspace_setting["log_analytics_workspace_id"] == law_id
    assert [log["category"] for log in workspace_setting["enabled_log"]] == env.monitoring.diagnostic_categories
    storage_id = ref(prod, "azurerm_storage_account", "id")
    for service in ("blobServices", "queueServices"):
        setting = settings[f"{storage_id}/{service}/default"]
        assert setting["log_analytics_workspace_id"] == law_id
        assert [log["category"] for log in setting["enabled_log"]] == ["StorageRead", "StorageWrite", "StorageDelete"]
    assert has_resource(prod, "azurerm_monitor_diagnostic_setting", {
        "name": "to-log-analytics", "target_resource_id": ref(prod, "azurerm_databricks_workspace", "id"),
        "log_analytics_workspace_id": law_id,
    })
    assert "azurerm_log_analytics_workspace" not in variants["bare"]["resource"]
    assert "azurerm_monitor_diagnostic_setting" not in variants["bare"]["resource"]


def test_outputs_for_the_databricks_layer(stack):
    prod = stack("prod-azure")
    outputs = {name: body["value"] for name, body in prod["output"].items()}
    workspace = next(iter(prod["resource"]["azurerm_databricks_workspace"]))
    assert outputs["workspace_url"] == f"https://${{azurerm_databricks_workspace.{workspace}.workspace_url}}"
    assert outputs["workspace_id"] == ref(prod, "azurerm_databricks_workspace", "workspace_id")
    assert outputs["access_connector_id"] == ref(prod, "azurerm_databricks_access_connector", "id")
    assert outputs["storage_dfs_endpoint"] == ref(prod, "azurerm_storage_account", "primary_dfs_endpoint")
    assert not [name for name in outputs if "client_id" in name or "application" in name]  # the account stack's


def test_foundation_attributes(variants):
    foundation = variants["prod_like_foundation"]
    assert foundation.storage_account_name == "stlakegateprod"
    assert foundation.storage_dfs_host == "stlakegateprod.dfs.core.windows.net"
    from cdktn import Token

    # Tokens: cdktn turns them into cross-stack references when the Databricks stack uses them.
    for token in (foundation.workspace_url, foundation.workspace_resource_id, foundation.workspace_id,
                  foundation.access_connector_id):
        assert Token.is_unresolved(token), token
    assert foundation.workspace_url.startswith("https://")


# --- cross-cutting ---------------------------------------------------------------------------------

@cache
def _resource_class(resource_type: str):
    provider, _, name = resource_type.partition("_")
    module = importlib.import_module(f"cdktn_provider_{provider}.{name}")
    return next(c for c in vars(module).values()
                if isinstance(c, type) and getattr(c, "TF_RESOURCE_TYPE", None) == resource_type)


def test_every_taggable_resource_has_environment_and_owner(synthesized, variants, envs):
    checked = 0
    for stack_name, body in azure_stacks(synthesized, variants).items():
        env_name = {"bare": "dev", "locked": "prod"}.get(stack_name.removesuffix("-azure"),
                                                         stack_name.removesuffix("-azure"))
        env = envs[env_name]
        for resource_type, by_id in body.get("resource", {}).items():
            if not resource_type.startswith(("azurerm_", "azuread_")):
                continue
            if not hasattr(_resource_class(resource_type), "tags_input"):
                continue
            for logical_id, resource in by_id.items():
                tags = resource.get("tags")
                where = f"{stack_name}: {resource_type}.{logical_id}"
                if isinstance(tags, list):  # Entra ID tags are plain strings
                    assert {f"environment:{env.name}", f"owner:{env.owner}"} <= set(tags), where
                else:
                    assert tags and tags.get("environment") == env.name and tags.get("owner") == env.owner, where
                checked += 1
    assert checked >= 3 * 8


SECRET_KEY = re.compile(r"(password|secret|access_key|sas_token|client_certificate|connection_string|primary_key)",
                        re.IGNORECASE)
CREDENTIAL_BLOCKS = {"password", "client_secret", "access_key", "sas_token"}
# Resources that create or hold a credential (a client secret, a password, a secret value).
CREDENTIAL_RESOURCE = re.compile(r"password|client_secret|_secret$|_certificate$|access_key")
SECRET_VALUE = re.compile(
    r"AccountKey=|SharedAccessSignature|SharedAccessKey=|-----BEGIN|sig=[A-Za-z0-9%]{20,}"
    r"|(?<![A-Za-z0-9+/_.-])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/_.-])"
)


def _secret_findings(document, path="$") -> list[str]:
    findings = []
    if isinstance(document, dict):
        for key, value in document.items():
            # A secret-looking key holding a value is a finding; a boolean switch
            # (`shared_access_key_enabled: false`) is a setting and a nested block is a container
            # (`databricks_secret_scope: {...}` names a resource type) -- except a credential block.
            holds_value = isinstance(value, (str, int, float)) and not isinstance(value, bool)
            if (SECRET_KEY.search(key) and holds_value) or key.lower() in CREDENTIAL_BLOCKS:
                findings.append(f"{path}.{key}: secret-looking key")
            findings += _secret_findings(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            findings += _secret_findings(value, f"{path}[{index}]")
    elif isinstance(document, str) and SECRET_VALUE.search(document):
        findings.append(f"{path}: secret-looking value ***")
    return findings


def test_secret_scanner_catches_what_it_should():
    assert _secret_findings({"client_secret": "x"})
    assert not _secret_findings({"shared_access_key_enabled": False})
    assert not _secret_findings({"databricks_secret_scope": {"x": {"name": "ml"}}})
    assert _secret_findings({"azuread_application": {"x": {"password": [{"display_name": "ci"}]}}})
    assert CREDENTIAL_RESOURCE.search("azuread_application_password")
    assert CREDENTIAL_RESOURCE.search("azuread_service_principal_password")
    assert not CREDENTIAL_RESOURCE.search("databricks_secret_acl")
    assert _secret_findings({"x": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc"})
    assert _secret_findings({"x": "-----BEGIN PRIVATE KEY-----"})
    assert _secret_findings({"x": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4"})
    assert not _secret_findings({"subject": "repo:contoso/lakegate-ml:environment:prod",
                                 "id": "${azurerm_storage_account.storage_account_E377CD4D.id}"})


def test_no_secret_anywhere_in_the_synthesized_output(synthesized, variants):
    findings = []
    for path in sorted(synthesized.outdir.rglob("*.json")):
        findings += [f"{path.relative_to(synthesized.outdir)}: {f}"
                     for f in _secret_findings(json.loads(path.read_text()))]
    for name in ("bare", "locked"):
        findings += [f"{name}: {f}" for f in _secret_findings(variants[name])]
    assert not findings, "\n".join(findings)
    for name, body in {**synthesized.stacks, **azure_stacks(synthesized, variants)}.items():
        credentials = {t for t in body.get("resource", {}) if CREDENTIAL_RESOURCE.search(t)}
        assert not credentials, f"{name} creates credentials: {sorted(credentials)}"
