"""Loading environment definitions: good ones load, every bad one is reported with file, line and path."""

from __future__ import annotations

import os

import pytest

from .helpers import copy_examples, edit, line_of, problems_of




def test_examples_load_in_promotion_order(envs):
    assert envs.names == ["dev", "staging", "prod"]
    prod = envs["prod"]
    assert prod.production and prod.state.backend == "azurerm"
    assert prod.promotion.from_env == "staging" and envs["staging"].promotion.from_env == "dev"
    assert prod.unity_catalog.model_full_name("churn") == "prod.ml.churn"
    assert prod.tags["environment"] == "prod" and prod.tags["owner"] == "ml-platform@contoso.com"
    assert envs["dev"].compute.allow_all_purpose and not prod.compute.allow_all_purpose


def test_located_field_path(envs, root):
    expected = line_of(root / "environments" / "prod.yaml", r"^  sku:")
    assert envs["prod"].locate("workspace", "sku").endswith(f"environments/prod.yaml:{expected}")


BAD_INPUTS = [
    # (file, old text, new text, expected message after "file:line: ", line pattern)
    ("prod.yaml", "sku: premium", "sku: premuim",
     "workspace.sku: 'premuim' is not one of premium, standard, trial", r"sku: premuim"),
    ("prod.yaml", "privileges: [USE_SCHEMA, SELECT]}", "privileges: [USE_SCHEMA, WRITE]}",
     "grants[2].privileges: unknown privilege 'WRITE'", r"WRITE\]"),
    ("dev.yaml", "  replication: LRS", "  replication: LRS\n  replicaton: GRS",
     "storage.replicaton: unknown field", r"replicaton"),
    ("staging.yaml", "  from: dev", "  from: qa",
     "promotion.from: unknown environment 'qa' (known: dev, prod, staging)", r"from: qa"),
    ("staging.yaml", "cidr: 10.20.0.0/16\n    public_subnet: 10.20.0.0/22\n    private_subnet: 10.20.4.0/22",
     "cidr: 10.10.0.0/16\n    public_subnet: 10.10.0.0/22\n    private_subnet: 10.10.4.0/22",
     "workspace.vnet.cidr: 10.10.0.0/16 overlaps dev's VNet 10.10.0.0/16 (environments/dev.yaml:", r"cidr: 10.10"),
    ("staging.yaml", "  catalog: staging", "  catalog: dev",
     "unity_catalog.catalog: catalog 'dev' is already used by environments/dev.yaml:", r"catalog: dev"),
    ("prod.yaml", "  account_name: stlakegateprod", "  account_name: St-Lakegate",
     "storage.account_name: 'St-Lakegate' is not a valid storage account name", r"St-Lakegate"),
    ("prod.yaml", "{principal: ml-engineers, on: catalog prod,", "{principal: ml-engineers, on: catalogue prod,",
     "grants[0].on: unknown securable type 'catalogue'", r"catalogue prod"),
    ("prod.yaml", "{principal: ml-engineers, on: catalog prod,", "{principal: ml-enginers, on: catalog prod,",
     "grants[0].principal: unknown principal 'ml-enginers'", r"ml-enginers"),
    ("prod.yaml", "    - {type: signature}", "    - {type: signatur}",
     "promotion.gates[1]: 'signatur' is not one of metric_threshold, no_regression, signature, required_tags, smoke_inference, serving_smoke, approval",
     r"signatur\}"),
    ("prod.yaml", "    - {type: metric_threshold, metric: accuracy, min: 0.85}", "    - {type: metric_threshold, metric: accuracy}",
     "promotion.gates[2]: give min, max or both", r"metric: accuracy\}"),
    ("prod.yaml", "  private_subnet: 10.30.8.0/21", "  private_subnet: 10.31.8.0/21",
     "workspace.vnet: private_subnet 10.31.8.0/21 is not inside 10.30.0.0/16", r"^  vnet:"),
    ("dev.yaml", "      max_workers: 2\n", "      max_workers: 9\n",
     "compute: cluster 'exploration' max_workers 9 exceeds policy limit 4", r"^compute:"),
    ("prod.yaml", "  schemas:\n", "  model_schema: models\n  schemas:\n",
     "unity_catalog: model_schema 'models' is not one of the schemas (ml, features, monitoring, predictions, holdout)", r"^unity_catalog:"),
    ("dev.yaml", "name: dev\n", "name: dev\nname: dev2\n",
     "name: duplicate key (YAML would silently keep the last one)", r"^name: dev2"),
    ("staging.yaml", "name: staging", "name: stage",
     "name: 'stage' does not match the file name 'staging.yaml'", r"^name: stage"),
    ("prod.yaml", "    dev: read_only", "    dev: read-only",
     "unity_catalog.bindings.dev: 'read-only' is not one of read_only, read_write", r"dev: read-only"),
    ("prod.yaml", "owner: ml-platform@contoso.com\n", "",
     "owner: required field is missing", r"^name: prod"),
]


@pytest.mark.parametrize("file,old,new,message,line_pattern", BAD_INPUTS, ids=[c[3].split(":")[0] + "-" + str(i) for i, c in enumerate(BAD_INPUTS)])
def test_bad_input_is_located(defs, file, old, new, message, line_pattern):
    path = defs / file
    edit(path, old, new)
    line = line_of(path, line_pattern)
    expected_prefix = f"environments/{file}:{line}: "
    found = problems_of(defs)
    assert any(p.startswith(expected_prefix + message) for p in found), found


def test_promotion_cycle(defs):
    edit(defs / "dev.yaml", "promotion:\n", "promotion:\n  from: prod\n")
    found = problems_of(defs)
    line = line_of(defs / "dev.yaml", r"from: prod")
    assert f"environments/dev.yaml:{line}: promotion.from: promotion path has a cycle: dev -> staging -> prod -> dev" in found, found
    assert len([p for p in found if "cycle" in p]) == 1


def test_several_errors_reported_together(defs):
    edit(defs / "prod.yaml", "sku: premium", "sku: premuim")
    edit(defs / "dev.yaml", "  replication: LRS", "  replication: XRS")
    edit(defs / "staging.yaml", "  location: westeurope", "  location: westeurope\n  region: x")
    found = problems_of(defs)
    assert len(found) == 3
    assert [p.split(":")[0] for p in found] == ["environments/dev.yaml", "environments/prod.yaml", "environments/staging.yaml"]


def test_invalid_yaml_is_located(defs):
    edit(defs / "dev.yaml", "  location: westeurope", "  location: [westeurope")
    found = problems_of(defs)
    assert any(p.startswith("environments/dev.yaml:") and "invalid YAML" in p for p in found), found


def test_waiver_rules(defs):
    edit(defs / "prod.yaml", "credentials:\n", "waivers:\n  - {id: 'LG-PROD-002[cluster=x]', reason: short, approved_by: ''}\ncredentials:\n")
    found = problems_of(defs)
    line = line_of(defs / "prod.yaml", r"LG-PROD-002\[")
    assert f"environments/prod.yaml:{line}: waivers[0].id: 'LG-PROD-002[cluster=x]': put the finding in applies_to, the id is the bare rule id" in found
    assert f"environments/prod.yaml:{line}: waivers[0].reason: a waiver needs a reason of at least 10 characters" in found


def test_missing_directory_and_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert problems_of(tmp_path / "nowhere") == ["nowhere: no such directory"]
    (tmp_path / "empty").mkdir()
    assert problems_of(tmp_path / "empty") == ["empty: no environment files (*.yaml)"]


def test_files_outside_cwd_are_shown_absolute(tmp_path, monkeypatch):
    defs = copy_examples(tmp_path / "defs")
    monkeypatch.chdir(os.path.dirname(os.path.dirname(__file__)))
    edit(defs / "prod.yaml", "sku: premium", "sku: premuim")
    assert problems_of(defs)[0].startswith(str(defs / "prod.yaml") + ":")


def _discriminator_tags(schema) -> set[str]:
    if isinstance(schema, dict):
        found = set(schema["discriminator"].get("mapping", {})) if isinstance(schema.get("discriminator"), dict) else set()
        return found.union(*(_discriminator_tags(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_discriminator_tags(value) for value in schema))
    return set()


def test_the_union_tags_the_loader_skips_are_every_discriminator_tag_of_the_model():
    from lakegate.infra import loader
    from lakegate.infra.model import Environment

    assert loader._UNION_TAGS == _discriminator_tags(Environment.model_json_schema())


def test_an_unknown_field_of_a_serving_smoke_gate_is_located(defs):
    path = defs / "prod.yaml"
    edit(path, "    - {type: serving_smoke}", "    - {type: serving_smoke, wait: 1}")
    line = line_of(path, r"type: serving_smoke, wait")
    found = problems_of(defs)
    assert any(p.startswith(f"environments/prod.yaml:{line}: promotion.gates[") and p.endswith("].wait: unknown field")
               for p in found), found
