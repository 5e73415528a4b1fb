"""The subject each generated CI job presents is exactly a federated credential of the synthesized account stack,
on the application whose client id the job signs in with (output application_id_<env> -> ARM_CLIENT_ID).

GitHub: a job's OIDC token has the subject `repo:<repository>:environment:<name>` when the job targets a GitHub
environment (else the event's ref), for the repository the workflow runs in: the workflows are committed to
`ci_oidc.github.repository`. Azure DevOps: a task on a workload-identity service connection presents
`sc://<organization>/<project>/<connection>`, issued by `https://vstoken.dev.azure.com/<organization id>`.
"""

from __future__ import annotations

import re

import pytest
import yaml

from lakegate.ci import azure_devops, github
from lakegate.ci.plan import build_plan
from lakegate.infra.constructs.azure.ci_identity import GITHUB_ISSUER, TOKEN_EXCHANGE_AUDIENCE
from lakegate.infra.loader import load_environments
from lakegate.infra.stacks.account_outputs import application_id_output

from .helpers import copy_examples, edit


def federated_credentials(account: dict) -> dict[str, dict]:
    """display name (github-actions-<env>, azure-devops-<env>) -> the credential's synthesized attributes."""
    found = account["resource"]["azuread_application_federated_identity_credential"].values()
    return {c["display_name"]: c for c in found}


def application_of(reference: str) -> str:
    return re.fullmatch(r"\$\{azuread_application\.([\w-]+)\.(?:id|client_id)\}", reference).group(1)


@pytest.fixture(scope="module")
def account(stack):
    return stack("account")


def github_jobs(envs):
    for path, text in github.render(build_plan(envs, "github")).items():
        document = yaml.safe_load(text)
        for job_id, job in document["jobs"].items():
            if "id-token" in job.get("permissions", {}):
                yield path, document, job_id, job


def test_every_github_job_presents_its_environments_federated_subject(envs, account):
    credentials = federated_credentials(account)
    seen = set()
    for path, document, job_id, job in github_jobs(envs):
        env = envs[document["concurrency"]["group"].removeprefix("lakegate-")]
        oidc = env.principals.service_principal.ci_oidc.github
        presented = github.presented_subject(oidc.repository, document, job_id)
        credential = credentials[f"github-actions-{env.name}"]
        assert presented == credential["subject"] == oidc.subject, path
        assert credential["issuer"] == GITHUB_ISSUER and credential["audiences"] == [TOKEN_EXCHANGE_AUDIENCE]
        # The job signs in as the application that carries this credential.
        output = account["output"][application_id_output(env.name)]
        assert application_of(output["value"]) == application_of(credential["application_id"])
        assert job["env"]["ARM_CLIENT_ID"] == "${{ vars.ARM_CLIENT_ID }}"   # = that output, per environment
        seen.add(env.name)
    assert seen == set(envs.names)


def test_every_azure_devops_stage_presents_its_environments_federated_subject(envs, account):
    credentials = federated_credentials(account)
    document = yaml.safe_load(azure_devops.render(build_plan(envs, "azure-devops"))[azure_devops.PIPELINE_FILE])
    for env in envs:
        oidc = env.principals.service_principal.ci_oidc.azure_devops
        presented = azure_devops.presented_subject(document, f"deploy_{env.name}", oidc.organization, oidc.project)
        credential = credentials[f"azure-devops-{env.name}"]
        assert presented == credential["subject"] == oidc.subject
        assert credential["issuer"] == oidc.issuer == f"https://vstoken.dev.azure.com/{oidc.organization_id}"
        assert application_of(account["output"][application_id_output(env.name)]["value"]) == \
            application_of(credential["application_id"])
    # The pull-request stage signs in as nobody.
    assert azure_devops.presented_subject(document, "pull_request", "contoso", "lakegate") is None


def test_every_federated_credential_is_used_by_a_generated_job(envs, account):
    used = {f"github-actions-{e.name}" for e in envs} | {f"azure-devops-{e.name}" for e in envs}
    assert set(federated_credentials(account)) == used


def test_drift_is_caught(envs, account):
    """A job whose environment was edited by hand presents a subject Entra would refuse: the comparison fails."""
    credentials = federated_credentials(account)
    _, document, job_id, _ = next(j for j in github_jobs(envs) if j[0].endswith("deploy-prod.yml"))
    document["jobs"][job_id]["environment"] = "production"
    presented = github.presented_subject("contoso/lakegate-ml", document, job_id)
    assert presented == "repo:contoso/lakegate-ml:environment:production" != credentials["github-actions-prod"]["subject"]


def test_a_branch_subject_is_presented_by_a_push_to_that_branch(tmp_path):
    folder = copy_examples(tmp_path / "envs")
    edit(folder / "staging.yaml", "github: {repository: contoso/lakegate-ml, environment: staging}",
         "github: {repository: contoso/lakegate-ml, branch: release-candidates}")
    envs = load_environments(folder)
    jobs = [j for j in github_jobs(envs) if j[0].endswith("deploy-staging.yml")]
    assert [job_id for _, _, job_id, _ in jobs] == ["plan", "deploy"]     # both sign in
    for path, document, job_id, job in jobs:
        assert "environment" not in job
        assert github.presented_subject("contoso/lakegate-ml", document, job_id) == \
            envs["staging"].principals.service_principal.ci_oidc.github.subject == \
            "repo:contoso/lakegate-ml:ref:refs/heads/release-candidates"
