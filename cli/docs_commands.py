"""`docs`: regenerate or check the generated documentation (`--json`: which files are current or stale).

The documentation site (docs/, built by MkDocs) holds the references generated here: every environment field, every
guardrail rule, every command with its options, every exit code. RULES.md keeps the rules at the repository's top.
A project of its own (`--root` elsewhere) gets RULES.md and the field reference wherever its Markdown has the markers.
"""

from __future__ import annotations

from pathlib import Path

from lakegate.reports.reference import BEGIN, END, field_reference_page, rules_reference, with_reference

from . import exit_codes, output

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path("docs") / "reference"
# What each generated file holds, and where it comes from (the --json report names both).
GENERATED = {
    "RULES.md": "the whole file (from the default guardrail pack, infra/guardrails/packs.py)",
    f"{REFERENCE}/rules.md": "the whole page (from the default guardrail pack, infra/guardrails/packs.py)",
    f"{REFERENCE}/environment-fields.md": "the whole page (from the model, infra/model/)",
    f"{REFERENCE}/cli.md": "the whole page (from the command line's parser, cli/app.py)",
    f"{REFERENCE}/exit-codes.md": "the whole page (from cli/exit_codes.py)",
    "docs/index.md": "the whole page (the README, its links made the site's)",
}
MARKED = "the environment field reference between its BEGIN/END FIELD REFERENCE markers (from the model, infra/model/)"


def _pages(root: Path) -> dict[Path, str]:
    from .cli_reference import cli_reference, exit_codes_reference

    return {root / "RULES.md": rules_reference(), root / REFERENCE / "rules.md": rules_reference(),
            root / REFERENCE / "environment-fields.md": field_reference_page(),
            root / REFERENCE / "cli.md": cli_reference(), root / REFERENCE / "exit-codes.md": exit_codes_reference(),
            root / "docs" / "index.md": site_home(root)}


def site_home(root: Path) -> str:
    """The site's home page: the README (what lakegate is, the two commands, the first walk), links made relative."""
    readme = root / "README.md"
    text = readme.read_text() if readme.is_file() else "# lakegate\n"
    return text.replace("](docs/", "](")


def _marked(root: Path) -> list[Path]:
    """Markdown files of the project that carry the field reference markers (a project's README, say)."""
    candidates = [root / "README.md", *sorted((root / "docs").rglob("*.md"))] if root.is_dir() else []
    return [p for p in candidates if p.is_file() and not p.is_relative_to(root / REFERENCE)
            and BEGIN in (text := p.read_text()) and END in text]


def generated_docs(root: Path = ROOT) -> dict[Path, str]:
    """File -> what `docs` writes there. lakegate's own repository (or a project with docs/reference/) gets every
    reference page; any project gets RULES.md and its marked files."""
    pages = _pages(root)
    if root != ROOT and not (root / REFERENCE).is_dir():
        pages = {root / "RULES.md": pages[root / "RULES.md"]}
    return {**pages, **{path: with_reference(path.read_text()) for path in _marked(root)}}


def describe(path: Path, root: Path = ROOT) -> str:
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return GENERATED.get(name, MARKED)


def display(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def doc_status(generated: dict[Path, str], root: Path = ROOT) -> list[dict]:
    """One row per generated file: current | stale | missing, and how many lines differ."""
    rows = []
    for path, text in generated.items():
        present = path.read_text() if path.exists() else None
        if present is None:
            status, differing = "missing", len(text.splitlines())
        else:
            status = "current" if present == text else "stale"
            old, new = present.splitlines(), text.splitlines()
            differing = sum(1 for a, b in zip(old, new) if a != b) + abs(len(old) - len(new))
        rows.append({"path": display(path, root), "status": status, "lines_differing": differing,
                     "generated": describe(path, root), "fix": None if status == "current" else "lakegate docs"})
    return rows


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def cmd_docs(args) -> int:
    generated = generated_docs()
    rows = doc_status(generated)
    stale = [row for row in rows if row["status"] != "current"]
    if args.check:
        if getattr(args, "json", False):
            output.emit_json({"ok": not stale, "checked": True, "files": rows})
        else:
            for row in stale:
                output.fail(f"{row['path']} is {'missing' if row['status'] == 'missing' else 'out of date'}: "
                            "run `lakegate docs` (or `python main.py docs`)")
        return exit_codes.STALE_DOCS if stale else exit_codes.OK
    for path, text in generated.items():
        if not path.exists() or path.read_text() != text:
            write(path, text)
    if getattr(args, "json", False):
        output.emit_json({"ok": True, "checked": False,
                          "files": [{**row, "status": "regenerated" if row["status"] != "current" else "current",
                                     "fix": None} for row in rows]})
    else:
        output.console.print(f"regenerated: {', '.join(r['path'] for r in stale) or 'nothing (already current)'}")
    return exit_codes.OK
