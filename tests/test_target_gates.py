"""Gates that evaluate in the target, against the REAL local registry (one server, shared with test_lifecycle.py): the figures
are computed by the target, as its principal, on its own validation table, and recorded on the version; the
source's logged metric is shown beside them and never decides. The forged-metric case of the issue ends with the
poor model refused. And a promoted copy is self-contained: nothing in it points into the source, its input example
loads as the target's principal, and Unity Catalog's `models:/catalog.schema.model@alias` loads locally."""

from __future__ import annotations

import shutil

import pytest

from lakegate.pipelines.mlflow_login import acting_as
from lakegate.pipelines.training.train import train_and_register
from lakegate.promotion import registry_tags
from lakegate.promotion.local import secret_file
from lakegate.promotion.promote import promote

from .lifecycle_world import shared_world
from .local_registry_fixtures import write_validation_tables


@pytest.fixture(scope="module")
def world(request, tmp_path_factory):
    """The session's lifecycle registry (tests/lifecycle_world.py); these tests use its models forged, closed, copied."""
    shared = shared_world(request, tmp_path_factory)
    return shared.envs, shared.registry, tmp_path_factory.mktemp("audit")


def train(world, model: str, quality: str = "good", seed: int = 7):
    envs, registry, _ = world
    principal = envs["dev"].service_principal
    return train_and_register(registry.url, principal, secret_file.user_password(registry.state_dir, principal),
                              f"dev.ml.{model}", quality=quality, seed=seed, epochs=5)


def to_staging(world, model: str, version: str):
    envs, registry, audit = world
    return promote(envs, model, "staging", version=version, audit_dir=audit,
                   adapter_factory=lambda env: registry.adapter(envs[env].service_principal))


def test_a_poor_model_whose_logged_accuracy_dev_forged_is_refused_and_a_genuine_one_is_not_blocked(world):
    envs, registry, _ = world
    poor = train(world, "forged", quality="poor")
    assert poor.metrics["accuracy"] < 0.7
    # dev's principal owns its runs: it can raise the figure after registering (what the issue saw).
    principal = envs["dev"].service_principal
    with acting_as(registry.url, principal, secret_file.user_password(registry.state_dir, principal), "dev"):
        from mlflow.tracking import MlflowClient

        MlflowClient().log_metric(poor.run_id, "accuracy", 0.97)
    dev = registry.adapter(principal)
    assert dev.model_info("dev.ml.forged", poor.version)["metrics"]["accuracy"] == 0.97

    refused = to_staging(world, "forged", poor.version)
    assert refused.outcome == "gate_failed" and refused.champion is None
    failed = {g.gate_id: g for g in refused.failed_gates}
    assert set(failed) == {"metric_threshold:accuracy"}  # no champion yet: no_regression has nothing to compare
    threshold = failed["metric_threshold:accuracy"]
    assert threshold.details["value"] < 0.7 and threshold.details["claimed"] == 0.97
    assert threshold.details["computed_by"] == "sp-lakegate-staging"
    assert threshold.details["table"] == "staging.features.churn_validation"
    assert "the training run claims 0.97" in threshold.message
    copy = registry.adapter("sp-lakegate-staging").get_version("staging.ml.forged", refused.version)
    assert float(copy.tags[registry_tags.EVAL_PREFIX + "accuracy"]) < 0.7       # the target's figure, on the version
    assert copy.tags[registry_tags.EVAL_PREFIX + "by"] == "sp-lakegate-staging" and "champion" not in copy.aliases

    genuine = train(world, "forged", seed=13)
    passed = to_staging(world, "forged", genuine.version)
    assert passed.outcome == "champion", [g.message for g in passed.failed_gates]
    assert [g.gate_id for g in passed.gates if g.passed][-2:] == ["smoke_inference", "serving_smoke"]


def test_without_the_targets_validation_table_the_metric_gates_fail_closed(world):
    envs, registry, _ = world
    table = registry.state_dir / "lakehouse" / "staging" / "features" / "churn_validation"
    shutil.rmtree(table)
    try:
        result = to_staging(world, "closed", train(world, "closed").version)
    finally:
        write_validation_tables(registry.state_dir, ["staging"])
    assert result.outcome == "gate_failed"
    assert {g.gate_id for g in result.failed_gates} == {"metric_threshold:accuracy", "no_regression:accuracy"}
    assert all(g.message.startswith("staging has no validation table staging.features.churn_validation: run staging's "
                                    "feature-refresh job") for g in result.failed_gates)


def test_a_promoted_copy_is_self_contained_and_loads_by_its_unity_catalog_name(world, monkeypatch):
    envs, registry, _ = world
    trained = train(world, "copied")
    result = to_staging(world, "copied", trained.version)
    assert result.outcome == "champion"
    staging = registry.adapter("sp-lakegate-staging")
    copy = staging.get_version("staging.ml.copied", result.version)
    source = registry.adapter("sp-lakegate-dev").get_version("dev.ml.copied", trained.version)
    files = sorted((registry.state_dir / "artifacts" / copy.source.split(":/", 1)[1]).rglob("*"))
    for path in (p for p in files if p.is_file()):
        content = path.read_bytes()
        assert source.run_id.encode() not in content and b"workspaces/dev" not in content, path.name
    assert staging.content_digest("staging.ml.copied", copy.version) == staging.content_digest("dev.ml.copied", source.version)

    import mlflow.pyfunc
    from mlflow.models import Model

    from lakegate.promotion.local import uc_uri

    uc_uri.register()  # what the project's entry points do in an installed virtualenv
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "sp-lakegate-staging")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", secret_file.user_password(registry.state_dir, "sp-lakegate-staging"))
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "lakegate://" + registry.url.split("://", 1)[1])
    for name in ("MLFLOW_WORKSPACE", "MLFLOW_TRACKING_AUTH"):
        monkeypatch.delenv(name, raising=False)
    model = mlflow.pyfunc.load_model("models:/staging.ml.copied@champion")   # the UC spelling, no workspace variable
    assert model.metadata.run_id == copy.run_id
    with pytest.raises(Exception, match="403|Permission denied|PERMISSION_DENIED"):
        mlflow.pyfunc.load_model("models:/prod.ml.copied/1")                 # staging's principal, prod's model
    monkeypatch.setenv("MLFLOW_WORKSPACE", "staging")                         # for run-relative references
    example = Model.load("models:/staging.ml.copied/1").load_input_example()  # a 403 before: it pointed into dev
    assert list(example.columns) == list(model.metadata.get_input_schema().input_names())
