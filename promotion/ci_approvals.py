"""Approvals given in the CI platform's environment protection, verified through that platform's API.

GitHub Actions: a job that targets a GitHub environment with required reviewers waits until a
reviewer approves; `approve ... --ci github` then runs inside that workflow run and asks
`GET {api}/repos/{owner}/{repo}/actions/runs/{run_id}/approvals` (and the run itself, for who
started it) with the job's GITHUB_TOKEN (`permissions: actions: read`).
Azure DevOps: a stage that deploys to an environment with an Approvals check waits likewise;
`approve ... --ci azure-devops` asks `GET {api}/{org}/{project}/_apis/pipelines/approvals` for the
approvals of this run (BUILD_BUILDID) with the job's SYSTEM_ACCESSTOKEN, and the build for who
queued it.

What is trusted on this path, and only this: the platform's API (at the URL the reviewed YAML names,
`promotion.approval.ci`, never one taken from the environment alone), the job's token, and the
reviewed YAML that maps the reviewer's login to an enrolled identity. The repository (GitHub) or
organization/project (Azure DevOps) must be the environment's own CI identity
(`principals.service_principal.ci_oidc`), so an approval in some other repository never counts.
The evidence (repository, run, environment, reviewer) is recorded on the version and in the audit
log, and the approval gate asks the API again before champion moves: a record is never trusted
because it is there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import requests

from lakegate.infra.model import Environment

from .errors import ApprovalMissing
from .identity import normalise

GITHUB, AZURE_DEVOPS = "github", "azure-devops"
PLATFORMS = (GITHUB, AZURE_DEVOPS)
_TIMEOUT_S = 30
_ADO_API_VERSION = "7.1"


class CiApprovalError(ApprovalMissing):
    """The CI platform does not (or cannot be asked to) confirm an approval."""


@dataclass(frozen=True)
class CiApproval:
    platform: str
    identity: str                 # the enrolled identity of the reviewer
    evidence: dict[str, Any]      # what the API said, enough to ask it again


# ------------------------------------------------------------------------------------------- GitHub


def github_approval(env: Environment, environ: Mapping[str, str] = os.environ) -> CiApproval:
    """The approval a reviewer gave to this workflow run for the environment's GitHub environment."""
    api, repository, environment = _github_target(env, environ)
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not run_id.isdigit():
        raise CiApprovalError("approve --ci github runs inside the workflow run that was approved: GITHUB_RUN_ID is not set")
    return _github_check(env, api, repository, run_id, environment, _token(environ, "GITHUB_TOKEN"))


def verify_github(env: Environment, evidence: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str | None:
    """None when GitHub still confirms the recorded approval, else why not."""
    try:
        api, repository, environment = _github_target(env, environ, recorded=evidence)
        if str(evidence.get("run_id")) == "" or not str(evidence.get("run_id")).isdigit():
            return "the recorded GitHub evidence names no workflow run"
        token = _token(environ, "GITHUB_TOKEN", "to ask GitHub again about the recorded approval")
        found = _github_check(env, api, repository, str(evidence["run_id"]), environment, token)
    except CiApprovalError as error:
        return str(error)
    if normalise(found.evidence["reviewer"]) != normalise(str(evidence.get("reviewer"))):
        return f"GitHub says run {evidence['run_id']} was approved by {found.evidence['reviewer']}, not {evidence.get('reviewer')}"
    return None


def _github_target(env: Environment, environ: Mapping[str, str],
                   recorded: Mapping[str, Any] | None = None) -> tuple[str, str, str]:
    oidc = env.principals.service_principal.ci_oidc.github
    if oidc is None:
        raise CiApprovalError(f"{env.name} has no GitHub repository (principals.service_principal.ci_oidc.github): "
                              "approvals given in GitHub cannot count")
    api = env.promotion.approval.ci.github_api
    given = (environ.get("GITHUB_API_URL") or api).rstrip("/")
    if given != api:
        raise CiApprovalError(f"GITHUB_API_URL {given} is not the GitHub API enrolled for {env.name} "
                              f"(promotion.approval.ci.github_api: {api})")
    repository = oidc.repository
    asked = (recorded or {}).get("repository") or environ.get("GITHUB_REPOSITORY") or repository
    if str(asked).lower() != repository.lower():
        raise CiApprovalError(f"the workflow runs in {asked}, not in {env.name}'s repository {repository}")
    if recorded is not None and str(recorded.get("api", api)).rstrip("/") != api:
        raise CiApprovalError(f"the recorded approval was confirmed by {recorded.get('api')}, not by {api}")
    return api, repository, oidc.environment or env.name


def _github_check(env: Environment, api: str, repository: str, run_id: str, environment: str, token: str) -> CiApproval:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28"}
    base = f"{api}/repos/{repository}/actions/runs/{run_id}"
    reviews = _get(f"{base}/approvals", headers, "GitHub")
    run = _get(base, headers, "GitHub")
    if not isinstance(reviews, list):
        raise CiApprovalError("GitHub answered the approvals request with something other than a list")
    mine = [r for r in reviews if isinstance(r, dict)
            and any(isinstance(e, dict) and e.get("name") == environment for e in r.get("environments") or [])]
    if any(r.get("state") == "rejected" for r in mine):
        raise CiApprovalError(f"a reviewer rejected the deployment of run {run_id} to GitHub environment {environment}")
    approved = [r for r in mine if r.get("state") == "approved"]
    if not approved:
        raise CiApprovalError(f"nobody approved run {run_id} for GitHub environment {environment} (its protection "
                              "rule must require reviewers)")
    starters = {normalise(((run.get(k) or {}) if isinstance(run, dict) else {}).get("login")) for k in ("actor", "triggering_actor")}
    problems = []
    for review in approved:
        login = str((review.get("user") or {}).get("login") or "")
        signer = _signer_by(env, "github", login)
        if signer is None:
            problems.append(f"{login} approved, but no enrolled signer has that GitHub login (promotion.approval.signers[].github)")
        elif normalise(login) in starters:
            problems.append(f"{login} approved the run they started themselves")
        else:
            return CiApproval(GITHUB, signer.identity, {"api": api, "repository": repository, "run_id": run_id,
                                                       "environment": environment, "reviewer": login,
                                                       "comment": str(review.get("comment") or "")[:100]})
    raise CiApprovalError("; ".join(problems))


# ------------------------------------------------------------------------------------- Azure DevOps


def azure_devops_approval(env: Environment, environ: Mapping[str, str] = os.environ) -> CiApproval:
    """The approval a reviewer gave to this pipeline run (BUILD_BUILDID) through an environment check."""
    api, organization, project = _ado_target(env, environ)
    build_id = environ.get("BUILD_BUILDID", "")
    if not build_id.isdigit():
        raise CiApprovalError("approve --ci azure-devops runs inside the pipeline run that was approved: BUILD_BUILDID is not set")
    token = _token(environ, "SYSTEM_ACCESSTOKEN")
    base = f"{api}/{quote(organization)}/{quote(project)}/_apis"
    listed = _get(f"{base}/pipelines/approvals?state=approved&$expand=steps&api-version={_ADO_API_VERSION}",
                  _ado_headers(token), "Azure DevOps")
    approvals = listed.get("value", []) if isinstance(listed, dict) else listed
    ours = [a for a in approvals or [] if isinstance(a, dict) and str(((a.get("pipeline") or {}).get("owner") or {}).get("id")) == build_id]
    if not ours:
        raise CiApprovalError(f"no approved approval belongs to pipeline run {build_id} in {organization}/{project}")
    return _ado_pick(env, api, organization, project, build_id, ours, token)


def verify_azure_devops(env: Environment, evidence: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str | None:
    try:
        api, organization, project = _ado_target(env, environ, recorded=evidence)
        approval_id = str(evidence.get("approval_id") or "")
        if not re.fullmatch(r"[0-9a-fA-F-]{36}", approval_id):
            return "the recorded Azure DevOps evidence names no approval"
        token = _token(environ, "SYSTEM_ACCESSTOKEN", "to ask Azure DevOps again about the recorded approval")
        base = f"{api}/{quote(organization)}/{quote(project)}/_apis"
        approval = _get(f"{base}/pipelines/approvals/{approval_id}?$expand=steps&api-version={_ADO_API_VERSION}",
                        _ado_headers(token), "Azure DevOps")
        if str(((approval.get("pipeline") or {}).get("owner") or {}).get("id")) != str(evidence.get("build_id")):
            return f"Azure DevOps approval {approval_id} does not belong to run {evidence.get('build_id')}"
        found = _ado_pick(env, api, organization, project, str(evidence.get("build_id")), [approval], token)
    except CiApprovalError as error:
        return str(error)
    if normalise(found.evidence["reviewer"]) != normalise(str(evidence.get("reviewer"))):
        return f"Azure DevOps says approval {approval_id} was given by {found.evidence['reviewer']}, not {evidence.get('reviewer')}"
    return None


def _ado_target(env: Environment, environ: Mapping[str, str], recorded: Mapping[str, Any] | None = None):
    oidc = env.principals.service_principal.ci_oidc.azure_devops
    if oidc is None:
        raise CiApprovalError(f"{env.name} has no Azure DevOps project (principals.service_principal.ci_oidc.azure_devops): "
                              "approvals given in Azure DevOps cannot count")
    api = env.promotion.approval.ci.azure_devops_api
    collection = environ.get("SYSTEM_COLLECTIONURI")
    if collection and collection.rstrip("/").lower() != f"{api}/{oidc.organization}".lower():
        raise CiApprovalError(f"SYSTEM_COLLECTIONURI {collection} is not {api}/{oidc.organization}, the Azure DevOps "
                              f"organization enrolled for {env.name}")
    project = environ.get("SYSTEM_TEAMPROJECT") or oidc.project
    if project.lower() != oidc.project.lower():
        raise CiApprovalError(f"the pipeline runs in project {project}, not in {env.name}'s project {oidc.project}")
    if recorded is not None and (str(recorded.get("organization", "")).lower() != oidc.organization.lower()
                                 or str(recorded.get("api", api)).rstrip("/") != api):
        raise CiApprovalError(f"the recorded approval was not confirmed by {api}/{oidc.organization}")
    return api, oidc.organization, oidc.project


def _ado_pick(env, api, organization, project, build_id, approvals, token) -> CiApproval:
    base = f"{api}/{quote(organization)}/{quote(project)}/_apis"
    build = _get(f"{base}/build/builds/{build_id}?api-version={_ADO_API_VERSION}", _ado_headers(token), "Azure DevOps")
    starters = {normalise(((build.get(k) or {}) if isinstance(build, dict) else {}).get("uniqueName"))
                for k in ("requestedFor", "requestedBy")}
    problems = []
    for approval in approvals:
        if approval.get("status") != "approved":
            problems.append(f"approval {approval.get('id')} is {approval.get('status')}, not approved")
            continue
        for step in approval.get("steps") or []:
            if step.get("status") != "approved":
                continue
            name = str(((step.get("actualApprover") or step.get("assignedApprover")) or {}).get("uniqueName") or "")
            signer = _signer_by(env, "azure_devops", name)
            if signer is None:
                problems.append(f"{name} approved, but no enrolled signer has that Azure DevOps name "
                                "(promotion.approval.signers[].azure_devops)")
            elif normalise(name) in starters:
                problems.append(f"{name} approved the run they queued themselves")
            else:
                return CiApproval(AZURE_DEVOPS, signer.identity, {
                    "api": api, "organization": organization, "project": project, "build_id": build_id,
                    "approval_id": str(approval.get("id")), "reviewer": name,
                    "comment": str(step.get("comment") or "")[:100]})
    raise CiApprovalError("; ".join(problems) or f"no approved step in the approvals of run {build_id}")


# ------------------------------------------------------------------------------------------ helpers


def _signer_by(env: Environment, field: str, login: str):
    wanted = normalise(login)
    return next((s for s in env.promotion.approval.signers if wanted and normalise(getattr(s, field)) == wanted), None)


def _token(environ: Mapping[str, str], name: str, why: str = "") -> str:
    token = environ.get(name, "")
    if not token:
        raise CiApprovalError(f"{name} is not set{' ' + why if why else ''} (the job's token is what asks the CI platform)")
    return token


def _ado_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _get(url: str, headers: dict[str, str], platform: str) -> Any:
    with requests.Session() as session:
        # Only a loopback URL (a test stub) ignores proxy settings; the real APIs are reached as usual.
        session.trust_env = urlsplit(url).hostname not in ("127.0.0.1", "localhost")
        try:
            response = session.get(url, headers=headers, timeout=_TIMEOUT_S, allow_redirects=False)
        except requests.RequestException as error:
            raise CiApprovalError(f"{platform} could not be asked ({type(error).__name__})") from None
    if response.status_code != 200:
        raise CiApprovalError(f"{platform} answered HTTP {response.status_code} to {urlsplit(url).path}")
    try:
        return response.json()
    except ValueError:
        raise CiApprovalError(f"{platform} answered {urlsplit(url).path} with something that is not JSON") from None
