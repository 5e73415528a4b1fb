"""The variables each generated CI job has are enough for lakegate, read by their ecosystem names.

For each platform the environment a deploy step runs with is rebuilt from the rendered pipeline itself (the
job's or task's `env:`, the platform's variables resolved), plus what the platform adds (GitHub's OIDC request
variables for a job with `id-token: write`; AzureCLI@2's AZURESUBSCRIPTION_* and its signed-in CLI; the
script's own exports), and nothing else. The Databricks adapter then reaches a workspace stub as the
environment's principal through the real azure-identity exchange against the Entra stub of
tests/test_credentials.py, and the audit log goes to and from a stub of Azure Blob Storage.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
import yaml

from lakegate.ci import azure_devops, github
from lakegate.ci.plan import build_plan
from lakegate.cli.app import main
from lakegate.promotion.credentials import azure_strategies

from .databricks_stub import DatabricksStub, StubError, StubServer
from .credentials_world import entra, signed_in_az, trust  # noqa: F401 - entra is a fixture

YAML_TENANT = "99999999-9999-4999-8999-999999999999"
STAGING_CLIENT = "5f0b1c2d-0000-4000-8000-00000000ca11"
STORAGE_SCOPE = "https://storage.azure.com/.default"


class BlobStub(StubServer):
    """GET / PUT https://<stub>/<account>/<container>/<blob> with ETag conditions, as Azure Storage answers them.
    Accepts only bearer tokens the Entra stub issued to `allowed` clients."""

    def __init__(self, tls, entra, allowed: set[str]):
        super().__init__(tls)
        self.entra, self.allowed = entra, allowed
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.counter = 0
        self.lock = threading.RLock()
        self.routes = [("GET", re.compile(r"/(?P<blob>[^/]+/[^/]+/.+)"), self._get),
                       ("PUT", re.compile(r"/(?P<blob>[^/]+/[^/]+/.+)"), self._put)]

    def principal_of(self, handler):
        header = handler.headers.get("Authorization", "")
        client = self.entra.issued.get(header.removeprefix("Bearer "))
        return client if client in self.allowed else None

    def _auth(self, principal, handler):
        if principal is None:
            raise StubError(403, "AuthorizationPermissionMismatch", "not authorized",
                            {"error": "AuthorizationPermissionMismatch"})
        assert handler.headers.get("x-ms-version")

    def _get(self, blob, principal, handler, **_):
        self._auth(principal, handler)
        if blob not in self.blobs:
            raise StubError(404, "BlobNotFound", "The specified blob does not exist.", {"error": "BlobNotFound"})
        data, etag = self.blobs[blob]
        return None, (200, data, {"ETag": etag, "Content-Type": "application/octet-stream"})

    def _put(self, blob, principal, handler, raw, **_):
        self._auth(principal, handler)
        assert handler.headers.get("x-ms-blob-type") == "BlockBlob"
        with self.lock:
            current = self.blobs.get(blob)
            if handler.headers.get("If-None-Match") == "*" and current is not None:
                raise StubError(409, "BlobAlreadyExists", "exists", {"error": "BlobAlreadyExists"})
            if "If-Match" in handler.headers and (current is None or current[1] != handler.headers["If-Match"]):
                raise StubError(412, "ConditionNotMet", "condition", {"error": "ConditionNotMet"})
            self.counter += 1
            etag = f'"0x8DC{self.counter:012d}"'
            self.blobs[blob] = (raw, etag)
        return {"bytes": len(raw)}, (201, b"", {"ETag": etag})


@pytest.fixture
def clean(monkeypatch, tmp_path):
    names = {f for s in azure_strategies() for f in s.fields if f != "PATH"}
    for name in list(os.environ):
        if name in names or name.startswith(("DATABRICKS_", "AZURESUBSCRIPTION_", "ARM_", "LAKEGATE_")):
            monkeypatch.delenv(name)
    (tmp_path / "azure").mkdir()
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure"))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def blobs(entra):
    entra.apps[STAGING_CLIENT] = "sp-lakegate-staging"
    with BlobStub((entra.cert, entra.cert.with_name("stub-key.pem")), entra, {STAGING_CLIENT}) as stub:
        yield stub


def github_step_environment(envs, env_name: str, variables: dict[str, str], entra) -> dict[str, str]:
    """The job's `env:` with `${{ vars.X }}` resolved, plus what GitHub's runner adds for `id-token: write`."""
    text = github.render(build_plan(envs, "github"))[f".github/workflows/deploy-{env_name}.yml"]
    job = yaml.safe_load(text)["jobs"]["deploy"]
    assert job["permissions"]["id-token"] == "write"
    resolved = {k: re.sub(r"\$\{\{ vars\.(\w+) \}\}", lambda m: variables[m.group(1)], v) for k, v in job["env"].items()}
    return {**resolved, "GITHUB_ACTIONS": "true",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{entra.url}/github/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": entra.github_request_token}


def azure_devops_step_environment(envs, env_name: str, step_prefix: str, group: dict[str, str], entra,
                                  connection_id: str) -> dict[str, str]:
    """An AzureCLI@2 step's `env:` with the system variables resolved, what AzureCLI@2 sets for a workload-identity
    service connection, the stage's variable group, and the script's own `export` lines."""
    document = yaml.safe_load(azure_devops.render(build_plan(envs, "azure-devops"))[azure_devops.PIPELINE_FILE])
    stage = next(s for s in document["stages"] if s["stage"] == f"deploy_{env_name}")
    steps = stage["jobs"][-1]["strategy"]["runOnce"]["deploy"]["steps"]
    step = next(s for s in steps if s.get("task") == "AzureCLI@2" and step_prefix in s["inputs"]["inlineScript"])
    system = {"System.AccessToken": entra.ado_access_token, "System.OidcRequestUri": f"{entra.url}/ado/oidctoken"}
    result = {k: re.sub(r"\$\(([\w.]+)\)", lambda m: system[m.group(1)], v) for k, v in step["env"].items()}
    result |= {"TF_BUILD": "True", "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": connection_id,
               "AZURESUBSCRIPTION_CLIENT_ID": STAGING_CLIENT, "AZURESUBSCRIPTION_TENANT_ID": YAML_TENANT, **group}
    for name, source in re.findall(r'^export (\w+)="\$(\w+)"$', step["inputs"]["inlineScript"], re.MULTILINE):
        result[name] = result[source]
    assert {"ARM_CLIENT_ID", "ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID"} <= set(result)
    return result


def adapter_reaches_the_workspace_as_the_principal(envs, entra, variables: dict[str, str], workspace) -> None:
    from lakegate.promotion.databricks.factory import databricks_adapter_factory

    adapter = databricks_adapter_factory(envs)("staging")
    assert adapter.list_versions("staging.ml.churn") == []
    assert workspace.requests[-1].principal == "sp-lakegate-staging"


def test_github_actions_job_variables(clean, envs, entra, tmp_path):
    with DatabricksStub() as workspace:
        workspace.token_issuers.append(entra.principal_of_token)
        workspace.grant("sp-lakegate-staging", "staging", "read", "write")
        entra.apps[STAGING_CLIENT] = "sp-lakegate-staging"
        variables = github_step_environment(envs, "staging", {"ARM_CLIENT_ID": STAGING_CLIENT,
                                                             "DATABRICKS_HOST": workspace.url}, entra)
        assert variables["ARM_TENANT_ID"] == YAML_TENANT and variables["ARM_USE_CLI"] == "false"
        for name, value in variables.items():
            clean.setenv(name, value)
        trust(clean, entra)
        signed_in_az(clean, tmp_path)            # azure/login signed the CLI in; ARM_USE_CLI=false keeps one strategy
        before = len(entra.calls("GET", "/github/token"))
        adapter_reaches_the_workspace_as_the_principal(envs, entra, variables, workspace)
        assert len(entra.calls("GET", "/github/token")) > before


def test_azure_devops_task_variables(clean, envs, entra, tmp_path):
    with DatabricksStub() as workspace:
        workspace.token_issuers.append(entra.principal_of_token)
        workspace.grant("sp-lakegate-staging", "staging", "read", "write")
        entra.apps[STAGING_CLIENT] = "sp-lakegate-staging"
        variables = azure_devops_step_environment(envs, "staging", "main.py promote churn",
                                                  {"DATABRICKS_HOST": workspace.url}, entra, "0d3c1a4e-sc-staging")
        for name, value in variables.items():
            clean.setenv(name, value)
        trust(clean, entra)
        signed_in_az(clean, tmp_path)            # AzureCLI@2 signed the CLI in
        adapter_reaches_the_workspace_as_the_principal(envs, entra, variables, workspace)
        assert entra.calls("POST", "/ado/oidctoken")[-1].query == {"api-version": "7.1",
                                                                   "serviceConnectionId": "0d3c1a4e-sc-staging"}


ROOT_ENVIRONMENTS = Path(__file__).resolve().parent / "fixtures" / "environments"


def audit(*args: str) -> int:
    return main(["ci", "audit", *args, "--environments", str(ROOT_ENVIRONMENTS)])


def test_the_audit_log_outlives_the_runner(clean, envs, entra, blobs, tmp_path, capsys):
    """pull (nothing yet) -> a promotion writes the log -> push creates it; the next runner pulls it; a push over
    a log someone else changed meanwhile is refused (exit 8) and overwrites nothing."""
    for name, value in github_step_environment(envs, "staging", {"ARM_CLIENT_ID": STAGING_CLIENT,
                                                                "DATABRICKS_HOST": "https://unused"}, entra).items():
        clean.setenv(name, value)
    trust(clean, entra)
    clean.setenv("LAKEGATE_BLOB_ENDPOINT", f"{blobs.url}/{{account}}")
    first, second = tmp_path / "runner-1", tmp_path / "runner-2"
    assert audit("pull", "--env", "staging", "--state-dir", str(first)) == 0
    assert "staging.jsonl absent, staging.head absent" in capsys.readouterr().out
    log, head = first / "audit" / "staging.jsonl", first / "audit" / "staging.head"
    log.write_text('{"seq": 1}\n')
    head.write_text('{"seq": 1}')
    assert audit("push", "--env", "staging", "--state-dir", str(first)) == 0
    assert "staging.jsonl created, staging.head created" in capsys.readouterr().out
    stored = "stlakegatetfstate/tfstate-staging/lakegate-audit/staging.jsonl"
    assert blobs.blobs[stored][0] == b'{"seq": 1}\n'
    assert {c.principal for c in blobs.requests} == {STAGING_CLIENT}
    exchanges = [c for c in entra.calls("POST") if c.path.endswith("/oauth2/v2.0/token")]
    assert exchanges[-1].body["scope"] == STORAGE_SCOPE and exchanges[-1].body["tenant"] == YAML_TENANT

    assert audit("pull", "--env", "staging", "--state-dir", str(second)) == 0     # a fresh runner
    assert (second / "audit" / "staging.jsonl").read_bytes() == log.read_bytes()
    assert oct((second / "audit" / "staging.jsonl").stat().st_mode & 0o777) == "0o600"
    assert audit("push", "--env", "staging", "--state-dir", str(second)) == 0
    assert "unchanged" in capsys.readouterr().out
    (second / "audit" / "staging.jsonl").write_text('{"seq": 1}\n{"seq": 2}\n')
    blobs.blobs[stored] = (b'{"seq": 1}\n{"seq": 9}\n', '"0x8DCother"')          # someone else meanwhile
    assert audit("push", "--env", "staging", "--state-dir", str(second)) == 8
    assert "changed since this job read it" in capsys.readouterr().err
    assert blobs.blobs[stored][0] == b'{"seq": 1}\n{"seq": 9}\n'


def test_audit_refusals(clean, envs, entra, blobs, tmp_path, capsys):
    trust(clean, entra)
    clean.setenv("LAKEGATE_BLOB_ENDPOINT", f"{blobs.url}/{{account}}")
    assert audit("pull", "--env", "staging", "--state-dir", str(tmp_path / "s")) == 11     # no credentials at all
    assert "azure-workload-identity: pinned but not configured" in capsys.readouterr().err   # staging pins it
    for name, value in github_step_environment(envs, "staging", {"ARM_CLIENT_ID": STAGING_CLIENT,
                                                                "DATABRICKS_HOST": "https://unused"}, entra).items():
        clean.setenv(name, value)
    assert audit("pull", "--env", "dev", "--state-dir", str(tmp_path / "s")) == 6        # dev's state is local
    assert "keeps its Terraform state locally" in capsys.readouterr().err
    (tmp_path / "s" / "audit").mkdir(parents=True, exist_ok=True)
    (tmp_path / "s" / "audit" / "staging.jsonl").write_text("{}\n")
    assert audit("push", "--env", "staging", "--state-dir", str(tmp_path / "s")) == 6    # never pulled
    assert "run `ci audit pull` first" in capsys.readouterr().err
    blobs.allowed.clear()                                                                # no data role
    assert audit("pull", "--env", "staging", "--state-dir", str(tmp_path / "t")) == 11
    assert "HTTP 403" in capsys.readouterr().err
    clean.setenv("LAKEGATE_BLOB_ENDPOINT", "https://127.0.0.1:9/{account}")
    assert audit("pull", "--env", "staging", "--state-dir", str(tmp_path / "u")) == 9
    assert "Traceback" not in capsys.readouterr().err
