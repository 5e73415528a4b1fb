"""Every guardrail finding points at the offending field's own YAML line (not at the file's first key).

Each case edits the example environments as a person would (tests/helpers.py `edit`), loads them, and checks the
exact findings and, for each, the `file:line` it names: the edited line itself, or for a right that another file or
the promotion path gives, the line infra/access.py names as its origin. A field left out (a default) points at its
parent mapping, the most specific line that was written.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from lakegate.cli.app import main
from lakegate.infra.guardrails.packs import DEFAULT
from lakegate.infra.guardrails.runner import META_RULES, check_environments
from lakegate.infra.loader import load_environments

from .helpers import EXAMPLES, copy_examples, edit, line_of, variant

ADHOC = ("compute:\n  allow_all_purpose: false\n  policies:\n", "compute:\n  allow_all_purpose: true\n  clusters:\n"
         "    - {name: adhoc, policy: prod-adhoc, node_type: Standard_D8ds_v5, users: [ml-engineers]}\n  policies:\n"
         "    - {name: prod-adhoc, node_types: [Standard_D8ds_v5], max_workers: 4, spark_version: 17.3.x-cpu-ml-scala2.13}\n")
GRANTS = "grants:\n  - {principal: ml-engineers, on: catalog prod,"
# A hand-written job beside the models' own (workflows.jobs).
ADHOC_JOB = ("  jobs:\n    - name: adhoc\n{extra}      clusters: [{{key: main, policy: prod-jobs, node_type: Standard_D8ds_v5}}]\n"
             "      tasks: [{{key: main, python_file: {file}}}]\n  experiments:\n")
WAIVER = "\nwaivers:\n  - {id: LG-PROD-008, reason: kept for the pilot endpoint, approved_by: ciso@contoso.com, expires: 2026-01-31}\n"

# rule id -> (edits [(file, old, new)], {finding tag: (file, regex of the line it must name)})
CASES = {
    "LG-PROD-001": ([("prod.yaml", "  backend: azurerm\n  subscription_id: 4444", "  backend: local\n  subscription_id: 4444")],
                    {"LG-PROD-001[state.backend=local]": ("prod.yaml", r"^  backend: local")}),
    "LG-PROD-002": ([("prod.yaml", "  no_public_ip: true", "  no_public_ip: false")],
                    {"LG-PROD-002[workspace=dbw-lakegate-prod]": ("prod.yaml", r"^  no_public_ip: false")}),
    "LG-PROD-003": ([("prod.yaml", "  sku: premium", "  sku: standard")],
                    {"LG-PROD-003[sku=standard]": ("prod.yaml", r"^  sku: standard")}),
    "LG-PROD-004": ([("prod.yaml", "  vnet:\n    cidr: 10.30.0.0/16\n    public_subnet: 10.30.0.0/21\n"
                                   "    private_subnet: 10.30.8.0/21\n", "")],
                    {"LG-PROD-004[workspace=dbw-lakegate-prod]": ("prod.yaml", r"^workspace:")}),  # left out: its parent
    "LG-PROD-005": ([("prod.yaml", "monitoring:\n  log_analytics:\n    retention_days: 365\n", "monitoring: {log_analytics: null}\n")],
                    {"LG-PROD-005[monitoring.log_analytics=none]": ("prod.yaml", r"^monitoring: \{log_analytics: null\}")}),
    "LG-PROD-006": ([("prod.yaml", *ADHOC)], {"LG-PROD-006[cluster=adhoc]": ("prod.yaml", r"\{name: adhoc,")}),
    "LG-PROD-007": ([("prod.yaml", GRANTS, "grants:\n  - {principal: ml-engineers, on: schema prod.ml, privileges: [MODIFY]}\n"
                                           "  - {principal: ml-engineers, on: catalog prod,")],
                    {"LG-PROD-007[group=ml-engineers,schema=prod.ml]": ("prod.yaml", r"on: schema prod.ml, privileges: \[MODIFY\]")}),
    "LG-PROD-008": ([("prod.yaml", "scale_to_zero: false", "scale_to_zero: true")],
                    {"LG-PROD-008[endpoint=churn]": ("prod.yaml", r"^      scale_to_zero: true")}),
    "LG-PROD-009": ([("prod.yaml", GRANTS, "grants:\n  - {principal: account users, on: schema prod.predictions, privileges: [SELECT]}\n"
                                           "  - {principal: ml-engineers, on: catalog prod,")],
                    {"LG-PROD-009[schema=prod.predictions]": ("prod.yaml", r"principal: account users")}),
    # A group is account-wide: dev's principal in prod's ml-engineers holds that group's grants in staging and prod.
    "LG-ACCESS-001": ([(name, "members: [sam.okafor@contoso.com, priya.nair@contoso.com]",
                        "members: [sam.okafor@contoso.com, priya.nair@contoso.com, sp-lakegate-dev]")
                       for name in ("dev.yaml", "staging.yaml", "prod.yaml")],
                      {"LG-ACCESS-001[group=ml-engineers,catalog=prod]": ("prod.yaml", r"principal: ml-engineers, on: catalog prod"),
                       "LG-ACCESS-001[group=ml-engineers,catalog=staging]": ("staging.yaml", r"principal: ml-engineers, on: catalog staging"),
                       # dev's principal in the group also reads both targets' hold-outs
                       **{f"LG-UC-003[principal=ml-engineers,holdout=prod.holdout.{m}_validation]":
                          ("prod.yaml", r"principal: ml-engineers, on: catalog prod") for m in ("churn", "demand")},
                       **{f"LG-UC-003[principal=ml-engineers,holdout=staging.features.{m}_validation]":
                          ("staging.yaml", r"principal: ml-engineers, on: catalog staging") for m in ("churn", "demand")}}),
    "LG-COMPUTE-001": ([("dev.yaml", "      auto_termination_minutes: 30\n      users: [data-scientists]",
                         "      auto_termination_minutes: 0\n      users: [data-scientists]"),
                        ("staging.yaml", "auto_stop_minutes: 10", "auto_stop_minutes: 0")],
                       {"LG-COMPUTE-001[cluster=exploration]": ("dev.yaml", r"^      auto_termination_minutes: 0"),
                        "LG-COMPUTE-001[warehouse=lakegate-staging]": ("staging.yaml", r"auto_stop_minutes: 0")}),
    "LG-COMPUTE-002": ([("staging.yaml", "spark_version: 17.3.x-cpu-ml-scala2.13", "spark_version: 15.4.x-cpu-ml-scala2.12")],
                       {"LG-COMPUTE-002[policy=staging-jobs,runtime=15.4.x-cpu-ml-scala2.12 (Spark 3.5; lakegate tests Spark 4)]":
                        ("staging.yaml", r"^      spark_version: 15.4.x-cpu-ml-scala2.12")}),
    "LG-SERVE-001": ([("staging.yaml", "      feature-refresh: {moved_from: feature-refresh}",
                       "      feature-refresh: {moved_from: feature-refresh, enabled: false}")],
                     {"LG-SERVE-001[endpoint=churn-staging,table=features.churn_features]": ("staging.yaml", r"lookup: by_key")}),
    "LG-JOB-001": ([("prod.yaml", "  experiments:\n", ADHOC_JOB.format(extra="      run_as: sam.okafor@contoso.com\n",
                                                                      file="pipelines/training/train.py"))],
                   {"LG-JOB-001[job=adhoc]": ("prod.yaml", r"^      run_as: sam.okafor")}),
    "LG-JOB-002": ([("prod.yaml", "  experiments:\n", ADHOC_JOB.format(extra="", file="pipelines/training/gone.py"))],
                   {"LG-JOB-002[job=adhoc,task=main,file=pipelines/training/gone.py]": ("prod.yaml", r"python_file: pipelines/training/gone.py")}),
    "LG-JOB-003": ([("prod.yaml", "  experiments:\n", ADHOC_JOB.format(extra="      parameters: {epochs: many}\n",
                                                                        file="pipelines/training/train.py"))],
                   {"LG-JOB-003[job=adhoc,parameter=epochs (epochs='many': not an integer)]":
                    ("prod.yaml", r"^      parameters: \{epochs: many\}")}),
    # A model of prod opting out of prod's approval (its own approval keys) is a finding at that line.
    "LG-PROD-010": ([("prod.yaml", "    code: models/demand.py\n", "    code: models/demand.py\n    approval: {required: false}\n"),
                     ("prod.yaml", "      - {type: serving_smoke}\n      - {type: approval}\n", "      - {type: serving_smoke}\n")],
                    {"LG-PROD-010[model=demand]": ("prod.yaml", r"^    approval: \{required: false\}")}),
    "LG-STORAGE-001": ([("dev.yaml", "\nstorage:\n", "\nstorage:\n  allow_public_blob_access: true\n")],
                       {"LG-STORAGE-001[storage=stlakegatedev]": ("dev.yaml", r"^  allow_public_blob_access: true")}),
    "LG-STORAGE-002": ([("staging.yaml", "\nstorage:\n", "\nstorage:\n  min_tls_version: TLS1_1\n")],
                       {"LG-STORAGE-002[min_tls_version=TLS1_1]": ("staging.yaml", r"^  min_tls_version: TLS1_1")}),
    "LG-STORAGE-003": ([("prod.yaml", "\nstorage:\n", "\nstorage:\n  public_network_access: true\n")],
                       {"LG-STORAGE-003[storage=stlakegateprod]": ("prod.yaml", r"^  public_network_access: true")}),
    "LG-TAG-001": ([("prod.yaml", "    cost_center: ml-prod\n", "    cost_center: ml-prod\n    owner: someone-else\n")],
                   {"LG-TAG-001[tag=owner]": ("prod.yaml", r"^    owner: someone-else")}),
    "LG-UC-003": ([("prod.yaml", "  - {principal: data-scientists, on: schema prod.features, privileges: [USE_SCHEMA, SELECT]}\n",
                    "  - {principal: data-scientists, on: schema prod.features, privileges: [USE_SCHEMA, SELECT]}\n"
                    "  - {principal: data-scientists, on: schema prod.holdout, privileges: [USE_SCHEMA, SELECT]}\n")],
                  {f"LG-UC-003[principal=data-scientists,holdout=prod.holdout.{m}_validation]":
                   ("prod.yaml", r"principal: data-scientists, on: schema prod.holdout") for m in ("churn", "demand")}),
    "LG-UC-002": ([(name, re.search(r"\n  id: \d+\n", (EXAMPLES / name).read_text()).group(0), "\n")
                   for name in ("dev.yaml", "staging.yaml")],
                  {"LG-UC-002[binding=dev->staging]": ("staging.yaml", r"^  from: dev"),
                   "LG-UC-002[binding=prod->dev]": ("prod.yaml", r"^    dev: read_only")}),
    "LG-CI-001": ([("prod.yaml", "github: {repository: contoso/lakegate-ml, environment: prod}",
                    "github: {repository: contoso/lakegate-ml, branch: main}")],
                  {"LG-CI-001[ci_oidc.github.branch=main]": ("prod.yaml", r"github: \{repository: contoso/lakegate-ml, branch: main\}")}),
    "LG-WAIVER-001": ([("prod.yaml", "scale_to_zero: false", "scale_to_zero: true"), ("prod.yaml", "\ncredentials:", WAIVER + "credentials:")],
                      {"LG-PROD-008[endpoint=churn]": ("prod.yaml", r"^      scale_to_zero: true"),
                       "LG-WAIVER-001[waiver=LG-PROD-008]": ("prod.yaml", r"^  - \{id: LG-PROD-008")}),
    "LG-WAIVER-002": ([("prod.yaml", "\ncredentials:", WAIVER.replace("2026-01-31", "2099-01-31") + "credentials:")],
                      {"LG-WAIVER-002[waiver=LG-PROD-008]": ("prod.yaml", r"^  - \{id: LG-PROD-008")}),
}


def test_every_rule_has_a_located_case():
    # LG-UC-001 and LG-CI-002 cannot be reached from YAML (the loader refuses a grant on another environment's
    # catalog and a shared OIDC subject first): variants built in code test them (here and tests/test_ci_guardrails.py).
    assert set(CASES) | {"LG-UC-001", "LG-CI-002"} == DEFAULT.ids | set(META_RULES)


def test_a_write_on_another_catalog_points_at_the_grant(envs):
    """LG-UC-001 needs a grant the loader refuses in YAML (another environment's catalog): built as a variant, the
    finding names that grant's own entry of `grants`."""
    grants = [g.model_dump(mode="json", by_alias=True) for g in envs["prod"].grants]
    grants.append({"principal": "sp-lakegate-prod", "on": "schema staging.ml", "privileges": ["USE_SCHEMA", "CREATE_MODEL"]})
    changed = variant(envs, "prod", grants=grants)
    found = {f.tag: f for f in check_environments(changed).findings}
    assert set(found) == {"LG-UC-001[schema=staging.ml]", "LG-ACCESS-001[schema=staging.ml]"}
    assert {f.location for f in found.values()} == {changed["prod"].locate("grants", len(grants) - 1)}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return copy_examples(tmp_path_factory.mktemp("pristine") / "environments")


def located(directory: Path, rule_id: str):
    edits, expected = CASES[rule_id]
    for file, old, new in edits:
        edit(directory / file, old, new)
    envs = load_environments(directory)
    report = check_environments(envs, today=date(2026, 6, 1))
    return envs, report, expected


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_each_finding_points_at_the_offending_line(rule_id, tmp_path, examples):
    directory = tmp_path / "environments"
    directory.mkdir()
    for path in examples.glob("*.yaml"):
        (directory / path.name).write_bytes(path.read_bytes())
    envs, report, expected = located(directory, rule_id)
    found = {f.tag: f for f in report.findings if f.status != "waived"}
    assert set(found) == set(expected)
    for tag, (file, pattern) in expected.items():
        where, line = found[tag].location.rsplit(":", 1)
        assert (Path(where).name, int(line)) == (file, line_of(directory / file, pattern)), tag
        assert int(line) != int(envs[found[tag].env].locate().rsplit(":", 1)[1]) or pattern.startswith("^name")


def test_report_rules_json_carries_the_location_and_the_field_path(tmp_path, capsys):
    directory = copy_examples(tmp_path / "environments")
    edit(directory / "prod.yaml", *ADHOC)
    assert main(["report", "rules", "--json", "--environments", str(directory)]) == 3
    [finding] = json.loads(capsys.readouterr().out)["findings"]
    assert finding["location"].endswith(f"prod.yaml:{line_of(directory / 'prod.yaml', r'{name: adhoc,')}")
    assert finding["field"] == "compute.clusters[0]"
