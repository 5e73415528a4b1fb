"""The cheap requirements check that replaces MLflow's own when lakegate loads a model (promotion/model_requirements.py):
a pin this environment does not match, or another Python, is named; matching pins and unpinned lines are not."""

from __future__ import annotations

import platform
from importlib import metadata

from lakegate.promotion.model_requirements import requirement_mismatches


def test_pins_and_python_version_are_compared_with_this_environment(tmp_path):
    yaml_version = metadata.version("pyyaml")
    (tmp_path / "requirements.txt").write_text(f"pyyaml=={yaml_version}\nscikit-learn==0.0.1\nnot-installed-pkg==1.0\n"
                                               "requests>=2\n# a comment\n")
    major, minor = platform.python_version_tuple()[:2]
    (tmp_path / "MLmodel").write_text(f"flavors:\n  python_function:\n    python_version: {major}.{int(minor) + 1}.0\n")
    found = requirement_mismatches(tmp_path)
    assert found == [
        f"the model at {tmp_path} was saved with scikit-learn==0.0.1; this environment has scikit-learn "
        f"{metadata.version('scikit-learn')}",
        f"the model at {tmp_path} was saved with not-installed-pkg==1.0; this environment has not-installed-pkg "
        "(not installed)",
        f"the model at {tmp_path} was saved with Python {major}.{int(minor) + 1}; this is Python {major}.{minor}"]


def test_a_model_saved_here_raises_no_warning_and_missing_files_are_not_an_error(tmp_path):
    major, minor, patch = platform.python_version_tuple()
    (tmp_path / "requirements.txt").write_text(f"scikit-learn=={metadata.version('scikit-learn')}\n")
    (tmp_path / "MLmodel").write_text(f"flavors:\n  python_function:\n    python_version: {major}.{minor}.{patch}\n")
    assert requirement_mismatches(tmp_path) == []
    assert requirement_mismatches(tmp_path / "absent") == []
