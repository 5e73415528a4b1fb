"""`docs`: regenerate or check the generated parts of README.md and RULES.md (`--json`: which are current or stale)."""

from __future__ import annotations

from pathlib import Path

from lakegate.reports.reference import rules_reference, with_reference

from . import exit_codes, output

ROOT = Path(__file__).resolve().parent.parent
# What each generated file holds, and where it comes from (the --json report names both).
GENERATED = {"README.md": "the environment field reference between its BEGIN/END FIELD REFERENCE markers "
                          "(from the model, infra/model/)",
             "RULES.md": "the whole file (from the default guardrail pack, infra/guardrails/packs.py)"}


def generated_docs(root: Path = ROOT) -> dict[Path, str]:
    """File -> what `docs` writes there (a project without a README gets only RULES.md)."""
    readme = root / "README.md"
    readme_text = {readme: with_reference(readme.read_text())} if root == ROOT or readme.is_file() else {}
    return {**readme_text, root / "RULES.md": rules_reference()}


def doc_status(generated: dict[Path, str]) -> list[dict]:
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
        rows.append({"path": path.name, "status": status, "lines_differing": differing,
                     "generated": GENERATED.get(path.name, ""), "fix": None if status == "current" else "python main.py docs"})
    return rows


def cmd_docs(args) -> int:
    generated = generated_docs()
    rows = doc_status(generated)
    stale = [row for row in rows if row["status"] != "current"]
    if args.check:
        if getattr(args, "json", False):
            output.emit_json({"ok": not stale, "checked": True, "files": rows})
        else:
            for row in stale:
                output.fail(f"{row['path']} is out of date: run `python main.py docs`")
        return exit_codes.STALE_DOCS if stale else exit_codes.OK
    for path, text in generated.items():
        path.write_text(text)
    if getattr(args, "json", False):
        output.emit_json({"ok": True, "checked": False,
                          "files": [{**row, "status": "regenerated" if row["status"] != "current" else "current",
                                     "fix": None} for row in rows]})
    else:
        output.console.print(f"regenerated: {', '.join(r['path'] for r in stale) or 'nothing (already current)'}")
    return exit_codes.OK
