"""LG-COMPUTE-002: a cluster policy's Databricks runtime runs the Spark major the tests here run (pyspark's pin).

The examples pass; an older runtime (Spark 3), a runtime key that does not parse, an unknown major and a Scala
the runtime does not ship each fail with their own finding (the exact set of ids, checkov-style); the tested
major is read from lakegate's pyspark pin, and no pin fails closed."""

from __future__ import annotations

import importlib.metadata
import tomllib

import pytest

from lakegate.infra import versions
from lakegate.infra.guardrails import rules_databricks
from lakegate.infra.guardrails.runner import check_environments
from lakegate.infra.guardrails.runtimes import KNOWN_RUNTIMES, parse_runtime, spark_major, spark_of

from .helpers import EXAMPLES, variant

ROOT = EXAMPLES.parents[2]


def fired(report) -> set[str]:
    return {f.tag for f in report.findings if f.status != "waived"}


def with_runtime(envs, name: str, runtime: str):
    compute = envs[name].compute.model_dump()
    compute["policies"][0]["spark_version"] = runtime
    return variant(envs, name, compute=compute)


def test_the_examples_declare_a_spark_4_lts_ml_runtime_and_pass(envs):
    runtimes = {p.spark_version for env in envs for p in env.compute.policies}
    assert runtimes == {"17.3.x-cpu-ml-scala2.13"}
    assert spark_of(parse_runtime("17.3.x-cpu-ml-scala2.13")) == "4.0"
    assert fired(check_environments(envs)) == set()


def test_the_tested_spark_is_the_pinned_pyspark_that_is_installed():
    """The rule's engine version comes from the pin in pyproject.toml, which is the pyspark the Spark tests run."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"pyspark=={versions.pinned_version('pyspark')}" in project["dependencies"]
    assert versions.pinned_version("pyspark") == importlib.metadata.version("pyspark")
    assert versions.lakegate_version() == project["version"]


CASES = [
    ("Spark 3 runtime", "dev", "15.4.x-cpu-ml-scala2.12",
     "LG-COMPUTE-002[policy=dev-small,runtime=15.4.x-cpu-ml-scala2.12 (Spark 3.5; lakegate tests Spark 4)]"),
    ("standard 16.4 on Scala 2.13", "prod", "16.4.x-scala2.13",
     "LG-COMPUTE-002[policy=prod-jobs,runtime=16.4.x-scala2.13 (Spark 3.5; lakegate tests Spark 4)]"),
    ("unknown major", "staging", "21.1.x-cpu-ml-scala2.13",
     "LG-COMPUTE-002[policy=staging-jobs,runtime=21.1.x-cpu-ml-scala2.13 (unknown runtime: major 21 with Scala 2.13 "
     "is not in lakegate's table of runtimes)]"),
    ("a Scala the runtime does not ship", "dev", "17.3.x-cpu-ml-scala2.12",
     "LG-COMPUTE-002[policy=dev-small,runtime=17.3.x-cpu-ml-scala2.12 (unknown runtime: major 17 with Scala 2.12 "
     "is not in lakegate's table of runtimes)]"),
    ("not a runtime key", "dev", "latest",
     "LG-COMPUTE-002[policy=dev-small,runtime=latest (not a runtime key like 17.3.x-cpu-ml-scala2.13)]"),
]


@pytest.mark.parametrize("name,runtime,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_runtime_off_the_tested_spark_fails(envs, name, runtime, expected):
    changed = with_runtime(envs, name, runtime)
    report = check_environments(changed)
    assert fired(report) == {expected}
    (finding,) = report.violations
    assert finding.field_path == "compute.policies[0].spark_version"
    assert finding.location == changed[name].locate("compute", "policies", 0, "spark_version")


@pytest.mark.parametrize("runtime", ["17.3.x-scala2.13", "17.3.x-gpu-ml-scala2.13", "17.3.x-photon-scala2.13",
                                     "18.0.x-cpu-ml-scala2.13"])
def test_other_spark_4_runtimes_pass(envs, runtime):
    assert fired(check_environments(with_runtime(envs, "dev", runtime))) == set()


def test_the_tested_major_follows_the_pin(envs, monkeypatch):
    """A pyspark pin on Spark 3 makes the Spark 4 examples fail; no pin at all fails closed, once per environment."""
    monkeypatch.setattr(rules_databricks, "pinned_version", lambda package: "3.5.3")
    assert fired(check_environments(envs)) == {
        f"LG-COMPUTE-002[policy={p.name},runtime=17.3.x-cpu-ml-scala2.13 (Spark 4.0; lakegate tests Spark 3)]"
        for env in envs for p in env.compute.policies}
    monkeypatch.setattr(rules_databricks, "pinned_version", lambda package: None)
    report = check_environments(envs)
    assert fired(report) == {"LG-COMPUTE-002[pyspark=unpinned (no exact pyspark pin in lakegate's dependencies)]"}
    assert {f.env for f in report.violations} == {env.name for env in envs}


def test_the_table_and_the_parser():
    assert parse_runtime("17.3.x-cpu-ml-scala2.13").variant == "cpu-ml"
    assert parse_runtime("15.4.x-scala2.12").variant == ""
    for key in ("", "17.3", "17.3.x", "17.3.x-cpu-ml", "x.3.x-scala2.13", "17.3.x-cpu-ml-scala2.13 extra"):
        assert parse_runtime(key) is None, key
    assert all(spark_major(spark) in (3, 4) for spark, _ in KNOWN_RUNTIMES.values())
    assert {major for major, (spark, _) in KNOWN_RUNTIMES.items() if spark.startswith("4.")} == {17, 18}
