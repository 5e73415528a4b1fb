"""Registry tags: the one place that names the aliases and tag keys lakegate puts on models and versions;
every other module asks here, none spells them itself.

Each environment has its own catalog, so the role aliases are the same word in every environment
(`staging.ml.churn@champion` and `prod.ml.churn@champion`); what an alias *means* is decided here too:
`champion` is what serving uses, `challenger` is the version under evaluation by the gates.

Tag keys use only `[A-Za-z0-9_.-]` so they are valid in MLflow and in Unity Catalog alike.
"""

from __future__ import annotations

import hashlib
import re

# Roles -> aliases.
CHAMPION = "champion"
CHALLENGER = "challenger"
ROLES = {"champion": CHAMPION, "challenger": CHALLENGER}

# Lineage a code-built model carries from training (set by examples/train.py, required by promotion).
GIT_COMMIT = "git_commit"
GIT_REPOSITORY = "git_repository"
TRAINING_RUN = "training_run"
LINEAGE_TAGS = (GIT_COMMIT, GIT_REPOSITORY, TRAINING_RUN)
# Who wrote the commit (`git log -1 --format=%ae`): a claim of the training principal, which four eyes
# checks against git itself when the repository is at hand (promotion/approval.py).
GIT_AUTHOR = "git_author"
# Whether the code that ran is the commit's (pipelines/lineage.py writes them; the lineage gate judges them):
# "true"/"false" (or "unknown" without a checkout), the digest of the uncommitted difference when dirty, the
# training code's path in the repository, the sha256 of the file that ran, and whether the commit holds it.
GIT_DIRTY = "git_dirty"
GIT_DIFF_SHA256 = "git_diff_sha256"
GIT_ENTRY_POINT = "git_entry_point"
GIT_ENTRY_POINT_SHA256 = "git_entry_point_sha256"
GIT_ENTRY_POINT_IN_COMMIT = "git_entry_point_in_commit"
CODE_LINEAGE_TAGS = (GIT_COMMIT, GIT_DIRTY, GIT_ENTRY_POINT, GIT_ENTRY_POINT_SHA256, GIT_ENTRY_POINT_IN_COMMIT)

# Lineage promotion adds to the copy.
PROMOTED_FROM = "promoted_from"          # the source model's full name, e.g. dev.ml.churn
SOURCE_VERSION = "source_version"        # the source version number
PROMOTED_BY = "lakegate.promoted_by"     # the principal that made the copy
PROMOTER = "lakegate.promoter"           # the person or CI actor who ran that promotion (four eyes)

# Promotion bookkeeping.
IDEMPOTENCY_KEY = "lakegate.idempotency_key"
GATE_PREFIX = "lakegate.gate."           # one tag per gate: "passed: ..." / "failed: ..."
GATES_SUMMARY = "lakegate.gates"         # "passed" or "failed: id1, id2"
GATES_AT = "lakegate.gates_at"           # when the gates last ran (UTC ISO 8601)
# What the target computed on the version with its own data (the metric gates' figures): one tag per metric,
# plus `table` (`catalog.schema.table@v<delta version>`), `rows` and `by` (the principal that computed them).
EVAL_PREFIX = "lakegate.eval."

# Approval (promotion/approval.py writes them). The record is the signed approval (or the CI evidence),
# split over `lakegate.approval.1..n` (tag values are bounded) with the count in `lakegate.approval.n`;
# the gate verifies it. approved_by / approved_at only display it: no tag is ever an approval by itself.
APPROVAL_RECORD = "lakegate.approval"
APPROVED_BY = "lakegate.approved_by"
APPROVED_AT = "lakegate.approved_at"

# Rollback (promotion/rollback.py): the version champion moved away from carries `<when> by <actor> (audit seq N)`.
# A convenience for people: the rollback audit entry (matched by artifact digest) is what holds it back.
ROLLED_BACK = "lakegate.rolled_back"

# The audit anchor: `<seq>:<hash>` of the newest audit entry touching the model, a tag on the
# registered model written by the environment's principal after each append (promotion/anchor.py).
AUDIT_ANCHOR = "lakegate.audit_head"

# Registry tag values are bounded (Unity Catalog is the strictest); results are shortened to fit.
MAX_TAG_VALUE = 250

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def alias_for(role: str) -> str:
    """The alias of a role (`champion`, `challenger`); unknown roles are a programming error."""
    return ROLES[role]


def gate_tag(gate_id: str) -> str:
    """`metric_threshold:accuracy` -> `lakegate.gate.metric_threshold.accuracy`."""
    return GATE_PREFIX + _UNSAFE.sub(".", gate_id)


def idempotency_key(source_name: str, source_version: str, target_name: str) -> str:
    """The same promotion (source model + version -> target) always has the same key."""
    text = f"{source_name}\n{source_version}\n{target_name}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def fit_tag_value(text: str) -> str:
    return text if len(text) <= MAX_TAG_VALUE else text[: MAX_TAG_VALUE - 1] + "…"


def lineage_of(tags: dict[str, str]) -> dict[str, str]:
    """The lineage tags a version carries (training and promotion), for status and audit."""
    keys = LINEAGE_TAGS + (GIT_DIRTY, GIT_ENTRY_POINT, GIT_ENTRY_POINT_IN_COMMIT, PROMOTED_FROM, SOURCE_VERSION)
    return {key: tags[key] for key in keys if tags.get(key)}
