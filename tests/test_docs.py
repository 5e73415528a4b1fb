"""Generated documentation stays current: the README field reference and RULES.md."""

from __future__ import annotations

from lakegate.cli.docs_commands import generated_docs
from lakegate.reports.reference import BEGIN, END, field_rows, with_reference
from lakegate.infra.model import Environment


def test_generated_docs_are_current():
    stale = [path.name for path, text in generated_docs().items() if path.read_text() != text]
    assert stale == [], f"run `python main.py docs` to regenerate {stale}"


def test_reference_covers_every_field_with_a_description():
    rows = field_rows(Environment)
    paths = {row[0] for row in rows}
    assert {"name", "workspace.sku", "grants[].privileges", "promotion.from", "waivers[].reason"} <= paths
    undocumented = [row[0] for row in rows if not row[3]]
    assert undocumented == []


def test_markers_are_replaced_in_place():
    text = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    result = with_reference(text)
    assert result.startswith("intro\n" + BEGIN) and result.endswith(END + "\noutro\n") and "\nold\n" not in result
