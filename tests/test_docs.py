"""Generated documentation stays current and complete: the field reference, the rules (RULES.md and the site's page),
every command with every option, every exit code, and the site's home page (the README)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from lakegate.cli import exit_codes
from lakegate.cli.app import build_parser
from lakegate.cli.cli_reference import cli_reference, exit_codes_reference, walk
from lakegate.cli.docs_commands import generated_docs
from lakegate.infra.guardrails.packs import DEFAULT
from lakegate.infra.guardrails.runner import META_RULES
from lakegate.infra.model import Environment
from lakegate.reports.reference import BEGIN, END, field_reference_page, field_rows, with_reference

from .helpers import run_in_process

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"


def test_generated_docs_are_current():
    stale = [str(path.relative_to(ROOT)) for path, text in generated_docs().items()
             if not path.is_file() or path.read_text() != text]
    assert stale == [], f"run `python main.py docs` to regenerate {stale}"


def test_the_site_holds_every_generated_reference():
    assert {p.relative_to(ROOT).as_posix() for p in generated_docs()} == {
        "RULES.md", "docs/index.md", "docs/reference/rules.md", "docs/reference/environment-fields.md",
        "docs/reference/cli.md", "docs/reference/exit-codes.md"}


def test_reference_covers_every_field_with_a_description():
    rows = field_rows(Environment)
    paths = {row[0] for row in rows}
    assert {"name", "workspace.sku", "grants[].privileges", "promotion.from", "waivers[].reason"} <= paths
    undocumented = [row[0] for row in rows if not row[3]]
    assert undocumented == []
    page = field_reference_page()
    assert all(f"| `{path}` |" in page for path in paths)


def test_every_rule_is_on_the_rules_page():
    page = (REFERENCE / "rules.md").read_text()
    ids = [rule.id for rule in DEFAULT.rules] + list(META_RULES)
    assert ids and [i for i in ids if f"### {i}" not in page] == []


def _leaves(parser) -> dict[str, argparse.ArgumentParser]:
    return {" ".join(words): sub for words, _, sub in walk(parser)}


def test_every_command_and_every_option_is_in_the_command_reference():
    page = (REFERENCE / "cli.md").read_text()
    commands = _leaves(build_parser())
    assert {"synth", "promote", "approve", "approvers enrol", "ci render", "new environment", "docs"} <= set(commands)
    for name, parser in commands.items():
        section = page.split(f"## `lakegate {name}`\n", 1)
        assert len(section) == 2, f"`{name}` is not in docs/reference/cli.md"
        body = section[1].split("\n## ", 1)[0]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            shown = ", ".join(action.option_strings) or action.dest
            assert f"| `{shown}` |" in body, f"`{name}`: {shown} is not documented"


def test_a_new_option_makes_the_command_reference_stale():
    parser = build_parser()
    before = cli_reference(parser)
    enrol = _leaves(parser)["approvers enrol"]
    enrol.add_argument("--brand-new", help="an option nobody documented")
    after = cli_reference(parser)
    assert before != after and "| `--brand-new` |" in after and "| `--brand-new` |" not in before


def test_every_exit_code_is_on_its_page_with_its_meaning():
    page = (REFERENCE / "exit-codes.md").read_text()
    codes = {value for name, value in vars(exit_codes).items() if name.isupper() and isinstance(value, int)}
    assert codes == set(exit_codes.DESCRIPTIONS)
    for code, meaning in exit_codes.DESCRIPTIONS.items():
        assert re.search(rf"^\| {code} \| `\w+` \| ", page, re.M), code
        assert meaning.replace("|", "\\|") in page
    assert page == exit_codes_reference()


def test_markers_are_replaced_in_place():
    text = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    result = with_reference(text)
    assert result.startswith("intro\n" + BEGIN) and result.endswith(END + "\noutro\n") and "\nold\n" not in result


def test_docs_check_exits_10_naming_a_stale_page_and_docs_rewrites_it(tmp_path, monkeypatch):
    # A stale copy of the site (in a throwaway root): `docs --check` names it, `docs` writes it, then it is current.
    import lakegate.cli.docs_commands as docs

    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text())
    (tmp_path / "docs" / "reference").mkdir(parents=True)
    (tmp_path / "docs" / "reference" / "cli.md").write_text("# Command reference\n\nstale\n")
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    monkeypatch.setattr(docs, "generated_docs", lambda root=tmp_path, original=docs.generated_docs: original(root))
    stale = run_in_process("docs", "--check")
    assert stale.returncode == 10
    assert "docs/reference/cli.md is out of date" in stale.stderr and "docs/reference/exit-codes.md is missing" in \
        stale.stderr
    assert run_in_process("docs").returncode == 0
    assert run_in_process("docs", "--check").returncode == 0
    assert (tmp_path / "docs" / "reference" / "cli.md").read_text() == cli_reference()
    assert (tmp_path / "docs" / "index.md").read_text().startswith("# lakegate")
