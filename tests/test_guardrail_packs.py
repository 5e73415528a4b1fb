"""Guardrail packs (infra/guardrails/packs.py): every rule is in one area pack, DEFAULT is all of them, and a pack
passed to check_environments is exactly what runs."""

from __future__ import annotations

import pytest

from lakegate.infra.guardrails import packs, rules_access, rules_azure, rules_ci, rules_databricks
from lakegate.infra.guardrails.packs import DEFAULT, Pack
from lakegate.infra.guardrails.rule import Rule, at
from lakegate.infra.guardrails.runner import check_environments

from .helpers import variant

AREA_PACKS = {rules_azure: packs.AZURE, rules_databricks: packs.DATABRICKS, rules_access: packs.ACCESS, rules_ci: packs.CI}


def defined(module) -> set[str]:
    return {value.id for value in vars(module).values() if isinstance(value, Rule)}


@pytest.mark.parametrize("module", AREA_PACKS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_rule_module_has_its_pack(module):
    assert AREA_PACKS[module].ids == defined(module)


def test_the_default_pack_is_every_area_pack_and_nothing_else():
    area_ids = [rule.id for pack in AREA_PACKS.values() for rule in pack]
    assert len(area_ids) == len(set(area_ids)) == len(DEFAULT)
    assert DEFAULT.ids == set(area_ids)
    assert [r.id for r in DEFAULT] == sorted(area_ids)


def test_a_pack_refuses_a_rule_listed_twice():
    with pytest.raises(ValueError, match="LG-PROD-001"):
        Pack("twice", (rules_azure.prod_remote_state, rules_azure.prod_remote_state))


def test_only_the_rules_of_the_pack_passed_run(envs):
    changed = variant(envs, "prod", workspace={"sku": "standard", "no_public_ip": False})
    assert {f.tag for f in check_environments(changed).findings} >= {
        "LG-PROD-002[workspace=dbw-lakegate-prod]", "LG-PROD-003[sku=standard]"}
    report = check_environments(changed, rules=Pack("sku", (rules_azure.prod_premium,)))
    assert report.rules_run == 1
    assert {f.tag for f in report.findings} == {"LG-PROD-003[sku=standard]"}


def test_waivers_of_rules_outside_the_pack_are_not_judged(envs):
    """prod waives default-pack rules: a one-rule pack neither uses them nor calls them unknown or unused."""
    always = Rule("LG-TEST-001", "warning", "always", "a finding on every environment, for this test", lambda e, es: [at("x")])
    report = check_environments(envs, rules=[always])
    assert {f.tag for f in report.findings} == {"LG-TEST-001[x]"}
