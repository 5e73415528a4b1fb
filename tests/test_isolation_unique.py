"""What must belong to one environment is refused when two files share it (infra/isolation.py): both lines
quoted, the file later in promotion order blamed, every shared value reported in one run."""

from __future__ import annotations

import json
import shutil

import pytest

from lakegate.cli.app import main

from .helpers import copy_examples, edit, line_of, problems_of

# (path pattern in staging.yaml, field, message) of every value a verbatim copy of staging.yaml shares.
SHARED = [
    (r"^  resource_group: rg-lakegate-staging", "azure.resource_group",
     "resource group 'rg-lakegate-staging' in subscription 22222222-2222-4222-8222-222222222222"),
    (r"^  container: tfstate-staging", "state.container",
     "Terraform state container 'stlakegatetfstate/tfstate-staging'"),
    (r"^  account_name: stlakegatestaging", "storage.account_name", "storage account 'stlakegatestaging'"),
    (r"^  name: dbw-lakegate-staging", "workspace.name", "workspace 'dbw-lakegate-staging'"),
    (r"^  id: 2234567890123452", "workspace.id", "workspace id 2234567890123452"),
    (r"^  catalog: staging", "unity_catalog.catalog", "catalog 'staging'"),
    (r"^    name: sp-lakegate-staging", "principals.service_principal.name", "service principal 'sp-lakegate-staging'"),
    (r"github: \{repository", "principals.service_principal.ci_oidc.github.environment",
     "GitHub OIDC subject 'repo:contoso/lakegate-ml:environment:staging'"),
    (r"service_connection: lakegate-staging", "principals.service_principal.ci_oidc.azure_devops.service_connection",
     "Azure DevOps OIDC subject 'sc://contoso/lakegate/lakegate-staging'"),
]


def copy_staging_to_qa(defs):
    """The user's case: qa.yaml is staging.yaml with only `name` changed, put between staging and prod."""
    shutil.copy(defs / "staging.yaml", defs / "qa.yaml")
    edit(defs / "qa.yaml", "name: staging", "name: qa")
    edit(defs / "qa.yaml", "  from: dev", "  from: staging")
    edit(defs / "prod.yaml", "  from: staging", "  from: qa")
    return defs


@pytest.fixture
def defs(tmp_path):
    return copy_examples(tmp_path / "environments")


def test_a_copied_environment_is_refused_for_every_shared_value_at_once(defs, monkeypatch):
    copy_staging_to_qa(defs)
    monkeypatch.chdir(defs.parent)
    found = problems_of(defs)
    expected = [f"environments/qa.yaml:{line_of(defs / 'qa.yaml', pattern)}: {field}: {what} is already used by "
                f"environments/staging.yaml:{line_of(defs / 'staging.yaml', pattern)}" for pattern, field, what in SHARED]
    cidr = line_of(defs / "staging.yaml", r"cidr: 10.20.0.0/16")
    expected.append(f"environments/qa.yaml:{cidr}: workspace.vnet.cidr: 10.20.0.0/16 overlaps staging's VNet "
                    f"10.20.0.0/16 (environments/staging.yaml:{cidr})")
    assert sorted(found) == sorted(expected)  # qa.yaml sorts before staging.yaml: blamed all the same


def test_check_json_carries_problems_and_findings(defs, capsys):
    copy_staging_to_qa(defs)
    capsys.readouterr()
    assert main(["check", "--environments", str(defs), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and len(data["problems"]) == len(SHARED) + 1
    assert {p["file"].rsplit("/", 1)[-1] for p in data["problems"]} == {"qa.yaml"}
    assert data["environments"] == ["dev", "staging", "qa", "prod"]  # each file validated on its own
    # The guardrails of those files ran too: the shared OIDC subjects are also LG-CI-002 findings.
    assert {"LG-CI-002"} <= {f["rule"] for f in data["findings"] if f["status"] == "violation"}


def test_guardrails_of_valid_files_are_reported_next_to_a_broken_file(defs, capsys):
    edit(defs / "dev.yaml", "sku: premium", "sku: premuim")        # a definition problem in dev
    edit(defs / "prod.yaml", "  backend: azurerm", "  backend: local")  # a guardrail violation in prod
    capsys.readouterr()
    assert main(["check", "--environments", str(defs)]) == 2
    err = capsys.readouterr().err
    assert "workspace.sku: 'premuim' is not one of premium, standard, trial" in err
    assert "LG-PROD-001[state.backend=local]" in err   # the same run: no second wave
    assert "1 problem(s) in" in err


def test_the_later_file_in_promotion_order_is_blamed_even_when_it_failed_validation(defs, monkeypatch):
    copy_staging_to_qa(defs)
    edit(defs / "qa.yaml", "sku: premium", "sku: premuim")   # qa is broken: its raw promotion.from still counts
    edit(defs / "staging.yaml", "sku: premium", "sku: premuim")
    monkeypatch.chdir(defs.parent)
    found = problems_of(defs)
    catalog = line_of(defs / "staging.yaml", r"^  catalog: staging")
    assert (f"environments/qa.yaml:{catalog}: unity_catalog.catalog: catalog 'staging' is already used by "
            f"environments/staging.yaml:{catalog}") in found
    assert not [p for p in found if p.startswith("environments/staging.yaml") and "already used" in p]


def test_a_target_before_its_source_in_file_order_is_still_the_one_blamed(defs, monkeypatch):
    # prod (the last target) takes dev's storage account: prod is blamed although the files are read in any order.
    edit(defs / "prod.yaml", "  account_name: stlakegateprod", "  account_name: stlakegatedev")
    monkeypatch.chdir(defs.parent)
    line = line_of(defs / "prod.yaml", "account_name: stlakegatedev")
    dev = line_of(defs / "dev.yaml", "account_name: stlakegatedev")
    assert problems_of(defs) == [f"environments/prod.yaml:{line}: storage.account_name: storage account "
                                 f"'stlakegatedev' is already used by environments/dev.yaml:{dev}"]


def test_an_environment_may_not_keep_its_state_in_the_account_stacks_container(defs, monkeypatch):
    edit(defs / "prod.yaml", "  container: tfstate-prod", "  container: tfstate-account")
    monkeypatch.chdir(defs.parent)
    line = line_of(defs / "prod.yaml", "container: tfstate-account")
    account = line_of(defs / "_account.yaml", "container: tfstate-account")
    assert problems_of(defs) == [f"environments/prod.yaml:{line}: state.container: Terraform state container "
                                 f"'stlakegatetfstate/tfstate-account' is already used by environments/_account.yaml:{account}"]


def test_resource_groups_are_compared_per_subscription(defs, monkeypatch):
    # The same resource group name in another subscription is another resource group.
    edit(defs / "prod.yaml", "  resource_group: rg-lakegate-prod", "  resource_group: rg-lakegate-staging")
    monkeypatch.chdir(defs.parent)
    assert load_ok(defs)
    edit(defs / "prod.yaml", "  subscription_id: 33333333-3333-4333-8333-333333333333",
         "  subscription_id: 22222222-2222-4222-8222-222222222222")
    line = line_of(defs / "prod.yaml", "resource_group: rg-lakegate-staging")
    assert [p for p in problems_of(defs) if "resource group" in p] == [
        f"environments/prod.yaml:{line}: azure.resource_group: resource group 'rg-lakegate-staging' in subscription "
        f"22222222-2222-4222-8222-222222222222 is already used by environments/staging.yaml:"
        f"{line_of(defs / 'staging.yaml', 'resource_group: rg-lakegate-staging')}"]


def test_a_branch_subject_is_one_environments_too(defs, monkeypatch):
    edit(defs / "dev.yaml", "github: {repository: contoso/lakegate-ml, environment: dev}",
         "github: {repository: contoso/lakegate-ml, branch: main}")
    edit(defs / "staging.yaml", "github: {repository: contoso/lakegate-ml, environment: staging}",
         "github: {repository: contoso/lakegate-ml, branch: main}")
    monkeypatch.chdir(defs.parent)
    line = line_of(defs / "staging.yaml", "branch: main")
    assert f"environments/staging.yaml:{line}: principals.service_principal.ci_oidc.github.branch: GitHub OIDC subject " \
           f"'repo:contoso/lakegate-ml:ref:refs/heads/main' is already used by environments/dev.yaml:" \
           f"{line_of(defs / 'dev.yaml', 'branch: main')}" in problems_of(defs)


def test_a_shared_workspace_id_also_shares_its_endpoint_names(defs, monkeypatch):
    edit(defs / "staging.yaml", "  id: 2234567890123452", "  id: 1234567890123451")
    edit(defs / "staging.yaml", "    serving:\n      scale_to_zero: true\n      rate_limits",
         "    serving:\n      endpoint: churn-dev\n      scale_to_zero: true\n      rate_limits")
    monkeypatch.chdir(defs.parent)
    found = [p.split(": ", 2)[1:] for p in problems_of(defs)]
    assert [field for field, _ in found] == ["workspace.id", "models.churn.serving"]
    assert found[1][1].startswith("serving endpoint 'churn-dev' in the same workspace is already used by "
                                  "environments/dev.yaml:")


def test_endpoint_names_may_repeat_in_different_workspaces(defs, monkeypatch):
    edit(defs / "staging.yaml", "    serving:\n      scale_to_zero: true\n      rate_limits",
         "    serving:\n      endpoint: churn-dev\n      scale_to_zero: true\n      rate_limits")
    monkeypatch.chdir(defs.parent)
    assert not [p for p in problems_of_or_none(defs) if "serving endpoint" in p]


def test_a_folder_named_like_an_environment_file_is_a_located_problem(defs, capsys):
    (defs / "x.yaml").mkdir()
    for command in (["check"], ["synth", "--out", str(defs.parent / "out")]):
        capsys.readouterr()
        assert main([*command, "--environments", str(defs)]) == 2, command
        err = capsys.readouterr().err
        assert f"{defs / 'x.yaml'}: cannot read: not a regular file" in err and "Errno" not in err
    assert not (defs.parent / "out").exists()


def load_ok(defs) -> bool:
    from lakegate.infra.loader import load_environments

    return bool(load_environments(defs))


def problems_of_or_none(defs) -> list[str]:
    from lakegate.infra.errors import DefinitionError
    from lakegate.infra.loader import load_environments

    try:
        load_environments(defs)
    except DefinitionError as error:
        return [str(p) for p in error.problems]
    return []
