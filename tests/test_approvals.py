"""Approvals against the REAL local registry (one server for the module): signed, bound to the files, four eyes.

Each test walks its own model dev -> staging -> prod (prod waits for an approval) and then attacks the
approval as an insider would: prod's own principal writing the tags, a signature replayed onto other
files, the promoter or the commit's author approving, a look-alike name, a CI approval that the
platform does not confirm. The CI paths run against a local stub of the GitHub and Azure DevOps APIs.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakegate.infra.loader import load_environments
from lakegate.promotion import registry_tags
from lakegate.promotion.approval import approval_statement, approve, record_tags, read_record
from lakegate.promotion.audit import AuditLog
from lakegate.promotion.errors import ApprovalMissing
from lakegate.promotion.local_access import derive_local_plan
from lakegate.promotion.promote import promote

from .databricks_stub import CiStub
from .helpers import declare_models, copy_examples, edit, run_in_process
from .local_registry_fixtures import (CHEAP_GATES, new_ssh_key, register_sklearn_model, running_local_registry,
                                      set_approval, set_gates)

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["forged", "replay", "selfprom", "apprprom", "author", "external", "lookalike", "gh", "ghbad", "ado",
          "verified", "badtime"]
HEAD, SAM = "head.of.ml@contoso.com", "sam.okafor@contoso.com"


@dataclass
class World:
    envs: object
    registry: object
    env_dir: Path
    keys: dict
    ci: CiStub
    state: Path
    lineage: object  # conftest.Lineage: the commit the versions were "built from", in a repository of its own

    def adapter(self, env: str):
        return self.registry.adapter(self.envs[env].service_principal)

    def to_prod(self, model: str, audit: Path, seed: int = 0, **tags) -> str:
        """A code-built version in staging (registered there by staging's principal, champion), promoted
        to prod, where it waits for an approval. Skipping dev keeps the module fast: approvals concern prod."""
        lineage = {**self.lineage.tags(f"run-{model}-{seed}"), "git_author": self.lineage.author,
                   registry_tags.GATES_SUMMARY: "passed", **tags}
        staged = register_sklearn_model(self.registry, self.envs["staging"].service_principal, f"staging.ml.{model}",
                                        tags=lineage, seed=seed)
        self.adapter("staging").set_alias(f"staging.ml.{model}", registry_tags.CHAMPION, staged.version)
        waiting = promote(self.envs, model, "prod", adapter_factory=self.adapter, audit_dir=audit)
        assert waiting.outcome == "approval_missing", [g.message for g in waiting.failed_gates]
        return waiting.version

    def promote_prod(self, model: str, audit: Path):
        return promote(self.envs, model, "prod", adapter_factory=self.adapter, audit_dir=audit)

    def approve(self, model: str, version: str, audit: Path, **how):
        return approve(self.envs, model, "prod", version, adapter_factory=self.adapter, audit_dir=audit, **how)


@pytest.fixture(scope="module")
def world(tmp_path_factory, lineage):
    with CiStub() as ci:
        ci.tokens.add("job-token")
        env_dir = copy_examples(tmp_path_factory.mktemp("environments"))
        declare_models(env_dir, MODELS)
        if "azure_devops:\n        organization: contoso" not in (env_dir / "prod.yaml").read_text():
            edit(env_dir / "prod.yaml", "      github: {repository: contoso/lakegate-ml, environment: prod}\n",
                 "      github: {repository: contoso/lakegate-ml, environment: prod}\n      azure_devops: {organization: "
                 "contoso, project: lakegate, service_connection: sc-prod, organization_id: "
                 "0f0e0d0c-0b0a-4909-8807-060504030201}\n")
        oidc = load_environments(env_dir)["prod"].principals.service_principal.ci_oidc.azure_devops
        assert (oidc.organization, oidc.project) == ("contoso", "lakegate")
        # Cheap gates (no model loading): approvals do not depend on which other gates run.
        set_gates(env_dir, "staging", CHEAP_GATES)
        set_gates(env_dir, "prod", [*CHEAP_GATES, {"type": "approval"}])
        folder = tmp_path_factory.mktemp("keys")
        keys = {who: new_ssh_key(folder, who.split("@")[0].replace(".", "-")) for who in (HEAD, SAM, "sp-lookalike")}
        set_approval(env_dir, "prod", approvers=["ml-approvers"], ci={"github_api": ci.url, "azure_devops_api": ci.url},
                     signers=[{"identity": HEAD, "key": keys[HEAD][1], "github": "contoso-head-of-ml",
                               "azure_devops": HEAD},
                              {"identity": SAM, "key": keys[SAM][1], "github": "sam-okafor", "azure_devops": SAM}])
        envs = load_environments(env_dir)
        state = tmp_path_factory.mktemp("state")
        with running_local_registry(state, derive_local_plan(envs)) as registry:
            yield World(envs, registry, env_dir, {k: v[0] for k, v in keys.items()}, ci, state, lineage)


def cli(world, state: Path, *args):
    # In this process (each child would pay the MLflow import again); tests/test_cli.py runs the real one.
    return run_in_process(*args, "--environments", str(world.env_dir), "--state-dir", str(state))


# -- a tag is never an approval; a signature is, for exactly those files -------------------------------


def test_a_tag_written_by_prods_own_principal_is_not_an_approval_and_the_cli_says_so(world, tmp_path):
    audit = world.state / "audit"  # the CLI uses <state>/audit: this test owns model `forged`
    version = world.to_prod("forged", audit)
    prod = world.adapter("prod")
    prod.set_version_tag("prod.ml.forged", version, registry_tags.APPROVED_BY, HEAD)
    prod.set_version_tag("prod.ml.forged", version, registry_tags.APPROVED_AT, "2026-01-01T00:00:00Z")
    refused = cli(world, world.state, "promote", "forged", "--to", "prod")
    assert refused.returncode == 7, refused.stderr
    assert (f"approval: no approval recorded for v{version}; a lakegate.approved_by tag naming {HEAD} is not an "
            "approval") in refused.stderr and "Traceback" not in refused.stderr
    by_name = cli(world, world.state, "approve", "forged", "--env", "prod", "--version", version, "--by", HEAD)
    assert by_name.returncode == 7
    assert by_name.stderr.strip().endswith("a name given with --by alone proves nothing")
    stranger, _ = new_ssh_key(tmp_path, "stranger")
    with pytest.raises(ApprovalMissing, match=f"the key {stranger} is not enrolled for prod"):
        world.approve("forged", version, audit, key=stranger)
    assert world.adapter("prod").get_version_by_alias("prod.ml.forged", registry_tags.CHAMPION) is None
    signed = cli(world, world.state, "approve", "forged", "--env", "prod", "--version", version, "--key",
                 str(world.keys[HEAD]), "--json")
    assert signed.returncode == 0, signed.stderr
    assert json.loads(signed.stdout)["approved_by"] == HEAD
    assert world.promote_prod("forged", audit).outcome == "champion"
    actions = [e["action"] for e in AuditLog(audit, "prod").entries() if e["model"] == "prod.ml.forged"]
    assert actions == ["promote", "promote", "approval_refused", "approval_refused", "approve", "promote"]


def test_a_signature_replayed_onto_other_files_fails(world, tmp_path):
    first = world.to_prod("replay", tmp_path)
    world.approve("replay", first, tmp_path, key=world.keys[HEAD])
    assert world.promote_prod("replay", tmp_path).outcome == "champion"
    # A second version (other files); prod's principal copies v1's signed record onto it.
    world.to_prod("replay", tmp_path, seed=5)
    second = world.promote_prod("replay", tmp_path)
    assert second.outcome == "approval_missing" and second.version != first
    prod = world.adapter("prod")
    record = read_record(prod.get_version("prod.ml.replay", first).tags)
    for key, value in record_tags(record).items():
        prod.set_version_tag("prod.ml.replay", second.version, key, value)
    replayed = world.promote_prod("replay", tmp_path)
    assert replayed.outcome == "approval_missing"
    assert f"approval by {HEAD} does not count: the approval is for artifacts {record.digest[:12]}…, but v{second.version}'s " \
           "files are" in replayed.failed_gates[0].message
    assert prod.get_version_by_alias("prod.ml.replay", registry_tags.CHAMPION).version == first


def test_the_approval_is_printed_signed_elsewhere_and_then_recorded(world, tmp_path):
    version = world.to_prod("external", tmp_path)
    text = approval_statement(world.envs, "external", "prod", version, HEAD, adapter_factory=world.adapter)
    statement = tmp_path / "statement.json"
    statement.write_bytes(text)
    data = json.loads(text)
    assert (data["env"], data["model"], data["version"], data["approver"]) == ("prod", "prod.ml.external", version, HEAD)
    assert data["artifacts_sha256"] == world.adapter("prod").artifact_digest("prod.ml.external", version)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-n", "lakegate-approval", "-f", str(world.keys[HEAD]), str(statement)],
                   check=True, capture_output=True)
    edited = tmp_path / "edited.json"
    from lakegate.promotion.approval import statement as canonical_statement

    edited.write_bytes(canonical_statement("prod", "prod.ml.external", "999", data["artifacts_sha256"], HEAD,
                                           data["approved_at"]))
    (tmp_path / "edited.json.sig").write_bytes((tmp_path / "statement.json.sig").read_bytes())
    with pytest.raises(ApprovalMissing, match="the statement names version '999'"):
        world.approve("external", version, tmp_path, signature=tmp_path / "edited.json.sig")
    recorded = world.approve("external", version, tmp_path, signature=tmp_path / "statement.json.sig")
    assert (recorded.approved_by, recorded.approved_at) == (HEAD, data["approved_at"])
    assert world.promote_prod("external", tmp_path).outcome == "champion"


def test_an_approval_entry_records_the_enrolled_keys_fingerprint_and_the_signer_list(world, tmp_path):
    from lakegate.promotion.signing import signers_digest

    version = world.to_prod("verified", tmp_path)
    world.approve("verified", version, tmp_path, key=world.keys[HEAD])
    [entry] = [e for e in AuditLog(tmp_path, "prod").entries() if e["action"] == "approve"]
    printed = subprocess.run(["ssh-keygen", "-l", "-f", f"{world.keys[HEAD]}.pub"], check=True, capture_output=True,
                             text=True).stdout.split()[1]
    assert entry["details"]["key_fingerprint"] == printed and printed.startswith("SHA256:")
    assert entry["details"]["signers_sha256"] == signers_digest(world.envs["prod"].promotion.approval.signers)
    # The digest covers every field of every signer, whatever their order in the YAML.
    signers = list(world.envs["prod"].promotion.approval.signers)
    assert signers_digest(reversed(signers)) == entry["details"]["signers_sha256"]
    assert signers_digest([signers[0].model_copy(update={"github": "someone-else"}), *signers[1:]]) \
        != entry["details"]["signers_sha256"]


def test_a_signed_statement_whose_approved_at_is_not_a_time_is_refused(world, tmp_path):
    from lakegate.promotion.approval import statement as canonical_statement

    version = world.to_prod("badtime", world.state / "audit")
    digest = world.adapter("prod").artifact_digest("prod.ml.badtime", version)
    for number, when in enumerate(("yesterday", "2026-05-01", "2026-05-01T09:30:00", "2026-13-01T09:30:00Z")):
        statement = tmp_path / f"statement-{number}.json"
        statement.write_bytes(canonical_statement("prod", "prod.ml.badtime", version, digest, HEAD, when))
        subprocess.run(["ssh-keygen", "-Y", "sign", "-n", "lakegate-approval", "-f", str(world.keys[HEAD]),
                        str(statement)], check=True, capture_output=True)
        refused = cli(world, world.state, "approve", "badtime", "--env", "prod", "--version", version, "--signature",
                      f"{statement}.sig")
        assert refused.returncode == 7, (when, refused.stderr)
        assert f"the statement's approved_at {when!r} is not an ISO-8601 time with a zone" in refused.stderr
    assert read_record(world.adapter("prod").get_version("prod.ml.badtime", version).tags) is None


# -- four eyes -------------------------------------------------------------------------------------------


def test_the_promoter_cannot_approve_and_the_approver_cannot_promote(world, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEGATE_ACTOR", "head.of.ml")
    version = world.to_prod("selfprom", tmp_path)
    monkeypatch.delenv("LAKEGATE_ACTOR")
    assert world.adapter("prod").get_version("prod.ml.selfprom", version).tags[registry_tags.PROMOTER] == "head.of.ml"
    with pytest.raises(ApprovalMissing, match=rf"{HEAD} promoted prod.ml.selfprom v{version} \(as head.of.ml\); "
                                              "the approver must be someone else"):
        world.approve("selfprom", version, tmp_path, key=world.keys[HEAD])
    refused = [e for e in AuditLog(tmp_path, "prod").entries() if e["action"] == "approval_refused"]
    assert "the approver must be someone else" in refused[-1]["details"]["reason"]

    other = world.to_prod("apprprom", tmp_path)
    world.approve("apprprom", other, tmp_path, key=world.keys[HEAD])
    monkeypatch.setenv("LAKEGATE_ACTOR", "head.of.ml@contoso.com")  # the approver now runs the promotion itself
    own = world.promote_prod("apprprom", tmp_path)
    assert own.outcome == "approval_missing"
    assert f"{HEAD} promoted prod.ml.apprprom v{other} (as {HEAD})" in own.failed_gates[0].message
    monkeypatch.delenv("LAKEGATE_ACTOR")
    # Strict: the audit log now records head.of.ml promoting this version, so their approval never counts for it.
    again = world.promote_prod("apprprom", tmp_path)
    assert again.outcome == "approval_missing" and "the approver must be someone else" in again.failed_gates[0].message


def test_the_commit_author_cannot_approve_and_a_forged_author_tag_is_caught(world, tmp_path):
    version = world.to_prod("author", tmp_path, git_author=HEAD)  # a commit this repository does not hold: the tag says
    with pytest.raises(ApprovalMissing, match=rf"{HEAD} wrote commit {world.lineage.commit[:12]} that built v{version}"):
        world.approve("author", version, tmp_path, key=world.keys[HEAD])
    # The training principal claims someone else wrote a commit that git (the code's repository) knows better.
    head, real = world.lineage.commit, world.lineage.author
    prod = world.adapter("prod")
    prod.set_version_tag("prod.ml.author", version, registry_tags.GIT_COMMIT, head)
    prod.set_version_tag("prod.ml.author", version, registry_tags.GIT_AUTHOR, "nobody@contoso.com")
    with pytest.raises(ApprovalMissing, match=f"the git_author tag says nobody@contoso.com but commit {head[:12]} in this "
                                              f"repository is by {real}"):
        world.approve("author", version, tmp_path, key=world.keys[HEAD], repository=world.lineage.repository)


def test_a_service_principal_look_alike_never_approves_even_when_anyone_may(world, tmp_path):
    from .helpers import variant

    version = world.to_prod("lookalike", tmp_path)
    approval = world.envs["prod"].promotion.approval.model_dump()
    approval["approvers"] = []  # "any person"
    approval["signers"].append({"identity": "sp-lakegate-pr0d@contoso.com", "key": new_ssh_key(tmp_path, "x")[1]})
    lookalike_key = tmp_path / "x"
    promotion = world.envs["prod"].promotion.model_dump(by_alias=True)
    anyone = variant(world.envs, "prod", promotion={**promotion, "approval": approval})
    with pytest.raises(ApprovalMissing, match="sp-lakegate-pr0d@contoso.com looks like sp-lakegate-prod, the service "
                                              "principal of prod; refused"):
        approve(anyone, "lookalike", "prod", version, adapter_factory=world.adapter, audit_dir=tmp_path, key=lookalike_key)
    for name in ("sp-lakegate-prod@contoso.com", "\u0455p-lakegate-prod@contoso.com", "sp-lakegate\u200b-prod@contoso.com"):
        with pytest.raises(Exception, match="not a plain ASCII e-mail address|looks like"):
            bad = {**approval, "signers": [{"identity": name, "key": approval["signers"][0]["key"]}]}
            checked = variant(world.envs, "prod", promotion={**promotion, "approval": bad})
            approve(checked, "lookalike", "prod", version, adapter_factory=world.adapter, audit_dir=tmp_path,
                    key=world.keys[HEAD])
    assert approve(anyone, "lookalike", "prod", version, adapter_factory=world.adapter, audit_dir=tmp_path,
                   key=world.keys[SAM]).approved_by == SAM  # any enrolled person, indeed


# -- the CI path: the platform's API confirms, then again at the gate -------------------------------------


def github_environ(world, run_id: str, **extra) -> dict:
    return {"GITHUB_API_URL": world.ci.url, "GITHUB_REPOSITORY": "contoso/lakegate-ml", "GITHUB_RUN_ID": run_id,
            "GITHUB_TOKEN": "job-token", **extra}


def test_a_github_environment_approval_confirmed_through_the_api(world, tmp_path, monkeypatch):
    version = world.to_prod("gh", tmp_path)
    world.ci.github_runs[("contoso/lakegate-ml", "4242")] = {
        "actor": "sam-okafor", "reviews": [{"state": "approved", "environments": ["prod"], "user": "contoso-head-of-ml"}]}
    recorded = world.approve("gh", version, tmp_path, ci="github", environ=github_environ(world, "4242"))
    assert (recorded.approved_by, recorded.kind) == (HEAD, "github")
    evidence = read_record(world.adapter("prod").get_version("prod.ml.gh", version).tags).evidence
    assert evidence == {"api": world.ci.url, "repository": "contoso/lakegate-ml", "run_id": "4242", "environment": "prod",
                        "reviewer": "contoso-head-of-ml", "comment": ""}
    # The gate asks GitHub again, with the job's token: without one the evidence cannot be verified.
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    unverifiable = world.promote_prod("gh", tmp_path)
    assert unverifiable.outcome == "approval_missing"
    assert "GITHUB_TOKEN is not set to ask GitHub again about the recorded approval" in unverifiable.failed_gates[0].message
    monkeypatch.setenv("GITHUB_TOKEN", "job-token")
    done = world.promote_prod("gh", tmp_path)
    assert done.outcome == "champion" and done.gates[-1].message == f"approved by {HEAD} (confirmed by github)"
    assert any(r.path.endswith("/actions/runs/4242/approvals") and r.principal == "ci" for r in world.ci.requests)


def test_github_approvals_the_platform_does_not_confirm_are_refused(world, tmp_path):
    version = world.to_prod("ghbad", tmp_path)
    runs = {
        "1": ({"actor": "sam-okafor", "reviews": [{"state": "rejected", "environments": ["prod"], "user": "contoso-head-of-ml"}]},
              "a reviewer rejected the deployment of run 1 to GitHub environment prod"),
        "2": ({"actor": "sam-okafor", "reviews": [{"state": "approved", "environments": ["staging"], "user": "contoso-head-of-ml"}]},
              "nobody approved run 2 for GitHub environment prod"),
        "3": ({"actor": "sam-okafor", "reviews": [{"state": "approved", "environments": ["prod"], "user": "mallory"}]},
              "mallory approved, but no enrolled signer has that GitHub login"),
        "4": ({"actor": "contoso-head-of-ml", "reviews": [{"state": "approved", "environments": ["prod"],
                                                          "user": "contoso-head-of-ml"}]},
              "contoso-head-of-ml approved the run they started themselves"),
        "5": ({"actor": "contoso-head-of-ml", "reviews": [{"state": "approved", "environments": ["prod"], "user": "sam-okafor"}]},
              re.escape(f"{SAM} is not a member of the approver group(s) ml-approvers")),
    }
    for run_id, (run, message) in runs.items():
        world.ci.github_runs[("contoso/lakegate-ml", run_id)] = run
        with pytest.raises(ApprovalMissing, match=message):
            world.approve("ghbad", version, tmp_path, ci="github", environ=github_environ(world, run_id))
    for environ, message in (
            (github_environ(world, "1", GITHUB_REPOSITORY="mallory/fork"), "the workflow runs in mallory/fork, not in prod's "
                                                                           "repository contoso/lakegate-ml"),
            (github_environ(world, "1", GITHUB_API_URL="https://evil.example"), "GITHUB_API_URL https://evil.example is not "
                                                                                "the GitHub API enrolled for prod"),
            (github_environ(world, "1", GITHUB_TOKEN="stolen"), "GitHub answered HTTP 401")):
        with pytest.raises(ApprovalMissing, match=message):
            world.approve("ghbad", version, tmp_path, ci="github", environ=environ)
    assert read_record(world.adapter("prod").get_version("prod.ml.ghbad", version).tags) is None


def test_an_azure_devops_environment_check_approval_confirmed_through_the_api(world, tmp_path, monkeypatch):
    version = world.to_prod("ado", tmp_path)
    approval_id = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
    world.ci.ado_builds["77"] = {"requested_for": SAM, "approvals": [
        {"id": approval_id, "status": "approved", "steps": [(HEAD, "approved")]}]}
    environ = {"SYSTEM_ACCESSTOKEN": "job-token", "BUILD_BUILDID": "77", "SYSTEM_COLLECTIONURI": f"{world.ci.url}/contoso/",
               "SYSTEM_TEAMPROJECT": "lakegate"}
    recorded = world.approve("ado", version, tmp_path, ci="azure-devops", environ=environ)
    assert (recorded.approved_by, recorded.kind) == (HEAD, "azure-devops")
    world.ci.ado_builds["78"] = {"requested_for": HEAD, "approvals": [
        {"id": "1b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", "status": "approved", "steps": [(HEAD, "approved")]}]}
    with pytest.raises(ApprovalMissing, match=f"{HEAD} approved the run they queued themselves"):
        world.approve("ado", version, tmp_path, ci="azure-devops", environ={**environ, "BUILD_BUILDID": "78"})
    monkeypatch.setenv("SYSTEM_ACCESSTOKEN", "job-token")
    done = world.promote_prod("ado", tmp_path)
    assert done.outcome == "champion" and done.gates[-1].message == f"approved by {HEAD} (confirmed by azure-devops)"
