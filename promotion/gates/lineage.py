"""lineage: the recorded commit holds the code that built the version, byte for byte, from a clean tree."""

from __future__ import annotations

from pathlib import Path

from lakegate.infra.model.promotion import LineageGate

from .. import registry_tags as tags_
from .base import GateContext, GateResult

TYPE = "lineage"
MESSAGE = ("the version was trained from a clean tree and its recorded commit holds the training entry point as it "
           "ran (verified against the local checkout where there is one)")
RATIONALE = ("A commit id only traces a model when that commit contains the code that built it. A model trained from "
             "uncommitted changes carries HEAD's id although no commit holds its code, so nobody can rebuild or "
             "review it. The tags are claims of the training principal: where a checkout of the repository is at "
             "hand (CI's, or the project's), the commit and the entry point's bytes are verified in git itself.")


def check(gate: LineageGate, ctx: GateContext) -> GateResult:
    from lakegate.pipelines import lineage

    tags = ctx.candidate.tags
    found = {key: str(tags.get(key, "")).strip() for key in tags_.CODE_LINEAGE_TAGS}
    commit, entry_point, digest = found[tags_.GIT_COMMIT], found[tags_.GIT_ENTRY_POINT], found[tags_.GIT_ENTRY_POINT_SHA256]
    details = {**found, "verified_in": None}
    missing = [key for key, value in found.items() if not value]
    if missing:
        return GateResult(gate.gate_id, False, f"missing lineage tag(s) {', '.join(missing)}: train the version again "
                          "with lakegate's training (it records them)", details)
    if found[tags_.GIT_DIRTY] != "false":
        diff = str(tags.get(tags_.GIT_DIFF_SHA256, ""))[:12]
        what = "with uncommitted changes" + (f" (diff sha256 {diff}…)" if diff else "") \
            if found[tags_.GIT_DIRTY] == "true" else f"from a tree whose state is {found[tags_.GIT_DIRTY]!r}"
        return GateResult(gate.gate_id, False, f"trained {what}: commit {commit[:12]} does not hold the code that "
                          "built it; commit, then train again", details)
    if found[tags_.GIT_ENTRY_POINT_IN_COMMIT] != "true":
        return GateResult(gate.gate_id, False, f"commit {commit[:12]} does not hold {entry_point} as it ran "
                          f"(sha256 {digest[:12]}…); commit, then train again", details)
    if not lineage.is_commit_id(commit):
        return GateResult(gate.gate_id, False, f"git_commit {commit[:40]!r} is not a commit id", details)
    try:
        lineage.check_entry_point(entry_point)
    except ValueError as error:
        return GateResult(gate.gate_id, False, str(error), details)
    root = lineage.repository_root()
    if not lineage.is_repository(root):
        return GateResult(gate.gate_id, True, f"commit {commit[:12]} holds {entry_point} (as the training recorded; "
                          f"no git checkout at {_shown(root)} to verify it)", details)
    if not lineage.commit_exists(root, commit):
        return GateResult(gate.gate_id, False, f"commit {commit[:12]} is not in the checkout at {_shown(root)} (a "
                          "commit of another repository, or a shallow checkout: fetch the full history)", details)
    actual = lineage.blob_sha256(root, commit, entry_point)
    if actual != digest:
        found_as = f"holds it as sha256 {actual[:12]}…" if actual else "does not hold it"
        return GateResult(gate.gate_id, False, f"the version claims {entry_point} sha256 {digest[:12]}… at commit "
                          f"{commit[:12]}, but that commit {found_as} (a forged lineage tag?)", details)
    details["verified_in"] = str(root)
    return GateResult(gate.gate_id, True, f"commit {commit[:12]} holds {entry_point} as it ran (verified in git)",
                      details)


def _shown(root: Path) -> str:
    return root.name or str(root)
