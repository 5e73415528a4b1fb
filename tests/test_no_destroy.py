"""Changing definitions never destroys data: the examples synthesized before models became first-class
(tests/fixtures/synth-before-models, the snapshots of that commit) against today's synth of the same
environments. Every resource that existed keeps its Terraform address (or the synth moves it with a `moved`
block), and nothing that holds data changes an attribute that makes the provider replace it; what holds data
also carries `prevent_destroy`, so a later change that would delete it fails the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BEFORE = Path(__file__).resolve().parent / "fixtures" / "synth-before-models"

# Attributes whose change makes the provider destroy and re-create the resource (ForceNew in the providers'
# schemas), for the resources that hold data or identity. A changed value here is a replacement.
FORCE_NEW = {
    "azurerm_resource_group": ("name", "location"),
    "azurerm_storage_account": ("name", "resource_group_name", "location", "is_hns_enabled", "account_kind"),
    "azurerm_storage_container": ("name", "storage_account_id"),
    "azurerm_databricks_workspace": ("name", "resource_group_name", "location", "managed_resource_group_name"),
    "databricks_catalog": ("name", "storage_root", "provider_name", "share_name"),
    "databricks_schema": ("catalog_name", "name", "storage_root"),
    "databricks_volume": ("catalog_name", "schema_name", "name", "volume_type", "storage_location"),
    "databricks_registered_model": ("catalog_name", "schema_name", "name"),
    "databricks_storage_credential": ("name",),
}
# What holds data: an apply may never delete it.
PROTECTED = ("azurerm_storage_account", "azurerm_storage_container", "databricks_catalog", "databricks_schema",
             "databricks_volume", "databricks_registered_model")


def _resources(stack: dict) -> dict[str, dict]:
    return {f"{kind}.{name}": body for kind, items in stack.get("resource", {}).items() for name, body in items.items()}


def _moved(stack: dict) -> dict[str, str]:
    return {entry["from"]: entry["to"] for entry in stack.get("moved", [])}


@pytest.mark.parametrize("name", sorted(p.stem for p in BEFORE.glob("*.json")))
def test_no_existing_resource_is_destroyed_or_replaced(synthesized, name):
    before = json.loads((BEFORE / f"{name}.json").read_text())
    after = synthesized.stacks[name]
    now, moved = _resources(after), _moved(after)
    for address, old in _resources(before).items():
        target = moved.get(address, address)
        assert target in now, f"{name}: {address} would be destroyed (no resource and no moved block)"
        kind = address.split(".", 1)[0]
        for attribute in FORCE_NEW.get(kind, ()):
            assert now[target].get(attribute) == old.get(attribute), (
                f"{name}: {address}.{attribute} changed {old.get(attribute)!r} -> {now[target].get(attribute)!r}: "
                "the provider would replace it")


def test_what_holds_data_cannot_be_destroyed_by_an_apply(synthesized):
    protected = 0
    for name, stack in synthesized.stacks.items():
        for address, body in _resources(stack).items():
            if address.split(".", 1)[0] in PROTECTED:
                assert (body.get("lifecycle") or {}).get("prevent_destroy") is True, f"{name}: {address}"
                protected += 1
    assert protected >= 30  # catalogs, schemas, models, storage accounts and containers of three environments


def test_renamed_jobs_keep_their_addresses(synthesized):
    """churn's jobs were `train`, `deploy`, ...: they are `churn-train`, ... now, renamed in place."""
    jobs = synthesized.stacks["prod-databricks"]["resource"]["databricks_job"]
    by_name = {body["name"]: address for address, body in jobs.items()}
    assert by_name["prod-churn-train"].startswith("workflows_job_train_")
    assert by_name["prod-demand-train"].startswith("workflows_job_demand_train_")
