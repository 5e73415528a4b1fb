"""Fuzzing what parses untrusted input (issue 16, item 7): the environment loader and the signed approval
statement. Each property: the input is refused with its own error (a located DefinitionError; InvalidRequest or
ApprovalMissing), or accepted and inert; never another exception, never a traceback's worth of surprise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakegate.infra.errors import DefinitionError
from lakegate.infra.loader import load_environments
from lakegate.promotion.approval import parse_statement, statement
from lakegate.promotion.errors import ApprovalMissing, InvalidRequest

from .helpers import EXAMPLES

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])
# What a person (or an attacker with write access to a branch) may put where a value belongs.
HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["${{ github.event.pull_request.title }}", "$(System.AccessToken)", "../../etc/passwd", "*",
                     "'", '"', "\u202e", "\x00", "- a\n- b", "{a: [", "&a [*a, *a]", "!!python/object:os.system",
                     "9" * 400, "null", "~", "yes", "0x1f", "1e999", ".nan", "2026-13-45"]),
)


def _mutated(tmp_path: Path, line: int, replacement: str, mode: str) -> Path:
    folder = tmp_path / "environments"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLES, folder)
    path = folder / "staging.yaml"
    lines = path.read_text().splitlines(keepends=True)
    index = line % len(lines)
    original = lines[index]
    if mode == "value" and ":" in original:
        key, _, _ = original.partition(":")
        lines[index] = f"{key}: {json.dumps(replacement) if replacement.startswith(('{', '[')) else replacement}\n"
    elif mode == "raw":
        lines[index] = replacement + "\n"
    elif mode == "delete":
        del lines[index]
    else:  # duplicate the line (a duplicated key, or a second list item)
        lines.insert(index, original)
    path.write_text("".join(lines))
    return folder


@BOUNDED
@given(line=st.integers(min_value=0, max_value=10_000), replacement=HOSTILE,
       mode=st.sampled_from(["value", "raw", "delete", "duplicate"]))
def test_the_loader_refuses_with_located_problems_or_accepts(tmp_path, line, replacement, mode):
    folder = _mutated(tmp_path, line, replacement, mode)
    try:
        envs = load_environments(folder)
    except DefinitionError as refused:
        assert refused.problems
        for problem in refused.problems:
            assert problem.file.endswith(".yaml") and problem.line >= 0 and problem.message
            assert "Traceback" not in problem.message and "bug in lakegate" not in problem.message
        return
    assert "staging" in envs  # accepted: still the environment it was, every value validated


STATEMENT = statement("prod", "prod.ml.churn", "3", "ab" * 32, "head.of.ml@contoso.com", "2026-12-01T09:30:00Z")


@BOUNDED
@given(raw=st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(["lakegate_approval", "env", "model", "version", "artifacts_sha256", "approver",
                                     "approved_at", "extra"]), HOSTILE | st.integers(), max_size=8)
    .map(lambda d: json.dumps(d).encode()),
    st.tuples(st.sampled_from(["env", "model", "version", "approver", "approved_at"]), HOSTILE).map(
        lambda change: json.dumps({**json.loads(STATEMENT), change[0]: change[1]}).encode()),
))
def test_the_approval_statement_parser_refuses_or_returns_the_canonical_statement(raw):
    try:
        data = parse_statement(raw)
    except (InvalidRequest, ApprovalMissing) as refused:
        assert str(refused) and len(str(refused)) < 400
        return
    # accepted: exactly the canonical form of what it says
    assert statement(data["env"], data["model"], str(data["version"]), data["artifacts_sha256"], data["approver"],
                     data["approved_at"]) == raw


def test_the_canonical_statement_is_accepted():
    assert parse_statement(STATEMENT)["approver"] == "head.of.ml@contoso.com"
