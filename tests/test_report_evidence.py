"""Evidence packs: recorded with their digest in the promote entry, exported by `report evidence`, and checked by
`report evidence --verify` (and by the hash chain: `audit verify`).

The first tests write the audit entries with promotion.audit.AuditLog directly (tests/test_report_site.py
`write_history`, packs built by reports/evidence.py from stub registry objects). The last one promotes for real on
the local registry (tests/local_registry_fixtures.py) and checks that promotion/promote.py records the pack.
"""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

from lakegate.cli.app import main
from lakegate.infra.loader import load_environments
from lakegate.promotion.audit import AuditLog, verify
from lakegate.promotion.evidence import pack_digest

from .test_report_site import SCRIPT, definitions, write_history


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evidence")
    env_dir = definitions(tmp)
    envs = load_environments(env_dir)
    write_history(tmp / "state", envs)
    return SimpleNamespace(env_dir=env_dir, envs=envs, state=tmp / "state")


def evidence(world, *args, state=None):
    return main(["report", "evidence", *args, "--environments", str(world.env_dir), "--state-dir", str(state or world.state)])


def test_the_promote_entry_records_the_pack_and_its_digest(world):
    entries = AuditLog(world.state / "audit", "prod").entries()
    promoted = [e for e in entries if e["action"] == "promote"]
    for entry in promoted:
        pack = entry["details"]["evidence"]
        assert entry["details"]["evidence_sha256"] == pack_digest(pack)
        assert (pack["env"], pack["model"], pack["version"]) == ("prod", "prod.ml.churn", "1")
    pack = promoted[-1]["details"]["evidence"]
    assert [v["env"] for v in pack["lineage"]["versions"]] == ["dev", "staging", "prod"]
    assert pack["lineage"]["git_commit"].startswith("b5f5b1bc75")
    metric = next(g for g in pack["gates"] if g["type"] == "metric_threshold")
    assert metric["config"]["min"] == 0.85 and metric["details"]["computed_by"] == "sp-lakegate-prod"
    assert metric["defined_at"].rsplit(":", 1)[0].endswith("prod.yaml")
    assert pack["approval"]["record"]["by"] == "head.of.ml@contoso.com" and pack["approval"]["verification"]["passed"]
    assert pack["approval"]["audit_entry"]["seq"] == 2  # the approve entry the promotion relied on
    access = pack["access"]
    assert access["principal"] == "sp-lakegate-prod"
    assert {g["securable"] for g in access["unity_catalog_grants"]} >= {"catalog staging", "schema staging.ml", "schema prod.ml"}
    assert {r["role"] for r in access["azure_roles"]} >= {"Contributor", "Role Based Access Control Administrator"}
    [waiver] = [w for w in pack["waivers"]["declared"] if w["covers"]]
    assert waiver["id"] == "LG-PROD-003" and waiver["in_force"] and waiver["approved_by"] == "ciso@contoso.com"


def test_report_evidence_writes_html_and_json_and_verifies_the_digest(world, tmp_path, capsys):
    out = tmp_path / "pack"
    assert evidence(world, "churn", "--env", "prod", "--version", "1", "--out", str(out), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["audit_entry"]["seq"] == 3
    document = json.loads((out / "evidence.json").read_text())
    assert document["evidence_sha256"] == pack_digest(document["pack"]) == summary["evidence_sha256"]
    assert document["other_promotions"] == [1]
    html = (out / "evidence.html").read_text()
    assert "Evidence matches the audit log" in html and document["evidence_sha256"] in html
    assert "head.of.ml@contoso.com" in html and "sp-lakegate-prod" in html
    assert SCRIPT not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # the approve entry's actor, as text
    assert main(["report", "evidence", "--verify", str(out), "--state-dir", str(world.state)]) == 0


def test_an_edited_pack_file_or_page_is_detected_by_verify(world, tmp_path, capsys):
    out = tmp_path / "pack"
    assert evidence(world, "churn", "--env", "prod", "--version", "1", "--out", str(out)) == 0
    pristine = {name: (out / name).read_text() for name in ("evidence.json", "evidence.html")}
    # The pack: a gate's figure improved after the fact.
    document = json.loads(pristine["evidence.json"])
    metric = next(g for g in document["pack"]["gates"] if g["type"] == "metric_threshold")
    metric["details"]["value"] = 0.99
    (out / "evidence.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["report", "evidence", "--verify", str(out), "--state-dir", str(world.state), "--json"]) == 8
    result = json.loads(capsys.readouterr().out)
    position = document["pack"]["gates"].index(metric)  # the implied lineage gate runs first
    assert not result["ok"] and result["changed_fields"] == [f"gates[{position}].details.value"]
    assert {c["check"] for c in result["checks"] if not c["ok"]} >= {"digest", "file", "html"}
    # The page alone: the HTML no longer is the rendering of the JSON.
    (out / "evidence.json").write_text(pristine["evidence.json"])
    (out / "evidence.html").write_text(pristine["evidence.html"].replace("head.of.ml@contoso.com", "someone@contoso.com"))
    assert main(["report", "evidence", "--verify", str(out), "--state-dir", str(world.state), "--json"]) == 8
    result = json.loads(capsys.readouterr().out)
    assert [c["check"] for c in result["checks"] if not c["ok"]] == ["html"]


def test_a_pack_edited_inside_the_audit_log_breaks_the_chain(world, tmp_path):
    state = tmp_path / "state"
    shutil.copytree(world.state, state)
    log = state / "audit" / "prod.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["details"]["evidence"]["approval"]["record"]["by"] = "someone@contoso.com"
    entry["details"]["evidence_sha256"] = pack_digest(entry["details"]["evidence"])  # even with a matching digest
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")
    found = verify(state / "audit")
    assert not found.ok and "entry seq 3 was edited" in str(found.problems[0])
    assert main(["audit", "verify", "--offline", "--environments", str(world.env_dir), "--state-dir", str(state)]) == 8
    out = tmp_path / "pack"
    assert evidence(world, "churn", "--env", "prod", "--version", "1", "--out", str(out), state=state) == 8
    assert "EVIDENCE DOES NOT MATCH THE AUDIT LOG" in (out / "evidence.html").read_text()


def test_unknown_versions_entries_without_a_pack_and_empty_folders_are_invalid_requests(world, tmp_path):
    assert evidence(world, "churn", "--env", "prod", "--version", "7") == 6
    assert evidence(world, "churn", "--env", "nowhere", "--version", "1") == 6
    assert evidence(world, "churn", "--env", "prod", "--version", "x1") == 6
    assert evidence(world, "churn", "--env", "prod") == 6
    old = tmp_path / "state"
    AuditLog(old / "audit", "prod").append("promote", model="prod.ml.churn", version="1", passed=True,
                                           details={"outcome": "champion", "champion_moved": True})
    assert evidence(world, "churn", "--env", "prod", "--version", "1", state=old) == 6
    assert main(["report", "evidence", "--verify", str(tmp_path / "empty"), "--state-dir", str(world.state)]) == 6
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    assert evidence(world, "churn", "--env", "prod", "--version", "1", "--out", str(foreign)) == 6
    assert [p.name for p in foreign.iterdir()] == ["thesis.tex"]
    assert evidence(world, "churn", "--env", "prod", "--version", "1", "--out", str(foreign / "thesis.tex")) == 6


def test_a_real_promotion_records_its_evidence_in_the_audit_entry(tmp_path):
    """dev -> staging on the local registry (staging with its cheap gates and a metric gate): the promote entry
    carries the pack built from the real PromotionResult, registry and gate context, and it verifies."""
    pytest.importorskip("mlflow")
    from lakegate.promotion.local_access import derive_local_plan
    from lakegate.promotion.promote import promote

    from .helpers import clean_lineage, copy_examples
    from .local_registry_fixtures import register_sklearn_model, running_local_registry

    env_dir = copy_examples(tmp_path / "environments")
    staging = (env_dir / "staging.yaml").read_text()
    start = staging.index("  gates:\n", staging.index("\npromotion:"))
    end = staging.index("credentials:", start)
    (env_dir / "staging.yaml").write_text(staging[:start] + "  gates:\n"
                                          "    - {type: required_tags, tags: [git_commit, git_repository, training_run]}\n"
                                          "    - {type: signature}\n    - {type: metric_threshold, metric: accuracy, min: 0.80}\n"
                                          + staging[end:])
    envs = load_environments(env_dir)
    audit = tmp_path / "audit"
    with running_local_registry(tmp_path / "state", derive_local_plan(envs)) as registry:
        version = register_sklearn_model(registry, envs["dev"].service_principal, "dev.ml.churn",
                                         tags={**clean_lineage("run-1"), "git_repository": "https://example.org/r"})
        result = promote(envs, "churn", "staging", version=version.version, audit_dir=audit,
                         adapter_factory=lambda env: registry.adapter(envs[env].service_principal))
    assert result.outcome == "champion"
    [entry] = AuditLog(audit, "staging").entries()
    pack = entry["details"]["evidence"]
    assert entry["details"]["evidence_sha256"] == pack_digest(pack)
    assert (pack["model"], pack["version"], pack["outcome"]) == ("staging.ml.churn", result.version, "champion")
    assert [v["role"] for v in pack["lineage"]["versions"]] == ["source", "candidate"]
    assert pack["lineage"]["git_commit"] == clean_lineage()["git_commit"] and pack["principal"] == "sp-lakegate-staging"
    metric = next(g for g in pack["gates"] if g["type"] == "metric_threshold")
    assert metric["passed"] and metric["details"]["computed_by"] == "sp-lakegate-staging"
    assert pack["evaluation"]["candidate"]["lakegate.eval.by"] == "sp-lakegate-staging"
    assert pack["signature"]["candidate_inputs"] and pack["signature"]["diff"] is None  # no champion before
    assert {g["securable"] for g in pack["access"]["unity_catalog_grants"]} >= {"catalog dev", "schema dev.ml"}
    out = tmp_path / "pack"
    assert main(["report", "evidence", "churn", "--env", "staging", "--version", result.version, "--environments",
                 str(env_dir), "--state-dir", str(tmp_path), "--out", str(out)]) == 0
    assert main(["report", "evidence", "--verify", str(out), "--state-dir", str(tmp_path)]) == 0
