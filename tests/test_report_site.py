"""`report site`: the static auditor's report is a view of site.json, escapes what people and logs wrote, shows a
broken audit chain at the top (exit 8), pages large definitions; `docs --check --json`.

Promotion history here is written with promotion.audit.AuditLog directly (helpers below, also used by the evidence
and browser tests): entries exactly as promote/approve/rollback write them, including the evidence pack that
reports/evidence.py builds at promotion time (from stub registry objects). The real promotion hook is covered by
tests/test_report_evidence.py against the local registry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from lakegate.cli.app import main
from lakegate.infra.loader import load_environments
from lakegate.promotion import registry_tags
from lakegate.promotion.approval import ApprovalRecord, record_tags
from lakegate.promotion.audit import AuditLog
from lakegate.promotion.gates import GateResult, gates_for
from lakegate.promotion.promote import PromotionResult
from lakegate.promotion.registry import ModelVersion
from lakegate.promotion.evidence import build_pack, pack_digest
from lakegate.reports.site import build_site, render_site, write_site

from .helpers import copy_examples, edit

SCRIPT = '<script>alert("yaml")</script>'
ACTOR = '<img src=x onerror=alert(1)>'
WAIVER_REASON = 'standard SKU for the pilot </script><script>alert("waiver")</script>'


# ------------------------------------------------------------------------------------------------ helpers


def definitions(tmp_path: Path) -> Path:
    """The examples, with a waived finding, an unused waiver and a hostile description."""
    directory = copy_examples(tmp_path / "environments")
    edit(directory / "prod.yaml", "  sku: premium", "  sku: standard")
    edit(directory / "prod.yaml", "\ncredentials:", "\nwaivers:\n"
         f"  - {{id: LG-PROD-003, reason: '{WAIVER_REASON}', approved_by: ciso@contoso.com, expires: 2099-12-31}}\n"
         "  - {id: LG-PROD-008, applies_to: endpoint=nothing, reason: kept for the next quarter's endpoint, "
         "approved_by: ciso@contoso.com}\ncredentials:")
    edit(directory / "staging.yaml", "description: Integration tests", f"description: '{SCRIPT} Integration tests")
    text = (directory / "staging.yaml").read_text().replace("models built in dev.\n", "models built in dev.'\n", 1)
    (directory / "staging.yaml").write_text(text)
    return directory


class StubContext:
    """What build_pack reads of a GateContext: the target's evaluation tags and the versions' signatures."""

    def __init__(self, signatures: dict[str, dict]):
        self.signatures = signatures

    def evaluation_tags(self, version):
        return {"lakegate.eval.accuracy": "0.9135", "lakegate.eval.table": f"{version.catalog}.features.churn_validation@v0",
                "lakegate.eval.rows": "2000", "lakegate.eval.by": f"sp-lakegate-{version.catalog}"}

    def info(self, version):
        return {"signature": self.signatures.get(version.version)}


SIGNATURE = {"inputs": json.dumps([{"name": c, "type": "double"} for c in ("tenure", "spend", "tickets")]),
             "outputs": json.dumps([{"type": "long"}])}
SIGNATURE_V2 = {"inputs": json.dumps([{"name": c, "type": "double"} for c in ("tenure", "spend", "calls")]),
                "outputs": json.dumps([{"type": "long"}])}


def promote_entry(log: AuditLog, envs, env_name: str, version: str, source_version: str, *, champion=None,
                  outcome="champion", approved_by=None, actor="sam.okafor", entries=()) -> dict:
    """Append a promote entry as promotion/promote.py does, with its evidence pack and digest."""
    target = envs[env_name]
    source_env = envs[target.promotion.from_env]
    model, source_model = target.unity_catalog.model_full_name("churn"), source_env.unity_catalog.model_full_name("churn")
    lineage = {registry_tags.GIT_COMMIT: "b5f5b1bc75e741b57cfa9bf9d65e50c7d20c64b4",
               registry_tags.GIT_REPOSITORY: "https://github.com/contoso/lakegate-ml", registry_tags.TRAINING_RUN: "run-" + version * 8}
    source_tags = dict(lineage)
    if source_env.promotion.from_env:
        source_tags.update({registry_tags.PROMOTED_FROM: envs[source_env.promotion.from_env].unity_catalog.model_full_name("churn"),
                            registry_tags.SOURCE_VERSION: str(int(source_version) + 2)})
    candidate_tags = {**lineage, registry_tags.PROMOTED_FROM: source_model, registry_tags.SOURCE_VERSION: source_version}
    if approved_by:
        candidate_tags.update(record_tags(ApprovalRecord("ssh", approved_by, "2026-12-01T09:30:00Z", "ab" * 32, "U1NIU0lH")))
    candidate = ModelVersion(model, version, tags=candidate_tags)
    source = ModelVersion(source_model, source_version, tags=source_tags)
    previous = ModelVersion(model, champion, tags=dict(lineage)) if champion else None
    gates = gates_for(target, model)
    results = []
    for gate in gates:
        passed = not (gate.type == "approval" and not approved_by)
        details = {"metric": "accuracy", "value": 0.9135, "computed_by": target.service_principal, "table":
                   f"{target.name}.features.churn_validation", "rows": 2000} if gate.type == "metric_threshold" else {}
        results.append(GateResult(gate.gate_id, passed, f"{gate.gate_id} {'passed' if passed else 'failed'}", details))
    result = PromotionResult(env=target.name, model=model, version=version, source_model=source_model,
                             source_version=source_version, reused=False, outcome=outcome, gates=results,
                             previous_champion=champion, champion=version if outcome == "champion" else champion)
    pack = build_pack(envs=envs, target=target, registry=SimpleNamespace(principal=target.service_principal),
                      candidate=candidate, champion=previous, source=source, gates=gates, results=results,
                      context=StubContext({version: SIGNATURE_V2 if champion else SIGNATURE, champion: SIGNATURE}),
                      entries=list(entries), result=result)
    return log.append("promote", model=model, version=version, actor=actor, principal=target.service_principal,
                      git_commit=lineage[registry_tags.GIT_COMMIT], gates=[r.as_dict() for r in results],
                      passed=result.passed, previous_champion=champion, champion=result.champion,
                      source={"model": source_model, "version": source_version},
                      details={"outcome": outcome, "reused": False, "champion_moved": outcome == "champion",
                               "serving_error": None, "evidence": pack, "evidence_sha256": pack_digest(pack)})


def write_history(state_dir: Path, envs) -> Path:
    """staging: v1 champion; prod: v1 refused for the approval, approved (by a hostile-looking actor string), then
    champion; a refusal as typed (`churn`); a rollback-free history. Returns the audit folder."""
    audit = state_dir / "audit"
    staging, prod = AuditLog(audit, "staging"), AuditLog(audit, "prod")
    promote_entry(staging, envs, "staging", "1", "4")
    first = promote_entry(prod, envs, "prod", "1", "1", outcome="approval_missing")
    approve = prod.append("approve", model="prod.ml.churn", version="1", actor=ACTOR, principal="sp-lakegate-prod",
                          git_commit="b5f5b1bc75e741b57cfa9bf9d65e50c7d20c64b4",
                          details={"approved_by": "head.of.ml@contoso.com", "kind": "ssh", "artifacts_sha256": "ab" * 32})
    promote_entry(prod, envs, "prod", "1", "1", approved_by="head.of.ml@contoso.com", entries=[first, approve])
    prod.append("promote_refused", model="churn", version="9", actor="sam.okafor", passed=False,
                details={"kind": "INVALID_REQUEST", "reason": f"staging.ml.churn: no version 9 {SCRIPT}"})
    return audit


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    env_dir = definitions(tmp)
    envs = load_environments(env_dir)
    state = tmp / "state"
    write_history(state, envs)
    return SimpleNamespace(env_dir=env_dir, envs=envs, state=state, tmp=tmp)


@pytest.fixture(scope="module")
def site(world):
    out = world.tmp / "out"
    code = main(["report", "site", "--environments", str(world.env_dir), "--state-dir", str(world.state), "--out", str(out)])
    assert code == 0
    return SimpleNamespace(out=out, html=(out / "index.html").read_text(), data=json.loads((out / "site.json").read_text()))


# ------------------------------------------------------------------------------------------------ tests


def test_the_page_is_rendered_from_site_json_and_embeds_exactly_it(site):
    # The written page is the rendering of the written document, byte for byte: no second source of truth.
    assert render_site(site.data) == site.html
    embedded = re.search(r'<script type="application/json" id="lakegate-data">(.*?)</script>', site.html, re.S).group(1)
    assert json.loads(embedded) == site.data
    # Change the data, and the page changes with it (a principal renamed in the document appears, the old one goes).
    changed = json.loads(json.dumps(site.data))
    for grant in changed["access"]["grants"]:
        grant["principal"] = grant["principal"].replace("ml-engineers", "renamed-in-the-json")
    html = render_site(changed)
    assert "renamed-in-the-json" in html and html.count("<tr class=\"grant\"") == len(changed["access"]["grants"])


def test_the_site_holds_every_section_and_the_access_matrix_has_a_row_per_grant(world, site):
    from lakegate.infra.access import access_matrix

    matrix = access_matrix(world.envs)
    assert len(site.data["access"]["grants"]) == len(matrix["grants"])
    assert site.html.count('<tr class="grant"') == len(matrix["grants"])
    assert site.html.count('<tr class="role"') == len(matrix["azure_roles"])
    for section in ("overview", "access", "diff", "guardrails", "history"):
        assert f'<section id="{section}">' in site.html
    # The overview is drawn: a node per environment, an edge per promotion path.
    assert site.html.count('<g class="env-node') == len(world.envs) == len(site.data["overview"]["nodes"])
    assert site.html.count('<g class="promotion-edge"') == 2
    assert 'data-from="staging" data-to="prod"' in site.html
    # Each cell traceable: a declared grant names its YAML line, a derived one the promotion path.
    origins = {g["origin"] for g in site.data["access"]["grants"]}
    assert any(re.fullmatch(r".*environments/dev\.yaml:\d+", o) for o in origins)
    assert any(o.startswith("derived: promotion staging -> prod (") for o in origins)


def test_guardrails_show_waived_findings_with_reason_approver_and_expiry(site):
    guard = site.data["guardrails"]
    [waived] = [f for f in guard["findings"] if f["status"] == "waived"]
    assert waived["rule"] == "LG-PROD-003" and waived["waiver"]["approved_by"] == "ciso@contoso.com"
    assert waived["waiver"]["expires"] == "2099-12-31" and waived["waiver"]["days_left"] > 0
    assert re.fullmatch(r".*prod\.yaml:\d+", waived["waiver"]["location"])
    sku_line = next(n for n, line in enumerate(Path(waived["location"].rsplit(":", 1)[0]).read_text().splitlines(), 1)
                    if line == "  sku: standard")
    assert waived["location"].endswith(f"prod.yaml:{sku_line}") and waived["field"] == "workspace.sku"
    states = {w["id"]: w["state"] for w in guard["waivers"]}
    assert states == {"LG-PROD-003": "in force", "LG-PROD-008": "unused"}
    assert guard["grid"]["prod"]["LG-PROD-003"]["status"] == "waived"
    assert guard["grid"]["dev"]["LG-PROD-003"]["status"] == "n/a"
    assert "ciso@contoso.com" in site.html and "2099-12-31" in site.html


def test_history_per_environment_and_model_with_the_chain_verified_at_the_top(site):
    history = site.data["history"]
    assert history["verification"]["ok"] and history["verification"]["checked"] == {"prod": 4, "staging": 1}
    prod = next(e for e in history["environments"] if e["env"] == "prod")
    [model] = prod["models"]  # the refusal typed as `churn` is grouped under prod.ml.churn
    assert model["model"] == "prod.ml.churn" and model["champion"] == "1"
    assert [r["action"] for r in model["entries"]] == ["promote", "approve", "promote", "promote_refused"]
    assert site.html.index('id="audit-status"') < site.html.index('<section id="overview">')
    [chain] = history["production_chains"]
    assert [s["kind"] for s in chain["steps"]] == ["commit", "run", "version", "version", "version", "gates", "approval"]
    assert [s["title"] for s in chain["steps"] if s["kind"] == "version"] == ["dev", "staging", "prod"]
    # The pack of each promotion is written beside the site and linked from its row and from the chain.
    assert chain["evidence_href"] and (Path(site.out) / chain["evidence_href"]).is_file()
    assert len(site.data["evidence"]) == 3 and all(e["verified"] for e in site.data["evidence"])


def test_everything_user_controlled_is_escaped(site):
    html = site.html
    for hostile in (SCRIPT, ACTOR, "<script>alert(\"waiver\")</script>"):
        assert hostile not in html
    assert "&lt;script&gt;alert(&#34;yaml&#34;)&lt;/script&gt;" in html      # the YAML description, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html                      # the audit entry's actor, as text
    # Exactly two script elements: the data block and the report's own script; the data cannot close its element.
    assert len(re.findall(r"<script\b", html)) == 2
    embedded = re.search(r'id="lakegate-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in embedded


def test_the_page_is_self_contained_with_a_policy_that_forbids_any_network(site):
    html = site.html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    from html import unescape

    policy = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy
    import base64
    import hashlib

    script = re.findall(r"<script>(.*?)</script>", html, re.S)[-1]
    digest = "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
    assert f"script-src {digest}" in policy


def test_a_broken_chain_still_renders_shows_it_prominently_and_exits_8(world, tmp_path):
    import shutil

    state = tmp_path / "state"
    shutil.copytree(world.state, state)
    log = state / "audit" / "prod.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace("head.of.ml@contoso.com", "someone.else@contoso.com")
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code = main(["report", "site", "--environments", str(world.env_dir), "--state-dir", str(state), "--out", str(out)])
    assert code == 8
    html = (out / "index.html").read_text()
    assert 'class="banner broken" id="audit-status"' in html and "AUDIT CHAIN BROKEN" in html
    assert "entry seq 2 was edited" in html
    data = json.loads((out / "site.json").read_text())
    rows = next(e for e in data["history"]["environments"] if e["env"] == "prod")["models"][0]["entries"]
    assert [r["verified"] for r in rows] == [True, False, False, False]
    assert html.count('class="entry unverified"') == 3


def test_report_site_refuses_an_output_that_is_a_file_and_works_without_audit_logs(world, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["report", "site", "--environments", str(world.env_dir), "--out", str(target)]) == 6
    # A folder with other content (the definitions themselves) is refused and left exactly as it was.
    before = sorted((p.name, p.read_bytes()) for p in world.env_dir.iterdir())
    assert main(["report", "site", "--environments", str(world.env_dir), "--out", str(world.env_dir)]) == 6
    assert sorted((p.name, p.read_bytes()) for p in world.env_dir.iterdir()) == before
    assert "not a previous `report site` output" in capsys.readouterr().err
    out = tmp_path / "fresh"
    assert main(["report", "site", "--environments", str(world.env_dir), "--state-dir", str(tmp_path / "none"),
                 "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] and summary["audit"]["checked"] == {} and (out / "index.html").is_file()
    assert "No audit logs" in (out / "index.html").read_text()
    (out / "notes.txt").write_text("mine")  # a previous report is written again; what else is there stays
    assert main(["report", "site", "--environments", str(world.env_dir), "--state-dir", str(tmp_path / "none"),
                 "--out", str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_thirty_environments_build_quickly_and_their_tables_are_paged(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_synth", Path(__file__).resolve().parent.parent / "benchmarks" / "synth.py")
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    synth.EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "environments"  # never the project's own
    envs = load_environments(synth.generate_environments(tmp_path / "envs", 30))
    document, evidence = build_site(envs, environments_dir=tmp_path / "envs", state_dir=tmp_path / "state")
    write_site(document, evidence, tmp_path / "out")  # its speed is benchmarks/report.py's and models.py's to measure
    html = (tmp_path / "out" / "index.html").read_text()
    assert len(document["access"]["grants"]) == 270 and html.count('<tr class="grant"') == 270
    assert '<table id="access-grants" data-paged="50">' in html and document["overview"]["compact"]
    assert html.count('<g class="env-node') == 30 and html.count('<g class="promotion-edge"') == 20


def test_docs_check_json_says_which_generated_files_are_current_or_stale(capsys):
    code = main(["docs", "--check", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert {f["path"] for f in report["files"]} == {"RULES.md", "docs/index.md", "docs/reference/rules.md",
                                                    "docs/reference/environment-fields.md", "docs/reference/cli.md",
                                                    "docs/reference/exit-codes.md"}
    assert all(f["status"] in ("current", "stale", "missing") for f in report["files"])
    assert report["ok"] == all(f["status"] == "current" for f in report["files"]) and report["checked"]
    assert code == (0 if report["ok"] else 10)
