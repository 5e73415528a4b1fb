"""`docs`: regenerate or check the generated parts of README.md and RULES.md."""

from __future__ import annotations

from pathlib import Path

from reports.reference import rules_reference, with_reference

from . import exit_codes, output

ROOT = Path(__file__).resolve().parent.parent


def generated_docs() -> dict[Path, str]:
    readme = ROOT / "README.md"
    return {readme: with_reference(readme.read_text()), ROOT / "RULES.md": rules_reference()}


def cmd_docs(args) -> int:
    stale = [path for path, text in generated_docs().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            output.fail(f"{path.name} is out of date: run `python main.py docs`")
        return exit_codes.STALE_DOCS if stale else exit_codes.OK
    for path, text in generated_docs().items():
        path.write_text(text)
    output.console.print(f"regenerated: {', '.join(p.name for p in stale) or 'nothing (already current)'}")
    return exit_codes.OK
