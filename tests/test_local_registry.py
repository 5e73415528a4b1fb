"""The local embedded registry against a REAL MLflow server (one start for the whole module).

Covers: lifecycle (up / up again / status / down / stale pid), secrets handling, workspace-scoped
RBAC (no grant -> refused with the exact message, READ -> read but not write), a real artifact copy
into the target workspace (pipelined, failing cleanly mid-copy), the copy cache that spares the gates
a second download (and its trust rules), version deletion, concurrent alias writes, and the per-call
latency figures.
"""

from __future__ import annotations

import errno
import filecmp
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lakegate.promotion.local import process, secret_file
from lakegate.promotion.local.rest import ARTIFACTS_PATH
from lakegate.promotion.local.workspaces import mlflow_address, workspace_for_catalog
from lakegate.promotion.registry import InvalidName
from lakegate.promotion.local.provision import LocalAccessPlan
from lakegate.promotion.local.server import LocalRegistry
from lakegate.promotion.registry import NotFound, PermissionRefused, RegistryError

from .local_registry_fixtures import example_plan, register_sklearn_model, running_local_registry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    state = tmp_path_factory.mktemp("lakegate") / ".lakegate"
    state.mkdir(mode=0o755)  # a folder that already existed, readable by everyone: `up` must make it private
    state.chmod(0o755)
    with running_local_registry(state, example_plan()) as reg:
        yield reg


@pytest.fixture(scope="module")
def dev_version(registry):
    """One trained model registered in dev by dev's principal, carrying lineage tags."""
    version = register_sklearn_model(registry, "sp-dev", "dev.ml.churn", padding_bytes=256 * 1024,
                                     tags={"git_commit": "0123abc", "git_repo": "org/lakegate"})
    registry.adapter("sp-dev").set_alias("dev.ml.churn", "champion", version.version)
    return version


def _all_passwords(registry: LocalRegistry) -> list[str]:
    secrets = secret_file.read_secrets(registry.state_dir)
    return [secrets["admin"]["password"], secrets["flask_secret_key"], *secrets["users"].values()]


# -- lifecycle ---------------------------------------------------------------------------------------


def test_up_starts_a_healthy_server_on_localhost(registry):
    status = registry.status()
    assert status.state == "running" and status.healthy
    assert status.url.startswith("http://127.0.0.1:") and status.port > 0
    record = json.loads((registry.state_dir / "server.json").read_text())
    assert record["pid"] == status.pid and record["url"] == status.url


def test_up_twice_changes_nothing(registry, capfd):
    again = registry.up(example_plan())
    assert (again.started, again.changes, again.changed) == (False, [], False)
    assert again.state == "running"
    out, err = capfd.readouterr()
    for secret in _all_passwords(registry):
        assert secret not in out + err


def test_plan_changes_are_applied_and_reverted(registry):
    bigger = LocalAccessPlan(
        workspaces=[*example_plan().workspaces],
        users=[*example_plan().users, "sp-auditor"],
        permissions=[*example_plan().permissions, ("sp-auditor", "prod", "READ")],
    )
    assert registry.up(bigger).changes == [
        "created user sp-auditor",
        "created role lakegate-read in workspace prod",
        "granted READ on workspace prod to sp-auditor",
    ]
    assert registry.up(example_plan()).changes == []  # users are never deleted...
    trimmed = LocalAccessPlan(workspaces=bigger.workspaces, users=bigger.users,
                              permissions=[*example_plan().permissions])
    assert registry.up(trimmed).changes == ["revoked READ on workspace prod from sp-auditor"]


def test_grants_edited_by_hand_are_put_back(registry):
    admin = registry.admin_http()
    roles = {r["name"]: r for r in admin.call("GET", "/api/3.0/mlflow/roles/list",
                                                params={"workspace": "dev"})["roles"]}
    read_role = roles["lakegate-read"]
    grants = {p["resource_type"]: p for p in read_role["permissions"]}
    admin.call("DELETE", "/api/3.0/mlflow/roles/permissions/remove",
               json={"role_permission_id": grants["experiment"]["id"]})
    admin.call("PATCH", "/api/3.0/mlflow/roles/permissions/update",
               json={"role_permission_id": grants["registered_model"]["id"], "permission": "MANAGE"})
    admin.call("POST", "/api/3.0/mlflow/roles/permissions/add", json={
        "role_id": read_role["id"], "resource_type": "prompt", "resource_pattern": "*", "permission": "EDIT"})
    assert registry.up(example_plan()).changes == [
        "added READ on experiment:* to role lakegate-read in workspace dev",
        "changed registered_model:* from MANAGE to READ in role lakegate-read in workspace dev",
        "removed EDIT on prompt:* from role lakegate-read in workspace dev",
    ]
    assert registry.up(example_plan()).changes == []


def test_credentials_file_is_private_and_secrets_stay_out_of_logs(registry):
    creds = registry.state_dir / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    secrets = secret_file.read_secrets(registry.state_dir)
    assert set(secrets["users"]) >= {"sp-dev", "sp-staging", "sp-prod"}
    assert all(len(p) >= 12 for p in _all_passwords(registry))
    log = (registry.state_dir / "server.log").read_text()
    ini_path = registry.state_dir / "auth.ini"
    ini = ini_path.read_text()
    assert "default_permission = NO_PERMISSIONS" in ini and "auth_cache_ttl_seconds = 300" in ini
    # The admin password reaches the server through the auth ini (not its environment), so the ini is as
    # private as the credentials file; no other secret is in it.
    assert stat.S_IMODE(ini_path.stat().st_mode) == 0o600 and f"admin_password = {secrets['admin']['password']}" in ini
    status_json = json.dumps(registry.status().to_dict())
    adapter_repr = repr(registry.adapter("sp-dev")) + repr(registry.admin_http())
    for secret in _all_passwords(registry):
        assert secret not in log
        assert secret not in status_json and secret not in adapter_repr
    for secret in [secrets["flask_secret_key"], *secrets["users"].values()]:
        assert secret not in ini


def test_the_state_folder_is_private_and_no_password_is_in_the_servers_environment(registry):
    """A pre-existing 0755 state folder is made 0700 by `up`; the server and its uvicorn worker were
    started without any password in their environment (read from /proc/<pid>/environ)."""
    assert stat.S_IMODE(registry.state_dir.stat().st_mode) == 0o700
    secrets = secret_file.read_secrets(registry.state_dir)
    passwords = [secrets["admin"]["password"], *secrets["users"].values()]
    members = process.group_members(registry.status().pid)
    assert len(members) >= 2, members  # `mlflow server` and its uvicorn worker
    for pid, cmdline in members:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert environ, cmdline
        assert b"MLFLOW_AUTH_ADMIN_PASSWORD" not in environ and b"MLFLOW_TRACKING_PASSWORD" not in environ, cmdline
        assert not [p for p in passwords if p.encode() in environ], cmdline


def test_status_and_down_of_a_stale_or_missing_server(tmp_path):
    registry = LocalRegistry(tmp_path / "state")
    assert registry.status().state == "stopped"
    assert registry.down().stopped is False  # safe when nothing runs
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    (tmp_path / "state" / "server.json").write_text(json.dumps(
        {"pid": int(finished.stdout), "port": 1, "url": "http://127.0.0.1:1"}))
    assert registry.status().state == "stale-pid"
    assert registry.down().state == "stopped"
    assert not (tmp_path / "state" / "server.json").exists()


def test_down_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    from lakegate.promotion.local import process

    stubborn = process.spawn_detached(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                               "print('ready', flush=True); time.sleep(60)"],
        env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, log_path=tmp_path / "stubborn.log")
    while "ready" not in (tmp_path / "stubborn.log").read_text():
        time.sleep(0.02)
    assert process.stop_group(stubborn.pid, timeout=0.5) == "killed"
    assert not process.is_alive(stubborn.pid)


def test_down_stops_a_worker_orphaned_by_a_killed_server(tmp_path):
    """kill -9 of `mlflow server` leaves its uvicorn worker running; down() must not leak it."""
    import os
    import signal

    from lakegate.promotion.local import process

    state = tmp_path / "state"
    state.mkdir()
    parent = process.spawn_detached(
        [sys.executable, "-c",
         "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
         "'import time; time.sleep(60)', 'mlflow-worker']); print('ready', flush=True); time.sleep(60)",
         "mlflow-server"],
        env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, log_path=tmp_path / "server.log")
    while "ready" not in (tmp_path / "server.log").read_text():
        time.sleep(0.02)
    (state / "server.json").write_text(json.dumps({"pid": parent.pid, "port": 1, "url": "http://127.0.0.1:1"}))
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert [cmd for _pid, cmd in process.group_members(parent.pid)] == [
        f"{sys.executable} -c import time; time.sleep(60) mlflow-worker "]
    registry = LocalRegistry(state, stop_timeout=2)
    assert registry.status().state == "stale-pid"
    registry.down()
    assert process.group_members(parent.pid) == []


# -- naming ------------------------------------------------------------------------------------------


def test_unity_catalog_names_map_to_workspace_and_model():
    assert mlflow_address("dev.ml.churn") == ("dev", "ml.churn")
    assert workspace_for_catalog("ML_Dev") == "ml-dev"
    for bad in ("dev.churn", "dev.ml.churn.x", "dev.ml/x.churn"):
        with pytest.raises(InvalidName):
            mlflow_address(bad)
    with pytest.raises(InvalidName):
        workspace_for_catalog("api")


def test_refusals_wrapped_in_a_server_error_are_unwrapped():
    from lakegate.promotion.local.rest import HttpFailure, classify

    wrapped = HttpFailure(500, json.dumps({"error_code": "INTERNAL_ERROR",
                                           "message": "403 Client Error: FORBIDDEN: Permission denied"}),
                          "GET", "/api/2.0/mlflow/model-versions/get")
    assert str(classify(wrapped, "sp-prod", "read", "dev.ml.churn")) == "principal sp-prod may not read on dev.ml.churn"
    crash = HttpFailure(500, json.dumps({"error_code": "INTERNAL_ERROR", "message": "disk full"}), "GET", "/x")
    assert not isinstance(classify(crash, "sp-prod", "read", "dev.ml.churn"), PermissionRefused)


# -- permissions -------------------------------------------------------------------------------------


def test_principal_without_grants_is_refused_with_the_exact_message(registry, dev_version):
    prod = registry.adapter("sp-prod")
    for attempt in (lambda: prod.get_version("dev.ml.churn", dev_version.version),
                    lambda: prod.get_version_by_alias("dev.ml.churn", "champion"),
                    lambda: prod.list_versions("dev.ml.churn"),
                    lambda: prod.load_pyfunc("dev.ml.churn", dev_version.version)):
        with pytest.raises(PermissionRefused) as refused:
            attempt()
        assert str(refused.value) == "principal sp-prod may not read on dev.ml.churn"
    with pytest.raises(PermissionRefused) as refused:
        prod.copy_version(dev_version, "prod.ml.churn", {})
    assert str(refused.value) == "principal sp-prod may not read on dev.ml.churn"


def test_read_grant_reads_but_cannot_write(registry, dev_version):
    staging = registry.adapter("sp-staging")
    assert staging.get_version("dev.ml.churn", dev_version.version).tags["git_commit"] == "0123abc"
    assert staging.get_version_by_alias("dev.ml.churn", "champion").version == dev_version.version
    assert [v.aliases for v in staging.list_versions("dev.ml.churn")] == [("champion",)]
    assert staging.find_version_by_tag("dev.ml.churn", "git_commit", "0123abc").version == dev_version.version
    refused = r"^principal sp-staging may not {} on dev\.ml\.churn$"
    with pytest.raises(PermissionRefused, match=refused.format("set alias challenger")):
        staging.set_alias("dev.ml.churn", "challenger", dev_version.version)
    with pytest.raises(PermissionRefused, match=refused.format("tag version 1")):
        staging.set_version_tag("dev.ml.churn", "1", "approved", "yes")
    with pytest.raises(PermissionRefused, match=r"^principal sp-dev may not write on staging\.ml\.churn$"):
        registry.adapter("sp-dev").copy_version(dev_version, "staging.ml.churn", {})


def test_missing_things_are_not_found_not_refused(registry, dev_version):
    dev = registry.adapter("sp-dev")
    with pytest.raises(NotFound):
        dev.get_version("dev.ml.nope", "1")
    with pytest.raises(NotFound):
        dev.get_version("dev.ml.churn", "999")
    with pytest.raises(NotFound):
        registry.adapter("sp-staging").get_version("dev.ml.nope", "1")
    assert dev.get_version_by_alias("dev.ml.churn", "no-such-alias") is None
    assert dev.get_version_by_alias("dev.ml.never-registered", "champion") is None
    assert dev.list_versions("dev.ml.never-registered") == []
    assert dev.find_version_by_tag("dev.ml.churn", "git_commit", "other") is None
    dev.delete_alias("dev.ml.churn", "no-such-alias")  # idempotent


# -- copy, info, load --------------------------------------------------------------------------------


def test_copy_version_really_copies_into_the_target_workspace(registry, dev_version):
    staging = registry.adapter("sp-staging")
    seen: list[tuple[int, int]] = []
    tags = {"promoted_from": "dev.ml.churn", "source_version": dev_version.version,
            "lakegate.idempotency_key": "dev.ml.churn/1->staging"}
    copied = staging.copy_version(dev_version, "staging.ml.churn", tags,
                                  progress=lambda done, total: seen.append((done, total)))
    assert copied.name == "staging.ml.churn" and copied.status == "READY"
    assert copied.tags == tags
    assert staging.find_version_by_tag("staging.ml.churn", "lakegate.idempotency_key",
                                       "dev.ml.churn/1->staging") == copied
    assert copied.source.startswith("mlflow-artifacts:/workspaces/staging/")
    assert "/workspaces/dev/" not in copied.source and copied.run_id != dev_version.run_id

    artifacts_root = registry.state_dir / "artifacts"
    source_dir = artifacts_root / dev_version.source.split(":/", 1)[1]
    target_dir = artifacts_root / copied.source.split(":/", 1)[1]
    source_files = sorted(p.relative_to(source_dir) for p in source_dir.rglob("*") if p.is_file())
    assert Path("data/padding.bin") in source_files
    assert source_files == sorted(p.relative_to(target_dir) for p in target_dir.rglob("*") if p.is_file())
    # Every file is the source's, byte for byte, except where MLmodel says it was logged: the copy points at
    # its own run in the target (self-contained: nothing in it names the source's run or workspace).
    assert all(filecmp.cmp(source_dir / rel, target_dir / rel, shallow=False) for rel in source_files
               if rel != Path("MLmodel"))
    from lakegate.promotion.local.relocate import canonical

    source_mlmodel, target_mlmodel = (source_dir / "MLmodel").read_text(), (target_dir / "MLmodel").read_text()
    assert canonical(source_mlmodel) == canonical(target_mlmodel)
    assert dev_version.run_id not in target_mlmodel and "workspaces/dev" not in target_mlmodel
    assert f"run_id: {copied.run_id}" in target_mlmodel
    total = sum((source_dir / rel).stat().st_size for rel in source_files)
    assert seen[0] == (0, total) and seen[-1] == (total, total)

    info = staging.model_info("staging.ml.churn", copied.version)
    assert [c["name"] for c in info["signature"]["inputs"]] == ["tenure", "spend", "tickets"]
    assert info["input_example"]["columns"] == ["tenure", "spend", "tickets"]
    assert info["metrics"]["accuracy"] > 0.5  # copied onto the target's own run
    model = staging.load_pyfunc("staging.ml.churn", copied.version)
    assert len(model.predict(model.input_example)) == 3
    # The copy does not depend on dev: prod (no access to dev) reads it once it may read staging.
    assert registry.adapter("sp-prod").model_info("staging.ml.churn", copied.version)["metrics"] == info["metrics"]


def test_concurrent_first_alias_writes_both_succeed_or_one_loses_cleanly(registry, dev_version):
    first = registry.adapter("sp-staging")
    copies = [first.copy_version(dev_version, "staging.ml.race", {"n": str(i)}) for i in range(2)]
    for round_ in range(10):  # the unique-constraint race shows up in roughly 1 round in 4
        alias = f"race-{round_}"
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def write(version: str) -> None:
            adapter = registry.adapter("sp-staging")  # one client per thread, like two promotions
            barrier.wait()
            try:
                adapter.set_alias("staging.ml.race", alias, version)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(c.version,)) for c in copies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] or (len(errors) == 1 and "alias" in str(errors[0]))
        winner = first.get_version_by_alias("staging.ml.race", alias)
        assert winner is not None and winner.version in {c.version for c in copies}


def test_principals_in_parallel_threads_keep_their_own_identity(registry, dev_version):
    staging, prod = registry.adapter("sp-staging"), registry.adapter("sp-prod")
    outcomes: dict[str, set[str]] = {"sp-staging": set(), "sp-prod": set()}

    def read_dev(adapter) -> None:
        for _ in range(15):
            try:
                adapter.get_version("dev.ml.churn", dev_version.version)
                outcomes[adapter.principal].add("read")
            except PermissionRefused:
                outcomes[adapter.principal].add("refused")

    threads = [threading.Thread(target=read_dev, args=(a,)) for a in (staging, prod, staging, prod)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == {"sp-staging": {"read"}, "sp-prod": {"refused"}}


# -- copy cache, pipelined copy, delete --------------------------------------------------------------


class _Downloads:
    """Counts the artifact files an adapter downloads (not listings, not uploads)."""

    def __init__(self, adapter):
        self.paths: list[str] = []
        original = adapter._http.request

        def request(method, path, **kwargs):
            if method == "GET" and path.startswith(ARTIFACTS_PATH + "/"):
                self.paths.append(path)
            return original(method, path, **kwargs)

        adapter._http.request = request  # instance attribute: only this adapter is watched


def test_a_copied_version_is_loaded_from_the_copy_cache_until_a_file_changes(registry, dev_version, monkeypatch):
    from lakegate.promotion.local.transfer import stream_copy

    monkeypatch.setattr(stream_copy, "CHUNK", 64 * 1024)  # the 256 KiB padding streams as several chunks
    monkeypatch.setattr(stream_copy, "QUEUE_DEPTH", 2)
    staging = registry.adapter("sp-staging")
    seen: list[tuple[int, int]] = []
    copied = staging.copy_version(dev_version, "staging.ml.cached", {"n": "1"},
                                  progress=lambda done, total: seen.append((done, total)))
    total = seen[-1][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total) and len(seen) > 10  # chunk by chunk
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    downloads = _Downloads(staging)
    info = staging.model_info("staging.ml.cached", copied.version)
    model = staging.load_pyfunc("staging.ml.cached", copied.version)
    assert downloads.paths == []  # both served by the copy this adapter just made
    assert info["metrics"]["accuracy"] > 0.5 and len(model.predict(model.input_example)) == 3
    root = staging.copy_cache.root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700

    entry = staging.copy_cache.get("staging.ml.cached", copied.version)
    padding = entry.path("data/padding.bin")
    padding.chmod(0o600)
    padding.write_bytes(b"not what was copied")
    model = staging.load_pyfunc("staging.ml.cached", copied.version)  # downloads instead
    assert any(p.endswith("/data/padding.bin") for p in downloads.paths)
    assert len(model.predict(model.input_example)) == 3
    assert staging.copy_cache.get("staging.ml.cached", copied.version) is None
    staging.copy_cache.close()
    assert not root.exists()


def test_the_copy_cache_never_serves_a_different_version_with_the_same_number(registry, dev_version):
    first, second = registry.adapter("sp-staging"), registry.adapter("sp-staging")

    def delete_model() -> None:
        second._http.call("DELETE", "/api/2.0/mlflow/registered-models/delete", workspace="staging",
                          json={"name": "ml.reborn"})

    old = first.copy_version(dev_version, "staging.ml.reborn", {})
    delete_model()
    new = second.copy_version(dev_version, "staging.ml.reborn", {})
    assert new.version == old.version and new.run_id != old.run_id  # same number, another version
    downloads = _Downloads(first)
    first.load_pyfunc("staging.ml.reborn", new.version)
    assert downloads.paths  # downloaded: the stale copy was not trusted
    assert first.copy_cache.get("staging.ml.reborn", old.version) is None
    # `first` still believes the model exists: its next copy recreates it instead of failing
    delete_model()
    again = first.copy_version(dev_version, "staging.ml.reborn", {})
    assert [v.run_id for v in first.list_versions("staging.ml.reborn")] == [again.run_id]


@pytest.mark.parametrize("cached", [True, False], ids=["relayed-through-the-cache", "pipelined"])
def test_a_download_failing_mid_copy_registers_nothing_and_leaves_no_files(registry, dev_version, monkeypatch,
                                                                           cached):
    from lakegate.promotion.local.transfer import stream_copy
    from lakegate.promotion.local.adapter import LocalRegistryAdapter

    monkeypatch.setattr(stream_copy, "CHUNK", 64 * 1024)
    staging = LocalRegistryAdapter(registry.url, "sp-staging", secret_file.user_password(registry.state_dir, "sp-staging"),
                                   copy_cache_bytes=10 ** 9 if cached else 0)
    original = staging._http.open_artifact

    def failing_open(workspace, path, headers=None):
        response = original(workspace, path, headers=headers)
        if path.endswith("/data/padding.bin"):
            read, calls = response.raw.read, []

            def read_then_fail(*args, **kwargs):
                calls.append(1)
                if len(calls) > 1:
                    raise ConnectionResetError("connection reset by peer")
                return read(*args, **kwargs)

            response.raw.read = read_then_fail
        return response

    staging._http.open_artifact = failing_open
    with pytest.raises(RegistryError, match=r"download of .*padding\.bin failed mid-copy"):
        staging.copy_version(dev_version, "staging.ml.broken", {"lakegate.idempotency_key": "broken"})
    assert staging.find_version_by_tag("staging.ml.broken", "lakegate.idempotency_key", "broken") is None
    if cached:
        assert list(staging.copy_cache.root.iterdir()) == []  # the staged copy was discarded
    else:
        assert staging.copy_cache.root is None  # nothing was ever written locally


class _BadSink:
    """A cache file that fails as told: `full` after its first write, or `tampered` when flushed."""

    def __init__(self, handle, fault: str):
        self._handle, self._fault, self.name, self._writes = handle, fault, handle.name, 0

    def write(self, data):
        self._writes += 1
        if self._fault == "full" and self._writes > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._handle.write(data)

    def flush(self):
        self._handle.flush()
        if self._fault == "tampered":
            with open(self.name, "r+b") as handle:
                handle.write(b"X")

    def __getattr__(self, attribute):
        return getattr(self._handle, attribute)


def _with_bad_sinks(monkeypatch, fault: str) -> None:
    from lakegate.promotion.local.transfer import copy_cache, stream_copy

    monkeypatch.setattr(stream_copy, "CHUNK", 64 * 1024)  # the 256 KiB padding is relayed through its sink
    real_sink = copy_cache.StagedCopy.sink
    monkeypatch.setattr(copy_cache.StagedCopy, "sink", lambda staged, rel: _BadSink(real_sink(staged, rel), fault))


def test_a_full_disk_only_costs_the_cache_never_the_copy(registry, dev_version, monkeypatch):
    _with_bad_sinks(monkeypatch, "full")
    staging = registry.adapter("sp-staging")
    seen: list[tuple[int, int]] = []
    copied = staging.copy_version(dev_version, "staging.ml.fulldisk", {},
                                  progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and all(done <= total for done, total in seen)
    downloads = _Downloads(staging)
    model = staging.load_pyfunc("staging.ml.fulldisk", copied.version)
    assert any(p.endswith("/data/padding.bin") for p in downloads.paths)  # not from the broken cache
    assert len(model.predict(model.input_example)) == 3


def test_a_cache_file_changed_before_its_upload_fails_the_copy(registry, dev_version, monkeypatch):
    _with_bad_sinks(monkeypatch, "tampered")
    staging = registry.adapter("sp-staging")
    with pytest.raises(RegistryError, match="padding.bin changed between its download and its upload"):
        staging.copy_version(dev_version, "staging.ml.tampered", {"lakegate.idempotency_key": "tampered"})
    assert staging.find_version_by_tag("staging.ml.tampered", "lakegate.idempotency_key", "tampered") is None


def test_delete_version_needs_the_right_and_then_the_version_is_gone(registry, dev_version):
    staging, prod = registry.adapter("sp-staging"), registry.adapter("sp-prod")
    copied = staging.copy_version(dev_version, "staging.ml.deleted", {})
    with pytest.raises(PermissionRefused) as refused:
        prod.delete_version("staging.ml.deleted", copied.version)
    assert str(refused.value) == f"principal sp-prod may not delete version {copied.version} on staging.ml.deleted"
    staging.delete_version("staging.ml.deleted", copied.version)
    assert staging.copy_cache.get("staging.ml.deleted", copied.version) is None
    for gone in (lambda: staging.get_version("staging.ml.deleted", copied.version),
                 lambda: staging.delete_version("staging.ml.deleted", copied.version),
                 lambda: staging.delete_version("staging.ml.never-registered", "1")):
        with pytest.raises(NotFound):
            gone()
    assert staging.list_versions("staging.ml.deleted") == []


def test_folders_left_by_killed_processes_are_swept_and_live_ones_kept(tmp_path):
    from lakegate.promotion.local.transfer import private_tmp

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = tmp_path / f"{private_tmp.COPIES}{int(finished.stdout)}-abc"
    live = tmp_path / f"{private_tmp.MODEL}{os.getpid()}-def"
    unrelated = tmp_path / "lakegate-copies-notapid"
    for folder in (dead, live, unrelated):
        (folder / "data").mkdir(parents=True)
    assert private_tmp.sweep_orphans(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and unrelated.exists()


# -- figures -----------------------------------------------------------------------------------------


def test_down_stops_the_server_and_is_idempotent(registry):
    """Stops the module's server, then starts it again: no other test depends on running before this one."""
    pid = registry.status().pid
    try:
        stopped = registry.down()
        assert stopped.state == "stopped" and stopped.stopped
        assert registry.status().state == "stopped"
        assert not process.is_alive(pid)
        assert registry.down().stopped is False
    finally:
        registry.up(example_plan())
    assert registry.status().state == "running"
