"""Azure guardrails: each rule fires on its failing fixture and not on the examples; the exact set of ids."""

from __future__ import annotations

from datetime import date

import pytest

from lakegate.infra.guardrails.packs import DEFAULT, Pack
from lakegate.infra.guardrails.rule import Rule
from lakegate.infra.guardrails.runner import check_environments

from .helpers import variant


def fired(report, env=None) -> set[str]:
    return {f.tag for f in report.findings if f.status != "waived" and (env is None or f.env == env)}


def test_examples_pass_every_rule(envs):
    report = check_environments(envs)
    assert report.passed and fired(report) == set()
    assert report.rules_run == len(DEFAULT) >= 9


CASES = [
    ("prod", {"state": {"backend": "local"}}, {"LG-PROD-001[state.backend=local]"}),
    ("prod", {"workspace": {"no_public_ip": False}}, {"LG-PROD-002[workspace=dbw-lakegate-prod]"}),
    ("prod", {"workspace": {"sku": "standard"}}, {"LG-PROD-003[sku=standard]"}),
    ("prod", {"workspace": {"vnet": None}}, {"LG-PROD-004[workspace=dbw-lakegate-prod]"}),
    ("prod", {"monitoring": {"log_analytics": None}}, {"LG-PROD-005[monitoring.log_analytics=none]"}),
    ("dev", {"storage": {"allow_public_blob_access": True}}, {"LG-STORAGE-001[storage=stlakegatedev]"}),
    ("staging", {"storage": {"min_tls_version": "TLS1_1"}}, {"LG-STORAGE-002[min_tls_version=TLS1_1]"}),
    ("prod", {"storage": {"public_network_access": True}}, {"LG-STORAGE-003[storage=stlakegateprod]"}),
    ("dev", {"azure": {"tags": {"owner": "someone-else"}}}, {"LG-TAG-001[tag=owner]"}),
    ("dev", {"owner": " "}, {"LG-TAG-001[owner=]"}),
]


@pytest.mark.parametrize("env,updates,expected", CASES, ids=[sorted(c[2])[0].split("[")[0] + "-" + c[0] for c in CASES])
def test_rule_fires(envs, env, updates, expected):
    report = check_environments(variant(envs, env, **updates))
    assert fired(report) == expected


def test_production_rules_do_not_apply_outside_production(envs):
    relaxed = variant(envs, "dev", state={"backend": "local"}, workspace={"vnet": None, "sku": "standard"},
                      monitoring={"log_analytics": None})
    assert fired(check_environments(relaxed)) == set()


def test_warning_does_not_fail_the_check(envs):
    report = check_environments(variant(envs, "prod", storage={"public_network_access": True}))
    assert report.passed and [f.status for f in report.findings] == ["warning"]


def test_waiver_is_reported_as_waived(envs):
    waiver = {"id": "LG-PROD-003", "reason": "Migration to premium is scheduled for Q1", "approved_by": "ciso@contoso.com",
              "applies_to": "sku=standard", "expires": "2099-01-01"}
    report = check_environments(variant(envs, "prod", workspace={"sku": "standard"}, waivers=[waiver]))
    assert report.passed
    (finding,) = report.waived
    assert finding.tag == "LG-PROD-003[sku=standard]" and finding.status == "waived"
    assert "waived by ciso@contoso.com" in str(finding)


def test_waiver_for_another_finding_does_not_apply(envs):
    waiver = {"id": "LG-PROD-003", "reason": "Migration to premium is scheduled", "approved_by": "ciso", "applies_to": "sku=trial"}
    report = check_environments(variant(envs, "prod", workspace={"sku": "standard"}, waivers=[waiver]))
    assert fired(report) == {"LG-PROD-003[sku=standard]", "LG-WAIVER-002[waiver=LG-PROD-003]"}
    assert not report.passed


def test_expired_waiver_is_an_error_and_waives_nothing(envs):
    waiver = {"id": "LG-PROD-003", "reason": "Migration to premium is scheduled", "approved_by": "ciso", "expires": "2026-01-31"}
    report = check_environments(variant(envs, "prod", workspace={"sku": "standard"}, waivers=[waiver]), today=date(2026, 2, 1))
    assert fired(report) == {"LG-PROD-003[sku=standard]", "LG-WAIVER-001[waiver=LG-PROD-003]"}
    expired = next(f for f in report.findings if f.rule_id == "LG-WAIVER-001")
    assert expired.info == "waiver expired on 2026-01-31; renew it or fix the finding"


def test_waiver_of_unknown_rule_is_an_error(envs):
    waiver = {"id": "LG-NOPE-001", "reason": "This rule does not exist at all", "approved_by": "ciso"}
    report = check_environments(variant(envs, "dev", waivers=[waiver]))
    assert not report.passed and fired(report) == {"LG-WAIVER-002[waiver=LG-NOPE-001]"}


def test_a_rule_that_raises_counts_as_a_violation(envs):
    def broken(env, envs):
        raise RuntimeError("boom")

    pack = Pack("broken", (Rule("LG-PROD-003", "error", "x", "y", broken, production_only=True),))
    report = check_environments(envs, rules=pack)
    assert fired(report) == {"LG-PROD-003[rule-error]"}
    assert report.violations[0].info == "the rule raised RuntimeError: boom"


def test_rule_ids_are_well_formed_and_explained():
    for rule in DEFAULT:
        assert rule.id.startswith("LG-") and len(rule.id.split("-")) == 3 and len(rule.id.split("-")[2]) == 3
        assert rule.level in ("error", "warning")
        assert "\n" not in rule.info and len(rule.explanation) > 40
