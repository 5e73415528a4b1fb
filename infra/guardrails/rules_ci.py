"""Guardrails over how CI acts as each environment: the OIDC subjects of `principals.service_principal.ci_oidc`.

The generated pipelines (ci/) present exactly these subjects, and the account stack turns them into Entra
federated credentials; these rules refuse the definitions whose pipelines would be unsafe.
"""

from __future__ import annotations

from .rule import at, rule


def _subjects(env) -> list[tuple[str, str]]:
    oidc = env.principals.service_principal.ci_oidc
    found = []
    if oidc.github is not None:
        found.append(("github", oidc.github.subject))
    if oidc.azure_devops is not None:
        found.append(("azure_devops", f"{oidc.azure_devops.issuer} {oidc.azure_devops.subject}"))
    return found


@rule("LG-CI-001", "error", "production CI must sign in from a GitHub environment, not from a branch",
      """A branch subject (`repo:org/repo:ref:refs/heads/main`) is presented by every workflow run on that
      branch: any job pushed to it deploys production as its principal, and nothing waits for a person. A
      GitHub environment subject is presented only by jobs that target the environment, whose protection rules
      (required reviewers, deployment branches) GitHub enforces before the job starts; lakegate's approval
      gate then verifies who approved.""", production_only=True)
def production_github_environment(env, envs):
    github = env.principals.service_principal.ci_oidc.github
    if github is not None and github.branch:
        yield at(f"ci_oidc.github.branch={github.branch}", "principals", "service_principal", "ci_oidc", "github", "branch")


@rule("LG-CI-002", "error", "each environment's CI identity must have an OIDC subject of its own",
      """Two environments trusting the same federated subject (the same GitHub environment or branch, the same
      Azure DevOps service connection) let one CI job sign in as either principal: a job meant for staging
      could deploy or promote into prod. One environment, one subject.""")
def own_ci_subject(env, envs):
    mine = dict(_subjects(env))
    for other in envs:
        if other.name == env.name:
            continue
        for platform, subject in _subjects(other):
            if mine.get(platform) == subject:
                yield at(f"{platform}={subject.split(' ')[-1]} (also {other.name})",
                         "principals", "service_principal", "ci_oidc", platform)
