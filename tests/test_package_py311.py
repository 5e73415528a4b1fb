"""The wheel, installed into a fresh Python 3.11 virtualenv, makes a project of its own that checks and tests itself
(the whole walk from the wheel, registry included, runs on 3.13: tests/test_package_py313.py)."""

import sys
from pathlib import Path

import pytest

from .package_walk import fresh_venv, shared_wheel, top_level_names, walk, where_lakegate_came_from


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return shared_wheel(tmp_path_factory)


def test_the_wheel_installs_one_top_level_package_with_its_data(wheel):
    names = top_level_names(wheel)
    assert {n for n in names if not n.endswith(".dist-info")} == {"lakegate"}
    import zipfile

    listed = set(zipfile.ZipFile(wheel).namelist())
    for inside in ("lakegate/reports/templates/site.html.j2", "lakegate/reports/static/report.js",
                   "lakegate/templates/project/Makefile", "lakegate/example_project/environments/dev.yaml",
                   "lakegate/example_project/models/churn.py", "lakegate/pipelines/training/train.py"):
        assert inside in listed, inside
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in listed if n.endswith("entry_points.txt"))).decode()
    assert "lakegate = lakegate.cli.app:run" in entry_points
    assert "lakegate.promotion.local.uc_uri:registry_store" in entry_points


def test_a_fresh_virtualenv_inits_a_project_that_checks_and_tests_itself(wheel, tmp_path):
    bin_dir = fresh_venv(sys.executable, sys.executable, wheel, tmp_path / "venv")
    assert where_lakegate_came_from(bin_dir).startswith(str(tmp_path / "venv"))  # the wheel's, not this checkout
    results = walk(bin_dir, tmp_path, whole=False)
    project = tmp_path / "acme-ml"
    (site,) = (tmp_path / "venv" / "lib").glob("python3.*/site-packages")
    assert not {"infra", "cli", "ci", "pipelines", "promotion", "reports"} & {p.name for p in site.iterdir()}
    assert "acme/acme-ml" in (project / "environments" / "dev.yaml").read_text()
    assert (project / "pipelines" / "training" / "train.py").is_file()  # a launcher generated from package data
    assert "2 passed" in results["project test"].stdout
