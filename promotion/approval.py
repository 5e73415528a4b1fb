"""Approvals: an enrolled person's signature over the exact artifacts that will serve, never a name.

An approval is valid only as a *verifiable* statement:

    {"lakegate_approval": 1, "env": "prod", "model": "prod.ml.churn", "version": "3",
     "artifacts_sha256": "<digest of the version's files>", "approver": "head.of.ml@contoso.com",
     "approved_at": "2026-05-01T09:30:00Z"}

(canonical JSON: sorted keys, no spaces, one trailing newline) signed with `ssh-keygen -Y sign -n
lakegate-approval` by a key the environment's reviewed YAML lists for that person
(`promotion.approval.signers`), or the same facts confirmed by the CI platform's API for an approval
given in its environment protection (ci_approvals.py). The record (signature or CI evidence) is kept
on the version (tags `lakegate.approval.*`) and in the audit log; storage is untrusted: the approval
gate rebuilds the statement from the real environment, model and version and a digest it recomputes
from the registry's files, and verifies it. So a tag written by any principal is never an approval, a
signature for another version, environment or set of files fails, and files changed after the
approval fail.

Who may approve (checked when approving and again by the gate):
* an identity in plain ASCII (no invisible or look-alike characters, promotion/identity.py), never a
  service principal of any environment nor something that looks like one;
* enrolled (a key in `promotion.approval.signers`) and, when `approval.approvers` names groups, a
  member of one of them (a non-human group never confers the right);
* four eyes: not the actor who promoted the version (the `lakegate.promoter` tag, every promote entry
  of the audit log, and whoever is promoting now) and not the author of the commit that built it
  (the `git_author` lineage tag, checked against git itself when the commit is in this repository).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from lakegate.project import project_root
from lakegate.infra.model import Environment, Environments

from . import ci_approvals, naming, registry_tags, signing
from .anchor import Anchor
# The statement and the record are data (approval_record.py); callers import them from here too.
from .approval_record import (  # noqa: F401
    KINDS, SSH, STATEMENT_VERSION, ApprovalRecord, _now, parse_statement, read_record, record_tags, statement,
    write_record)
from .audit import AuditLog, current_actor
from .errors import ApprovalMissing, InvalidRequest, missing_from_registry
from .holds import parse_time
from .identity import local_part, name_problem, normalise, same_person, skeleton
from .registry import ModelVersion, NotFound, RegistryAdapter
from .validation import check_version

ROOT = project_root()  # the project's checkout: who wrote a version's commit is asked there


# --------------------------------------------------------------------------- who may approve


def settings_for(env: Environment, model: str | None):
    """The approval settings that apply to `model` in env: its own keys over `promotion.approval` (its policy)."""
    name = (model or "").split(".")[-1]
    return env.policy(name).approval if name in env.models else env.promotion.approval


def approver_problem(envs: Environments, env: Environment, name: str, model: str | None = None) -> str | None:
    """Why `name` may not approve `model` in env (or None): not plain, a service principal or its look-alike,
    not enrolled, not in the model's approver groups."""
    problem = name_problem(name)
    if problem:
        return problem
    wanted = normalise(name)
    shapes = {skeleton(name), skeleton(local_part(name))}
    for other in envs:
        for identity in (other.service_principal, other.principals.service_principal.application_id):
            if not identity:
                continue
            if normalise(identity) == wanted:
                return f"{name} is the service principal of {other.name}; approvals must come from a person"
            if skeleton(identity) in shapes:
                return f"{name} looks like {identity}, the service principal of {other.name}; refused"
    settings = settings_for(env, model)
    if not any(normalise(s.identity) == wanted for s in settings.signers):
        return f"{name} is not an enrolled approver of {env.name} (promotion.approval.signers)"
    if not settings.approvers:
        return None
    problems = []
    for group_name in settings.approvers:
        group = env.principals.groups.get(group_name)
        if group is None:
            problems.append(f"group {group_name} is not defined")
        elif not group.human:
            problems.append(f"group {group_name} holds applications, not people")
        elif any(normalise(member) == wanted for member in group.members):
            return None
    detail = f" ({'; '.join(problems)})" if problems else ""
    return f"{name} is not a member of the approver group(s) {', '.join(settings.approvers)} of {env.name}{detail}"


def promoters_of(entries: Iterable[dict[str, Any]], model: str, version: str) -> set[str]:
    """The actors of every promote entry of this version (the audit log's memory of who promoted it)."""
    return {str(e.get("actor")) for e in entries if e.get("action") == "promote" and e.get("model") == model
            and str(e.get("version")) == str(version) and e.get("actor")}


def commit_authors(version: ModelVersion, repository: Path | None = ROOT) -> tuple[set[str], str | None]:
    """(authors of the commit that built the version, problem). The `git_author` tag is a claim of the
    training principal; git itself is asked too when the commit is in `repository`."""
    commit = version.tags.get(registry_tags.GIT_COMMIT, "").strip()
    claimed = version.tags.get(registry_tags.GIT_AUTHOR, "").strip()
    actual = _git_author(repository, commit) if repository is not None and commit else ""
    if actual and claimed and normalise(actual) != normalise(claimed):
        return {actual, claimed}, (f"the git_author tag says {claimed} but commit {commit[:12]} in this repository "
                                   f"is by {actual} (a forged lineage tag?)")
    if not (actual or claimed):
        return set(), (f"the author of commit {commit[:12] or '(none)'} that built v{version.version} is unknown "
                       "(no git_author tag, and the commit is not in this repository)")
    return {actual or claimed}, None


def _git_author(repository: Path, commit: str) -> str:
    if not all(c in "0123456789abcdefABCDEF" for c in commit) or not 7 <= len(commit) <= 64:
        return ""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    try:
        result = subprocess.run(["git", "-C", str(repository), "log", "-1", "--format=%ae", commit, "--"],
                                capture_output=True, text=True, timeout=10, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def four_eyes_problem(env: Environment, version: ModelVersion, approver: str, promoters: Iterable[str],
                      repository: Path | None = ROOT) -> str | None:
    signers = settings_for(env, version.name).signers
    for promoter in sorted({p for p in promoters if p} | {version.tags.get(registry_tags.PROMOTER, "")} - {""}):
        if same_person(approver, promoter, signers):
            return f"{approver} promoted {version.name} v{version.version} (as {promoter}); the approver must be someone else"
    authors, problem = commit_authors(version, repository)
    if problem:
        return problem
    for author in sorted(authors):
        if same_person(approver, author, signers):
            return (f"{approver} wrote commit {version.tags.get(registry_tags.GIT_COMMIT, '')[:12]} that built "
                    f"v{version.version}; the approver must be someone else")
    return None


def approval_problem(envs: Environments, env: Environment, version: ModelVersion, record: ApprovalRecord,
                     digest: str, promoters: Iterable[str], *, environ: Mapping[str, str] = os.environ,
                     repository: Path | None = ROOT) -> str | None:
    """None when `record` is a valid approval of exactly this version's files in env, now."""
    problem = approver_problem(envs, env, record.by, version.name)
    if problem:
        return problem
    if parse_time(record.at) is None:
        return f"its approved_at {record.at[:40]!r} is not an ISO-8601 time with a zone"
    if record.digest != digest:
        return (f"the approval is for artifacts {record.digest[:12]}…, but v{version.version}'s files are "
                f"{digest[:12]}… (an approval of other files, or the files changed since)")
    if record.kind == SSH:
        try:
            armored = signing.armor(record.signature)
            problem = signing.verify(settings_for(env, version.name).signers, record.by,
                                     statement(env.name, version.name, version.version, digest, record.by, record.at),
                                     armored)
        except signing.SigningError as error:
            problem = str(error)
    elif record.kind == ci_approvals.GITHUB:
        problem = ci_approvals.verify_github(env, record.evidence, environ)
        if problem is None and not _ci_identity_matches(env, "github", record, version.name):
            problem = f"the GitHub reviewer {record.evidence.get('reviewer')} is not {record.by}'s enrolled login"
    elif record.kind == ci_approvals.AZURE_DEVOPS:
        problem = ci_approvals.verify_azure_devops(env, record.evidence, environ)
        if problem is None and not _ci_identity_matches(env, "azure_devops", record, version.name):
            problem = f"the Azure DevOps reviewer {record.evidence.get('reviewer')} is not {record.by}'s enrolled name"
    else:
        problem = f"unknown approval kind {record.kind!r}"
    if problem:
        return problem
    return four_eyes_problem(env, version, record.by, promoters, repository)


def _ci_identity_matches(env: Environment, field: str, record: ApprovalRecord, model: str | None = None) -> bool:
    reviewer = normalise(str(record.evidence.get("reviewer") or ""))
    return any(normalise(s.identity) == normalise(record.by) and normalise(getattr(s, field)) == reviewer
               for s in settings_for(env, model).signers if getattr(s, field))


# ------------------------------------------------------------------------------------- approving


@dataclass(frozen=True)
class ApprovalResult:
    env: str
    model: str
    version: str
    approved_by: str
    approved_at: str
    kind: str
    artifacts_sha256: str
    audit_seq: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def approval_statement(envs: Environments, model: str, env_name: str, version: str, approver: str, *,
                       adapter_factory: Callable[[str], RegistryAdapter]) -> bytes:
    """The statement `approver` signs elsewhere (`approve --print-statement`), for this version's files now."""
    env = naming.environment(envs, env_name)
    full = naming.full_name_in(env, model)
    version = check_version(version)
    problem = approver_problem(envs, env, approver, full)
    if problem:
        raise ApprovalMissing(f"approval refused: {problem}")
    registry = adapter_factory(env.name)
    _existing(registry, full, version)
    return statement(env.name, full, version, registry.artifact_digest(full, version), approver, _now())


def approve(envs: Environments, model: str, env_name: str, version: str, *,
            adapter_factory: Callable[[str], RegistryAdapter], audit_dir: str | Path,
            key: str | os.PathLike | None = None, signature: str | os.PathLike | None = None,
            statement_file: str | os.PathLike | None = None, ci: str | None = None, by: str | None = None,
            environ: Mapping[str, str] = os.environ, repository: Path | None = ROOT) -> ApprovalResult:
    """Record a verified approval of one version: signed now with `key`, a signature made elsewhere
    over the printed statement (`signature`, `statement_file`), or given in CI (`ci`: github |
    azure-devops). `by` only asserts who is expected; it is never the approval. `repository` is the
    git checkout asked who wrote the version's commit (the code's own, by default)."""
    env = naming.environment(envs, env_name)
    full = naming.full_name_in(env, model)
    version = check_version(version)
    _approval_applies(env, full)
    registry = adapter_factory(env.name)
    log = AuditLog(audit_dir, env.name, anchor=Anchor(registry, env))
    log.check_anchor(full)
    approved = _existing(registry, full, version)
    digest = registry.artifact_digest(full, version)
    try:
        ways = [w for w in (key, signature, ci) if w]
        if len(ways) != 1:
            raise ApprovalMissing("approval refused: " + (
                "give exactly one of --key, --signature, --ci" if ways else
                "an approval must be signed: --key ~/.ssh/id_ed25519 (or --signature FILE, or --ci "
                "github|azure-devops); a name given with --by alone proves nothing"))
        record = _make_record(env, full, version, digest, key=key, signature=signature,
                              statement_file=statement_file, ci=ci, environ=environ)
        if by is not None and normalise(by) != normalise(record.by):
            raise ApprovalMissing(f"approval refused: the approval is {record.by}'s, not {by}'s")
        promoters = promoters_of(log.entries_for(full), full, version)
        problem = approval_problem(envs, env, approved, record, digest, promoters, environ=environ,
                                   repository=repository)
        if problem:
            raise ApprovalMissing(f"approval refused: {problem}")
    except ApprovalMissing as error:
        log.append("approval_refused", model=full, version=version, actor=current_actor(), principal=registry.principal,
                   details={"approved_by": by, "reason": str(error).removeprefix("approval refused: ")})
        raise
    write_record(registry, full, version, record)
    entry = log.append("approve", model=full, version=version, actor=current_actor(), principal=registry.principal,
                       git_commit=approved.tags.get(registry_tags.GIT_COMMIT),
                       details={"approved_by": record.by, "kind": record.kind, "artifacts_sha256": digest,
                                **verified_against(env, record.by, full), "record": json.loads(record.to_json())})
    return ApprovalResult(env.name, full, version, record.by, record.at, record.kind, digest, entry["seq"])


def _approval_applies(env: Environment, full: str) -> None:
    """An approval where none is asked for is refused with exactly that, before any registry call."""
    policy = env.policy(full.split(".")[-1])
    if not policy.approval.required and not any(g.type == "approval" for g in policy.gates):
        raise InvalidRequest(f"{env.name} requires no approval for {full} ({policy.origins['approval']}; its gates: "
                             f"{', '.join(g.gate_id for g in policy.gates) or 'none'}): nothing to approve")


def verified_against(env: Environment, identity: str, model: str | None = None) -> dict[str, str | None]:
    """What verified an approval, for its audit entry: the approver's enrolled key (fingerprint) and the digest of
    the signer list, so the log alone shows an approval checked against definitions that are not the reviewed ones."""
    signers = settings_for(env, model).signers
    signer = next((s for s in signers if normalise(s.identity) == normalise(identity)), None)
    return {"key_fingerprint": signing.key_fingerprint(signer.key) if signer else None,
            "signers_sha256": signing.signers_digest(signers)}


def _existing(registry: RegistryAdapter, full: str, version: str) -> ModelVersion:
    try:
        return registry.get_version(full, version)
    except NotFound:
        raise missing_from_registry(registry, full, version) from None


def _make_record(env: Environment, full: str, version: str, digest: str, *, key, signature, statement_file, ci,
                 environ) -> ApprovalRecord:
    signers = settings_for(env, full).signers
    if key:
        public = signing.public_key_of(key)
        signer = next((s for s in signers if s.key == public), None)
        if signer is None:
            raise ApprovalMissing(f"approval refused: the key {key} is not enrolled for {env.name} "
                                  "(promotion.approval.signers)")
        at = _now()
        armored = signing.sign(key, statement(env.name, full, version, digest, signer.identity, at))
        return ApprovalRecord(SSH, signer.identity, at, digest, signing.compact(armored))
    if signature:
        sig_path = Path(signature).expanduser()
        text_path = Path(statement_file).expanduser() if statement_file else sig_path.with_suffix("")
        try:
            armored, raw = sig_path.read_text(encoding="ascii"), text_path.read_bytes()
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidRequest(f"cannot read the signature or statement ({type(error).__name__}: {error})") from None
        data = parse_statement(raw)
        asked = {"env": env.name, "model": full, "version": version}
        wrong = [f"{k} {data[k]!r} (expected {v!r})" for k, v in asked.items() if str(data[k]) != v]
        if wrong:
            raise ApprovalMissing(f"approval refused: the statement names {', '.join(wrong)}")
        if data["artifacts_sha256"] != digest:
            raise ApprovalMissing(f"approval refused: the statement is for artifacts {str(data['artifacts_sha256'])[:12]}…, "
                                  f"but v{version}'s files are {digest[:12]}…")
        return ApprovalRecord(SSH, str(data["approver"]), str(data["approved_at"]), digest, signing.compact(armored))
    if ci not in ci_approvals.PLATFORMS:
        raise InvalidRequest(f"--ci must be one of {', '.join(ci_approvals.PLATFORMS)}")
    found = (ci_approvals.github_approval if ci == ci_approvals.GITHUB else ci_approvals.azure_devops_approval)(env, environ)
    return ApprovalRecord(found.platform, found.identity, _now(), digest, evidence=found.evidence)
