"""checkov over every synthesized stack: no finding unless waived in checkov-waivers.yaml, no stale waiver.

checkov lives in its own virtualenv (its pins conflict with jsii's): `make .venv-checkov/.installed`;
the Makefile passes its path in LAKEGATE_CHECKOV. One checkov run covers every stack (it is slow to start).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WAIVERS = ROOT / "checkov-waivers.yaml"
CHECK_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")


@dataclass(frozen=True)
class Waiver:
    check: str
    reason: str
    resource_glob: str = "*"

    def covers(self, finding: "Finding") -> bool:
        return finding.check == self.check and fnmatch.fnmatchcase(finding.address, self.resource_glob)


@dataclass(frozen=True)
class Finding:
    check: str
    address: str   # <stack>/<resource type>.<logical id>
    name: str

    def __str__(self) -> str:
        return f"{self.check} {self.address}: {self.name}"


def load_waivers(path: Path = WAIVERS) -> list[Waiver]:
    entries = yaml.safe_load(path.read_text()) or []
    assert isinstance(entries, list), f"{path.name}: expected a list of waivers"
    waivers, problems = [], []
    for number, entry in enumerate(entries, 1):
        where = f"{path.name} entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        unknown = set(entry) - {"check", "resource_glob", "reason"}
        if unknown:
            problems.append(f"{where}: unknown field {', '.join(sorted(unknown))}")
        if not CHECK_ID.fullmatch(str(entry.get("check", ""))):
            problems.append(f"{where}: check {entry.get('check')!r} is not a checkov id like CKV_AZURE_35")
        if len(str(entry.get("reason") or "").strip()) < 10:
            problems.append(f"{where}: reason must say why, in at least 10 characters")
        waivers.append(Waiver(check=str(entry.get("check")), reason=str(entry.get("reason")),
                              resource_glob=str(entry.get("resource_glob") or "*")))
    assert not problems, "\n".join(problems)
    return waivers


def checkov_executable() -> str:
    executable = os.environ.get("LAKEGATE_CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    assert Path(executable).exists(), (
        f"checkov not found at {executable}: run `make .venv-checkov/.installed` (or `make test`)"
    )
    return executable


def _resource_type(stack_json: dict, logical_id: str) -> str:
    for resource_type, by_id in stack_json.get("resource", {}).items():
        if logical_id in by_id:
            return resource_type
    return "resource"


def findings_from(report: dict, stacks: dict[str, dict]) -> list[Finding]:
    findings = []
    for failed in report["results"]["failed_checks"]:
        stack = Path(failed["file_path"]).parent.name
        kind, _, logical_id = failed["resource"].partition(".")
        # checkov's terraform_json reports single-resource checks as `resource.<logical id>`,
        # losing the type; the synthesized JSON gives it back.
        if kind == "resource":
            kind = _resource_type(stacks.get(stack, {}), logical_id)
        findings.append(Finding(failed["check_id"], f"{stack}/{kind}.{logical_id}", failed["check_name"]))
    return findings


@pytest.fixture(scope="module")
def checkov_report(synthesized):
    stacks_dir = synthesized.outdir / "stacks"
    result = subprocess.run(
        # versions.tf.json holds only `terraform.required_version`, which checkov's JSON parser cannot read.
        [checkov_executable(), "-d", str(stacks_dir), "--framework", "terraform_json", "--skip-path", r"versions\.tf\.json",
         "--skip-download", "--quiet", "-o", "json"],
        capture_output=True, text=True, cwd=synthesized.outdir, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), f"checkov failed ({result.returncode}): {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    if isinstance(report, list):
        report = next(r for r in report if r.get("check_type") == "terraform_json")
    return report


def test_waiver_file_is_well_formed():
    waivers = load_waivers()
    assert waivers
    assert len(set(waivers)) == len(waivers), "duplicate waiver"


def test_waiver_validation_refuses_a_reasonless_waiver(tmp_path):
    bad = tmp_path / "waivers.yaml"
    bad.write_text("- {check: CKV_AZURE_35, reason: because}\n- {check: azure-35, reason: a real reason here}\n")
    with pytest.raises(AssertionError) as raised:
        load_waivers(bad)
    assert "entry 1: reason must say why" in str(raised.value)
    assert "entry 2: check 'azure-35' is not a checkov id" in str(raised.value)


def test_findings_are_addressed_by_stack_type_and_logical_id():
    stacks = {"dev-azure": {"resource": {"azurerm_storage_account": {"storage_account_E377CD4D": {}}}}}
    report = {"results": {"failed_checks": [
        {"check_id": "CKV_AZURE_35", "check_name": "deny", "file_path": "/dev-azure/cdk.tf.json",
         "resource": "resource.storage_account_E377CD4D"},
        {"check_id": "CKV2_AZURE_1", "check_name": "cmk", "file_path": "/dev-azure/cdk.tf.json",
         "resource": "azurerm_storage_account.storage_account_E377CD4D"},
    ]}}
    findings = findings_from(report, stacks)
    assert [f.address for f in findings] == ["dev-azure/azurerm_storage_account.storage_account_E377CD4D"] * 2
    waiver = Waiver("CKV_AZURE_35", "dev is public by design", "dev-azure/azurerm_storage_account.*")
    assert waiver.covers(findings[0]) and not waiver.covers(findings[1])
    assert not waiver.covers(Finding("CKV_AZURE_35", "prod-azure/azurerm_storage_account.x", "deny"))


def test_checkov_read_every_stack(checkov_report, synthesized):
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    assert summary["passed"] + summary["failed"] >= len(synthesized.stacks)


def test_no_unwaived_checkov_finding_and_no_stale_waiver(checkov_report, synthesized):
    waivers = load_waivers()
    findings = findings_from(checkov_report, synthesized.stacks)
    unwaived = [f for f in findings if not any(w.covers(f) for w in waivers)]
    stale = [w for w in waivers if not any(w.covers(f) for f in findings)]
    message = []
    if unwaived:
        message.append("checkov findings (fix the construct, or waive with a reason in checkov-waivers.yaml):")
        message += [f"  {f}" for f in sorted(unwaived, key=str)]
    if stale:
        message.append("waivers no finding uses any more (delete them from checkov-waivers.yaml):")
        message += [f"  {w.check} {w.resource_glob}" for w in stale]
    assert not message, "\n".join(message)
