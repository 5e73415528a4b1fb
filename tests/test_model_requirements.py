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


def test_saving_checks_pins_by_version_and_puts_the_original_check_back():
    import logging

    import mlflow.pyfunc
    import mlflow.utils.environment

    from lakegate.promotion.model_requirements import pins_checked_by_version

    class Kept(logging.Handler):
        records: list = []

        def emit(self, record):
            self.records.append(record)

    kept, logger = Kept(level=logging.WARNING), logging.getLogger("mlflow")  # MLflow's logger does not propagate
    originals = (mlflow.utils.environment.warn_dependency_requirement_mismatches,
                 mlflow.pyfunc.warn_dependency_requirement_mismatches)
    logger.addHandler(kept)
    try:
        with pins_checked_by_version():
            for check in (mlflow.utils.environment.warn_dependency_requirement_mismatches,
                          mlflow.pyfunc.warn_dependency_requirement_mismatches):
                check([f"scikit-learn=={metadata.version('scikit-learn')}", "scikit-learn==0.0.1", "requests>=2"])
    finally:
        logger.removeHandler(kept)
    assert [r.getMessage() for r in kept.records] == [
        f"the model's requirement scikit-learn==0.0.1 is not what this environment has "
        f"({metadata.version('scikit-learn')})"] * 2
    assert (mlflow.utils.environment.warn_dependency_requirement_mismatches,
            mlflow.pyfunc.warn_dependency_requirement_mismatches) == originals


def test_a_trained_estimator_is_saved_with_skops_and_pins_it(tmp_path, monkeypatch):
    """Serving and batch scoring install the model's requirements.txt: skops must be there to load the safe format
    (on a Databricks tracking URI MLflow would default to cloudpickle: the format is named explicitly)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from lakegate.pipelines.training.train import _log_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "runs").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a folder is enough to read back what was saved
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(frame, [0, 1, 0, 1])
    experiment = mlflow.MlflowClient().create_experiment("saved")  # not the worker's active one (another store's)
    with mlflow.start_run(experiment_id=experiment):
        logged = _log_model(model, infer_signature(frame, model.predict(frame)), frame.head(2), None)
    local = tmp_path / "model"
    mlflow.artifacts.download_artifacts(logged.model_uri, dst_path=str(local))
    pins = (local / "requirements.txt").read_text().split()
    assert f"skops=={metadata.version('skops')}" in pins
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in pins
    assert "serialization_format: skops" in (local / "MLmodel").read_text()
    assert requirement_mismatches(local) == []
