"""An insider against what the lifecycle built: the serving endpoint (huge and deeply nested requests, forged
ground truth in its payload log, another catalog's model behind an environment's endpoint, a traversing
endpoint name), the local lakehouse's grants (a group named like another environment's principal), the source's
reach into the target's hold-out, and the auditor's report folders (planted symbolic links, a traversing
environment name in the audit log, an exported pack whose context was edited). No registry is started: each
attack is met at the layer that must refuse it, with real HTTP on 127.0.0.1 where HTTP is the boundary."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from lakegate.infra.loader import load_environments
from lakegate.pipelines import grants

from .helpers import copy_examples, edit
from .test_serving import ROW, saved_model

# ------------------------------------------------------------------------------------- the serving endpoint


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    from lakegate.pipelines.serving.app import Served, ServingApp
    from lakegate.pipelines.serving.server import UvicornThread

    model = saved_model(tmp_path_factory.mktemp("attack-model") / "m", 7)
    logged: list[dict] = []
    app = ServingApp("churn", Served.of("prod.ml.churn", "1", model), on_request=logged.append)
    server = UvicornThread(app)
    port = server.start()
    http = requests.Session()
    http.trust_env = False
    try:
        yield SimpleNamespace(port=port, url=f"http://127.0.0.1:{port}/serving-endpoints/churn/invocations",
                              http=http, logged=logged, server=server, app=app)
    finally:
        server.stop()


def _raw(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 2:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def test_the_endpoint_listens_on_loopback_only(endpoint):
    assert endpoint.server.server.servers[0].sockets[0].getsockname()[0] == "127.0.0.1"


def test_a_body_that_says_it_is_a_gigabyte_is_refused_before_it_is_read(endpoint):
    started = time.perf_counter()
    head = (f"POST /serving-endpoints/churn/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            f"\r\nContent-Length: {1 << 30}\r\n\r\n").encode()
    status, answer = _raw(endpoint.port, head, b'{"dataframe_records": [' + b"0," * 4096)
    assert status == 413 and b"PAYLOAD_TOO_LARGE" in answer and time.perf_counter() - started < 5
    assert endpoint.http.post(endpoint.url, json={"dataframe_records": [ROW]}).status_code == 200   # still serving


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(endpoint):
    from lakegate.pipelines.serving.app import MAX_BODY_BYTES

    def chunks():  # no Content-Length: chunked, so only counting what arrives can stop it
        row = json.dumps(ROW).encode() + b","
        yield b'{"dataframe_records": ['
        for _ in range(MAX_BODY_BYTES // len(row) + 10):
            yield row
        yield json.dumps(ROW).encode() + b"]}"

    try:
        answer = endpoint.http.post(endpoint.url, data=chunks(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 413 and answer.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    except requests.ConnectionError:
        pass  # the server answered and closed while the client was still sending: refused all the same
    assert all(len(row["request"]) <= MAX_BODY_BYTES for row in endpoint.logged)


@pytest.mark.parametrize("key", ["inputs", "dataframe_records"])
def test_deeply_nested_json_gets_a_clean_400_not_a_500_traceback(endpoint, key):
    body = '{"%s": %s%s}' % (key, "[" * 100_000, "]" * 100_000)
    answer = endpoint.http.post(endpoint.url, data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/json", answer.text[:200]
    assert answer.json()["error_code"] == "MALFORMED_REQUEST" and "Traceback" not in answer.text
    deadline = time.monotonic() + 5
    while not any(key in row["request"][:40] and row["status_code"] == 400 for row in endpoint.logged) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(key in row["request"][:40] and row["status_code"] == 400 for row in endpoint.logged)  # logged too


def test_credentials_a_client_sends_are_neither_echoed_nor_logged(endpoint):
    secret = "Bearer dapi-0123456789abcdef-secret"
    answer = endpoint.http.post(endpoint.url, data="{", headers={"Content-Type": "application/json",
                                                                 "Authorization": secret, "Cookie": f"s={secret}"})
    assert answer.status_code == 400 and secret not in answer.text
    assert all(secret not in json.dumps(row) for row in endpoint.logged)


def test_a_consumer_cannot_forge_ground_truth_through_the_payload_log(endpoint):
    """Strict signature checking refuses input columns outside the signature; a lenient endpoint (MLflow's own
    behaviour) ignores them and answers 200, so a request may carry `churned` (or `prediction`, `model_version`):
    the monitoring job's columns are its own, never the client's."""
    import pandas as pd

    from lakegate.pipelines.monitoring.unpack_inference_table import unpack

    forged = {**ROW, "churned": 1, "prediction": 7, "model_version": "99"}
    refused = endpoint.http.post(endpoint.url, json={"dataframe_records": [forged]})
    assert refused.status_code == 400 and "unknown column(s) churned, prediction, model_version" in refused.text
    endpoint.app.strict = False
    try:
        answer = endpoint.http.post(endpoint.url, json={"dataframe_records": [forged]})
    finally:
        endpoint.app.strict = True
    assert answer.status_code == 200
    deadline = time.monotonic() + 5  # the row is handed to the log after the response is sent
    while not (rows := [row for row in endpoint.logged if '"churned"' in row["request"] and row["status_code"] == 200]) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    frame = unpack(pd.DataFrame(rows), label="churned")             # the model's label, as its monitoring job passes it
    assert frame["churned"].isna().all()                                # no label until ground truth arrives
    assert list(frame["model_version"]) == ["1"] and list(frame["prediction"]) == answer.json()["predictions"]


def test_an_environments_endpoint_serves_only_its_own_catalogs_models(envs, tmp_path):
    """prod's principal may read staging's models: `serve staging.ml.churn --env prod` would answer under prod's
    endpoint, log to prod's payload table, and satisfy prod's deployment task for the same version number."""
    from lakegate.pipelines.errors import PipelineError
    from lakegate.pipelines.runtime import LocalRuntime
    from lakegate.pipelines.serving.server import ChampionServer

    runtime = LocalRuntime(envs, "prod", tmp_path / "state")
    for other in ("staging.ml.churn", "dev.ml.churn"):
        with pytest.raises(PipelineError, match="a model never crosses environments"):
            ChampionServer(runtime, other, log_requests=False)


def test_the_deployment_task_checks_which_model_the_endpoint_serves_not_only_its_number(envs, tmp_path, endpoint):
    from lakegate.pipelines.deployment.update_endpoint import DeploymentFailed, deploy_locally
    from lakegate.pipelines.serving.server import record_path

    endpoint.app.current = endpoint.app.current.__class__(**{**endpoint.app.current.__dict__,
                                                              "model_name": "staging.ml.churn"})
    try:
        record = record_path(tmp_path, "prod", "churn")
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"pid": os.getpid(), "url": endpoint.url}))
        rt = SimpleNamespace(state_dir=tmp_path, environment="prod", log=lambda message: None)
        with pytest.raises(DeploymentFailed, match="staging.ml.churn"):
            deploy_locally(rt, "churn", "prod.ml.churn", "1", timeout=0.5)
    finally:
        endpoint.app.current = endpoint.app.current.__class__(**{**endpoint.app.current.__dict__,
                                                                  "model_name": "prod.ml.churn"})


@pytest.mark.parametrize("name", ["../../../tmp/x", "churn/../../x", "a b", ""])
def test_an_endpoint_name_from_a_job_parameter_cannot_name_a_file_elsewhere(tmp_path, name):
    from lakegate.pipelines.errors import PipelineError
    from lakegate.pipelines.serving.server import read_record

    with pytest.raises(PipelineError, match="not an endpoint"):
        read_record(tmp_path, "prod", name)


# ------------------------------------------------------------------------------------- grants and hold-outs


def _tables(envs, state: Path, env: str, principal: str | None = None):
    from lakegate.pipelines.tables import LocalTables

    return LocalTables(state / "lakehouse", envs, principal or envs[env].service_principal, env)


def test_a_group_named_like_another_environments_principal_lends_its_members_nothing(tmp_path):
    """A data scientist's PR to dev.yaml declares a "group" `sp-lakegate-prod` holding sp-lakegate-dev: every grant
    to prod's principal would count for dev's (its payload log, its predictions), as would one to a person. The
    loader refuses such names; and were one to get past it, the grants lend its members nothing."""
    from lakegate.promotion.registry import PermissionRefused

    from .helpers import problems_of, variant

    folder = copy_examples(tmp_path / "environments")
    edit(folder / "dev.yaml", "  groups:\n", "  groups:\n    sp-lakegate-prod:\n      members: [sp-lakegate-dev]\n"
         "      entitlements: [workspace_access]\n    head.of.ml@contoso.com:\n      members: [sp-lakegate-dev]\n"
         "      entitlements: [workspace_access]\n")
    found = problems_of(folder)
    assert any("group 'sp-lakegate-prod' is named like a service principal" in p for p in found), found
    assert any("group 'head.of.ml@contoso.com' is named like a person" in p for p in found), found

    examples = load_environments(copy_examples(tmp_path / "examples"))
    groups = examples["dev"].principals.model_dump(by_alias=True)["groups"]
    for name in ("sp-lakegate-prod", "head.of.ml@contoso.com"):
        groups[name] = {"members": ["sp-lakegate-dev"], "entitlements": ["workspace_access"]}
    envs = variant(examples, "dev", principals={"groups": groups})
    for workspace in ("dev", "prod"):
        for table in ("monitoring.churn_payload", "predictions.churn_scores", "features.churn_validation"):
            for action in (grants.READ, grants.WRITE):
                decision = grants.decide(envs, "sp-lakegate-dev", workspace, "prod", *table.split("."), action)
                assert not decision.allowed, (workspace, table, action, decision)
    with pytest.raises(PermissionRefused, match="sp-lakegate-dev may not read on prod.monitoring.churn_payload"):
        _tables(envs, tmp_path, "dev").read("prod.monitoring.churn_payload")


def test_no_source_can_write_its_targets_hold_out_from_any_workspace(envs):
    """What the target's metric gates judge on is the target's: neither the source's principal nor its people
    (data scientists of dev) may write it, whichever workspace they work from."""
    for target in envs:
        if target.promotion.from_env is None:
            continue
        source = envs[target.promotion.from_env]
        schema, table = target.promotion.evaluation.table_for("churn").split(".")
        people = {m for g in source.principals.groups.values() for m in g.members}
        for who in {source.service_principal, *people}:
            for workspace in envs.names:
                for action in (grants.WRITE, grants.CREATE):
                    decision = grants.decide(envs, who, workspace, target.unity_catalog.catalog, schema, table, action)
                    assert not decision.allowed, (who, workspace, target.name, action, decision)


# --------------------------------------------------------------------------------------------- the reports


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    from .test_report_site import definitions, write_history

    tmp = tmp_path_factory.mktemp("attack-site")
    env_dir = definitions(tmp)
    envs = load_environments(env_dir)
    write_history(tmp / "state", envs)
    return SimpleNamespace(env_dir=env_dir, envs=envs, state=tmp / "state", tmp=tmp)


def _cli(*args) -> int:
    from lakegate.cli.app import main

    return main(list(args))


def test_a_planted_link_in_a_previous_report_folder_overwrites_nothing(history, tmp_path):
    out, victim = tmp_path / "report", tmp_path / "victim.txt"
    base = ["--environments", str(history.env_dir), "--state-dir", str(history.state), "--out", str(out)]
    assert _cli("report", "site", *base) == 0
    victim.write_text("the user's own file\n")
    # The old fixed temporary names, as someone with write access to the shared report folder would plant them.
    (out / ".index.html.tmp").symlink_to(victim)
    (out / ".site.json.tmp").symlink_to(victim)
    assert _cli("report", "site", *base) == 0
    assert victim.read_text() == "the user's own file\n" and not (out / "index.html").is_symlink()
    # A folder of the report replaced by a link to the user's home: refused, nothing written through it.
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    import shutil

    shutil.rmtree(out / "evidence")
    (out / "evidence").symlink_to(elsewhere)
    assert _cli("report", "site", *base) == 6
    assert list(elsewhere.iterdir()) == []


def test_an_environment_name_edited_into_the_audit_log_does_not_choose_the_evidence_folder(tmp_path):
    from lakegate.reports.evidence import default_dir

    root = tmp_path / "evidence"
    for env in ("../../../home/me", "/etc", ".."):
        folder = default_dir(root, {"pack": {"env": env, "model": "prod.ml.churn", "version": "1/../../x"}})
        assert folder.resolve().is_relative_to(root.resolve()) and folder.parent.parent == root, folder


def test_an_exported_pack_whose_other_promotions_were_hidden_fails_verify(history, tmp_path, capsys):
    out = tmp_path / "pack"
    state = ["--environments", str(history.env_dir), "--state-dir", str(history.state)]
    assert _cli("report", "evidence", "churn", "--env", "prod", "--version", "1", *state, "--out", str(out)) == 0
    document = json.loads((out / "evidence.json").read_text())
    assert document["other_promotions"]          # v1 was promoted twice into prod (refused, then champion)
    document["other_promotions"] = []            # the edit: hide the first one, and re-render the page to match
    from lakegate.reports.evidence import render_evidence

    (out / "evidence.json").write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    (out / "evidence.html").write_text(render_evidence(document))
    capsys.readouterr()
    assert _cli("report", "evidence", "--verify", str(out), *state, "--json") == 8
    checks = {c["check"]: c["ok"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["context"] is False and checks["digest"] and checks["html"]
