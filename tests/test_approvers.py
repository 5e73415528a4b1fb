"""`approvers enrol`: a person's public key enrolled by editing the environment's YAML in place (comments kept), checked
like `check` does; every refusal located, with its exit code, and nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .helpers import edit, run_in_process, tree_digest

SECOND = "second.approver@contoso.com"


digest = tree_digest


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for name in ("first", "second"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@example.com", "-f",
                        str(folder / name)], check=True)
        made[name] = folder / f"{name}.pub"
        made[f"{name}-private"] = folder / name
    return made


def enrol(defs: Path, *args: str):
    return run_in_process("approvers", "enrol", "--environments", str(defs), *args)


def public(path: Path) -> str:
    return " ".join(path.read_text().split()[:2])


def test_enrols_a_group_member_by_appending_one_line_and_the_definitions_load(defs, keys):
    prod = defs / "prod.yaml"
    edit(prod, "members: [head.of.ml@contoso.com]", f"members: [head.of.ml@contoso.com, {SECOND}]")
    before = prod.read_text()
    result = enrol(defs, "--env", "prod", "--identity", SECOND, "--public-key", str(keys["second"]),
                   "--github", "second-approver")
    assert result.returncode == 0, result.stderr
    after = prod.read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == [f"      - {{identity: {SECOND}, key: {public(keys['second'])}, github: second-approver}}"]
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    assert "# Enrolled approvers: only a signature by one of these keys" in after      # comments kept
    assert f"enrolled {SECOND} (SHA256:" in result.stdout and "prod.yaml:147: promotion.approval.signers[1]" in \
        result.stdout
    from lakegate.infra.loader import load_environments
    from lakegate.promotion.approval import approver_problem

    envs = load_environments(defs)
    signer = envs["prod"].promotion.approval.signers[-1]
    assert (signer.identity, signer.key, signer.github) == (SECOND, public(keys["second"]), "second-approver")
    assert approver_problem(envs, envs["prod"], SECOND, "prod.ml.churn") is None
    assert run_in_process("check", "--environments", str(defs)).returncode == 0


def test_replace_rotates_an_enrolled_key_and_changes_only_that_value(defs, keys):
    prod = defs / "prod.yaml"
    before = prod.read_text()
    result = enrol(defs, "--env", "prod", "--identity", "head.of.ml@contoso.com", "--public-key",
                   str(keys["first"]), "--replace", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["env"] == "prod" and report["key_fingerprint"].startswith("SHA256:")
    assert [(c["line"], c["path"]) for c in report["changes"]] == [(144, "promotion.approval.signers[0].key")]
    old_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSWgs0sNPEPYNOSbXPROuMNq5ZL1NudvYtq/JhGLFZK"
    assert prod.read_text() == before.replace(old_key, public(keys["first"]))


def test_signers_are_added_where_an_approval_has_none(defs, keys):
    staging = defs / "staging.yaml"
    edit(staging, "credentials:\n", "  approval:\n    required: true\ncredentials:\n")
    result = enrol(defs, "--env", "staging", "--identity", SECOND, "--public-key", str(keys["second"]))
    assert result.returncode == 0, result.stderr
    assert f"  approval:\n    required: true\n    signers:\n      - {{identity: {SECOND}, key: " in staging.read_text()


@pytest.mark.parametrize("case, code, message", [
    ("private key", 6, "is a private key: give the public half (the .pub file)"),
    ("not a key", 6, "not an SSH public key"),
    ("bad base64", 6, "the key's base64 part does not decode"),
    ("missing file", 6, "cannot read it"),
    ("no approval", 6, "staging requires no approval (environments/staging.yaml): there is nothing to enrol for"),
    ("unknown env", 6, "unknown environment 'prd' (did you mean prod?)"),
    ("enrolled already", 6, "prod.yaml:143: head.of.ml@contoso.com is enrolled already in promotion.approval.signers: "
                            "--replace to rotate the key"),
    ("replace nobody", 6, f"{SECOND} is not enrolled in environments/prod.yaml promotion.approval.signers: nothing to "
                          "replace"),
    ("someone else's key", 6, "this key is enrolled already for head.of.ml@contoso.com in prod"),
    ("not in the group", 6, f"{SECOND} could not approve in prod: {SECOND} is not a member of the approver group(s) "
                            "ml-approvers of prod; nothing written"),
    ("look-alike", 2, "is not a plain ASCII e-mail address"),
    ("service principal", 6, "could not approve in prod"),
    ("unknown model", 6, "did you mean churn?"),
    ("no option", 64, "the following arguments are required: --public-key"),
])
def test_refusals_are_located_and_write_nothing(defs, keys, case, code, message):
    key = str(keys["second"])
    enrolled = defs / "enrolled.pub"
    enrolled.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBSWgs0sNPEPYNOSbXPROuMNq5ZL1NudvYtq/JhGLFZK head\n")
    (defs / "bad.pub").write_text("ssh-ed25519 not-base64!\n")
    (defs / "text.pub").write_text("hello world\n")
    args = {
        "private key": ["--env", "prod", "--identity", SECOND, "--public-key", str(keys["second-private"])],
        "not a key": ["--env", "prod", "--identity", SECOND, "--public-key", str(defs / "text.pub")],
        "bad base64": ["--env", "prod", "--identity", SECOND, "--public-key", str(defs / "bad.pub")],
        "missing file": ["--env", "prod", "--identity", SECOND, "--public-key", str(defs / "nothing.pub")],
        "no approval": ["--env", "staging", "--identity", SECOND, "--public-key", key],
        "unknown env": ["--env", "prd", "--identity", SECOND, "--public-key", key],
        "enrolled already": ["--env", "prod", "--identity", "head.of.ml@contoso.com", "--public-key", key],
        "replace nobody": ["--env", "prod", "--identity", SECOND, "--public-key", key, "--replace"],
        "someone else's key": ["--env", "prod", "--identity", SECOND, "--public-key", str(enrolled)],
        "not in the group": ["--env", "prod", "--identity", SECOND, "--public-key", key],
        "look-alike": ["--env", "prod", "--identity", "head.of.m\u04cf@contoso.com", "--public-key", key],
        "service principal": ["--env", "prod", "--identity", "sp-lakegate-prod@contoso.com", "--public-key", key],
        "unknown model": ["--env", "prod", "--identity", SECOND, "--public-key", key, "--model", "chrun"],
        "no option": ["--env", "prod", "--identity", SECOND],
    }[case]
    before = digest(defs)
    result = enrol(defs, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(defs) == before
