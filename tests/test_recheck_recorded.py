"""A recheck (rollback, `audit verify`) judges a champion's metric thresholds on the figure the target computed when
it promoted those very files (the promote entry records it and the files' digest), without loading the model again;
against the bounds the definitions hold now; and computes the figure again when the entry lacks that record."""

from __future__ import annotations

import shutil

from lakegate.infra.loader import load_environments
from lakegate.promotion.audit import AuditLog
from lakegate.promotion.audit_check import cross_check
from lakegate.promotion.promote import copy_digest
from lakegate.promotion.recheck import recheck
from lakegate.promotion.rollback import rollback

from .helpers import edit
from .test_promotion import world  # noqa: F401 -- the module's real registry, trained models and definitions


class Counting:
    """An adapter that counts the models it loads (everything else goes to the real one)."""

    def __init__(self, inner):
        self.inner, self.loads = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def load_pyfunc(self, name, version):
        self.loads += 1
        return self.inner.load_pyfunc(name, version)


def test_a_recheck_takes_the_recorded_figure_of_the_same_files_and_the_bounds_of_today(world, tmp_path):  # noqa: F811
    first, second = world.train("rechecked", seed=7), world.train("rechecked", seed=8)
    for trained, champion in ((first, "1"), (second, "2")):
        assert world.promote("rechecked", "staging", tmp_path, version=trained.version).champion == champion
    full = "staging.ml.rechecked"
    staging = world.adapter("staging")
    entries = AuditLog(tmp_path, "staging").entries()
    # Each promote entry records the digest of the files its gates judged: the copy's own.
    assert [e["details"]["judged_sha256"] for e in entries] == [copy_digest(staging, full, v) for v in ("1", "2")]

    adapters: dict[str, Counting] = {}

    def counting(env):
        return adapters.setdefault(env, Counting(world.adapter(env)))

    verified = cross_check(world.envs, tmp_path, counting)
    assert verified.ok, verified.problems
    assert f"{full}: champion v2 rechecked" in verified.notes["staging"]
    assert adapters["staging"].loads == 0  # the figure came from the anchored entry: no model loaded

    # Stricter bounds in the definitions: the recorded figure fails them, and says where it comes from.
    stricter = tmp_path / "stricter"
    shutil.copytree(world.env_dir, stricter)
    edit(stricter / "staging.yaml", "{type: metric_threshold, metric: accuracy, min: 0.80}",
         "{type: metric_threshold, metric: accuracy, min: 0.9999}")
    refused = cross_check(load_environments(stricter), tmp_path, counting)
    [problem] = refused.problems
    assert "metric_threshold:accuracy fails now: accuracy 0.9" in str(problem)
    assert f"is below the minimum 0.9999 (computed by sp-lakegate-staging on staging.features.churn_validation@v0 " \
           f"(2000 rows) when these files (sha256 {entries[1]['details']['judged_sha256'][:12]}…) were promoted: audit " \
           f"seq {entries[1]['seq']})" in str(problem)

    # An entry without the record (older than the field): the figure is computed again, loading the model.
    version = staging.get_version(full, "2")
    older = [{**e, "details": {k: v for k, v in e["details"].items() if k != "judged_sha256"}} for e in entries]
    assert recheck(world.envs, world.envs["staging"], adapters["staging"], version, older) == []
    assert adapters["staging"].loads == 1

    # Rollback to v1 rechecks it from its record as well.
    back = rollback(world.envs, "rechecked", "staging", adapter_factory=counting, audit_dir=tmp_path)
    assert (back.from_version, back.to_version) == ("2", "1") and adapters["staging"].loads == 1
