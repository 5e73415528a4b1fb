"""The wheel, installed into a fresh Python 3.13 virtualenv, makes and drives a project of its own: init, check,
synth, a local promotion walk and the project's test (the whole suite runs on 3.11; `make test` installs the 3.13
dependencies into .venv-313 and names its interpreter in LAKEGATE_PY313)."""

import os
import subprocess
from pathlib import Path

import pytest

from .package_walk import fresh_venv, shared_wheel, walk, where_lakegate_came_from


@pytest.fixture(scope="module")
def python313() -> str:
    python = os.environ.get("LAKEGATE_PY313") or str(Path(__file__).resolve().parent.parent / ".venv-313" / "bin" / "python")
    assert Path(python).is_file(), f"no Python 3.13 environment at {python}: `make test` installs it (.venv-313)"
    return python


def test_the_313_environment_is_python_313(python313):
    found = subprocess.run([python313, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                           text=True, check=True).stdout.strip()
    assert found == "(3, 13)"


def test_a_fresh_313_virtualenv_inits_checks_synthesizes_and_promotes(python313, tmp_path, tmp_path_factory):
    wheel = shared_wheel(tmp_path_factory)
    base = subprocess.run([python313, "-c", "import sys; print(sys._base_executable)"], capture_output=True, text=True,
                          check=True).stdout.strip()
    bin_dir = fresh_venv(base, python313, wheel, tmp_path / "venv")
    assert where_lakegate_came_from(bin_dir).startswith(str(tmp_path / "venv"))
    results = walk(bin_dir, tmp_path)
    assert results["promoted"]["outcome"] == "champion"
    assert (tmp_path / "acme-ml" / "cdktf.out" / "stacks" / "staging-databricks" / "cdk.tf.json").is_file()
    assert "2 passed" in results["project test"].stdout
    (site,) = (tmp_path / "venv" / "lib").glob("python3.*/site-packages")
    assert not {"infra", "cli", "ci", "pipelines", "promotion", "reports"} & {p.name for p in site.iterdir()}
