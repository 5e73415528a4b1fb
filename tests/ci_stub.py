"""Test-only stub of the CI platforms' approval APIs `approve --ci` asks (GitHub Actions, Azure DevOps)."""

from __future__ import annotations

import re

from tests.stub_server import StubError, StubServer


class CiStub(StubServer):
    """GitHub's workflow-run review history and Azure DevOps' pipeline approvals, in the documented shapes.

    `github_runs[(repo, run_id)] = {"actor": login, "reviews": [{"state", "environments": [names], "user": login}]}`
    `ado_builds[build_id] = {"requested_for": unique name, "approvals": [{"id", "status", "steps": [(name, status)]}]}`
    Only requests carrying one of `tokens` are answered (401 otherwise)."""

    def __init__(self):
        super().__init__()
        self.tokens: set[str] = set()
        self.github_runs: dict[tuple[str, str], dict] = {}
        self.ado_builds: dict[str, dict] = {}
        self.routes = [
            ("GET", re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>[0-9]+)/approvals"),
             self._gh_approvals),
            ("GET", re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>[0-9]+)"), self._gh_run),
            ("GET", re.compile(r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/pipelines/approvals"), self._ado_list),
            ("GET", re.compile(r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/pipelines/approvals/(?P<approval>[0-9a-f-]+)"),
             self._ado_get),
            ("GET", re.compile(r"/(?P<org>[^/]+)/(?P<project>[^/]+)/_apis/build/builds/(?P<build>[0-9]+)"), self._ado_build),
        ]

    def principal_of(self, handler) -> str | None:
        header = handler.headers.get("Authorization", "")
        return "ci" if header.startswith("Bearer ") and header[7:] in self.tokens else None

    def _auth(self, principal):
        if principal is None:
            raise StubError(401, "Unauthorized", "Bad credentials")

    def _gh(self, owner, repo, run):
        found = self.github_runs.get((f"{owner}/{repo}", run))
        if found is None:
            raise StubError(404, "Not Found", "Not Found", {"message": "Not Found"})
        return found

    def _gh_approvals(self, principal, owner, repo, run, **_):
        self._auth(principal)
        reviews = self._gh(owner, repo, run)["reviews"]
        return None, [{"state": r["state"], "comment": r.get("comment", ""),
                       "environments": [{"id": n + 1, "name": e, "url": f"{self.url}/env/{e}"}
                                        for n, e in enumerate(r["environments"])],
                       "user": {"login": r["user"], "id": 1, "type": "User"}} for r in reviews]

    def _gh_run(self, principal, owner, repo, run, **_):
        self._auth(principal)
        found = self._gh(owner, repo, run)
        return None, {"id": int(run), "head_sha": "0" * 40, "status": "in_progress",
                      "actor": {"login": found["actor"]}, "triggering_actor": {"login": found.get("triggered_by", found["actor"])}}

    def _ado_approval(self, build_id, approval):
        return {"id": approval["id"], "status": approval["status"], "createdOn": "2026-05-01T09:00:00Z",
                "steps": [{"assignedApprover": {"uniqueName": name}, "actualApprover": {"uniqueName": name},
                           "status": status, "comment": "ok"} for name, status in approval["steps"]],
                "pipeline": {"id": "7", "name": "lakegate", "owner": {"id": int(build_id), "name": f"run {build_id}"}}}

    def _ado_list(self, principal, query, **_):
        self._auth(principal)
        found = [self._ado_approval(b, a) for b, build in self.ado_builds.items() for a in build["approvals"]]
        if query.get("state"):
            found = [a for a in found if a["status"] == query["state"]]
        return None, {"count": len(found), "value": found}

    def _ado_get(self, principal, approval, **_):
        self._auth(principal)
        for build_id, build in self.ado_builds.items():
            for a in build["approvals"]:
                if a["id"] == approval:
                    return None, self._ado_approval(build_id, a)
        raise StubError(404, "ApprovalNotFound", f"Approval {approval} not found")

    def _ado_build(self, principal, build, **_):
        self._auth(principal)
        if build not in self.ado_builds:
            raise StubError(404, "BuildNotFound", f"Build {build} not found")
        name = self.ado_builds[build]["requested_for"]
        return None, {"id": int(build), "requestedFor": {"uniqueName": name}, "requestedBy": {"uniqueName": name}}
