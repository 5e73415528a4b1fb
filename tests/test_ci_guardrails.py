"""Guardrails over CI identities (infra/guardrails/rules_ci.py): each fires on its failing definitions, never on
the examples."""

from __future__ import annotations

import pytest

from lakegate.infra.guardrails.runner import check_environments
from lakegate.infra.loader import load_environments

from .helpers import variant, copy_examples, edit


def fired(report) -> set[str]:
    return {f.tag for f in report.findings if f.status != "waived"}


def test_the_examples_pass(envs):
    assert not {t for t in fired(check_environments(envs)) if t.startswith("LG-CI-")}


def test_production_must_sign_in_from_a_github_environment(tmp_path):
    folder = copy_examples(tmp_path / "envs")
    edit(folder / "prod.yaml", "environment: prod}", "branch: release}")
    edit(folder / "staging.yaml", "environment: staging}", "branch: main}")   # outside production: allowed
    report = check_environments(load_environments(folder))
    assert {t for t in fired(report) if t.startswith("LG-CI-")} == {"LG-CI-001[ci_oidc.github.branch=release]"}
    assert not report.passed


def test_two_environments_cannot_share_a_subject(tmp_path, envs):
    """The loader refuses a shared subject (infra/isolation.py, exit 2, both lines); the rule still holds for
    definitions built in code (defence in depth)."""
    from lakegate.infra.errors import DefinitionError

    folder = copy_examples(tmp_path / "envs")
    edit(folder / "prod.yaml", "environment: prod}", "environment: staging}")
    edit(folder / "prod.yaml", "service_connection: lakegate-prod", "service_connection: lakegate-staging")
    with pytest.raises(DefinitionError) as refused:
        load_environments(folder)
    assert {p.path for p in refused.value.problems} == {"principals.service_principal.ci_oidc.github.environment",
                                                       "principals.service_principal.ci_oidc.azure_devops.service_connection"}
    oidc = envs["staging"].principals.service_principal.ci_oidc.model_dump()
    principals = envs["prod"].principals.model_dump()
    principals["service_principal"]["ci_oidc"] = oidc
    report = check_environments(variant(envs, "prod", principals=principals))
    subjects = ("github=repo:contoso/lakegate-ml:environment:staging", "azure_devops=sc://contoso/lakegate/lakegate-staging")
    # each of the two environments is told which other one shares its subject
    assert {t for t in fired(report) if t.startswith("LG-CI-")} == {
        f"LG-CI-002[{subject} (also {other})]" for subject in subjects for other in ("prod", "staging")}
