"""`generate`: everything derived from the environments and models (docs references and deploy commands, RULES.md,
CI pipelines, a project's launchers), written in one go or checked (`--check`, exit 10 naming what is stale).
Loaded when the command runs (the parser never imports it): it needs the whole command line for the CLI reference."""

from __future__ import annotations

import os
from pathlib import Path

from . import exit_codes, output
from .scaffold_commands import _load, project_root


def generated_files(envs, root: Path, environments: str) -> dict[Path, tuple[str, str]]:
    """Path -> (text, what it is) for everything derived from the environments and models."""
    from lakegate.infra.scaffold.deploy_block import has_block, with_deploy_commands
    from lakegate.pipelines.launch import launchers

    from .docs_commands import describe, generated_docs

    files = {path: (text, describe(path, root)) for path, text in generated_docs(root).items()}
    # The deploy commands, wherever a page has their markers (docs/first-deploy.md here; a project's README).
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text, what = files.get(path, (path.read_text() if path.is_file() else "", ""))
        if has_block(text):
            files[path] = (with_deploy_commands(text, envs),
                           (what + " and " if what else "") + "the deploy commands (from the environments)")
    if not (root / "pipelines" / "parameters.py").is_file():
        # A project of its own (`init`): the launchers its jobs run, in place of lakegate's task modules.
        files |= {root / name: (text, "a launcher the jobs run (lakegate's task module)")
                  for name, text in launchers().items()}
    return files | _ci_files(envs, root, environments)


def _ci_files(envs, root: Path, environments: str) -> dict[Path, tuple[str, str]]:
    from lakegate.ci.render import generated as ci_generated

    from .ci_commands import environments_argument

    relative = environments_argument(environments, root)
    return {root / name: (text, f"the {platform} CI pipeline (from the environments and models)")
            for platform in ("github", "azure-devops") for name, text in ci_generated(envs, platform, relative).items()}


def _write_launchers(root: Path) -> list[str]:
    """A project's launchers, written before the guardrails run: they derive from the installed lakegate alone, and
    LG-JOB-002 refuses a project whose jobs name a launcher it lacks (generate is what repairs that)."""
    from lakegate.pipelines.launch import launchers

    if (root / "pipelines" / "parameters.py").is_file():  # lakegate's own checkout: the task modules themselves
        return []
    written = []
    for name, text in launchers().items():
        path = root / name
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(name)
    return written


def cmd_generate(args) -> int:
    from lakegate.ci.render import PLATFORMS, stale, write

    from .ci_commands import guardrails_pass, environments_argument
    from .docs_commands import write as write_doc

    envs = _load(args)
    root = Path(args.root) if args.root else project_root(args.environments)
    if not root.is_dir():
        output.fail(f"--root {args.root} is not a folder")
        return exit_codes.INVALID_REQUEST
    launched = [] if args.check else _write_launchers(root)
    if not guardrails_pass(envs, args.json):
        return exit_codes.GUARDRAIL_VIOLATION
    files = generated_files(envs, root, args.environments)
    docs = {path: text for path, (text, _) in files.items() if path.suffix in (".md", ".py")}
    stale_docs = [path for path, text in docs.items() if not path.is_file() or path.read_text() != text]
    relative = environments_argument(args.environments, root)
    stale_ci = stale(envs, root, PLATFORMS, relative)
    names = [os.path.relpath(p, root) for p in stale_docs] + stale_ci
    if args.check:
        if args.json:
            output.emit_json({"ok": not names, "checked": True, "stale": names})
        for name in names:
            what = files.get(root / name, ("", "no longer generated: remove it"))[1]
            output.fail(f"{name} is out of date ({what}): run `python main.py generate`")
        if not names and not args.json:
            output.console.print(f"generated files current ({len(files)})")
        return exit_codes.STALE_DOCS if names else exit_codes.OK
    for path in stale_docs:
        write_doc(path, docs[path])
    outcome = write(envs, root, PLATFORMS, relative)
    changed = launched + [os.path.relpath(p, root) for p in stale_docs] + outcome.written
    if args.json:
        output.emit_json({"ok": True, "checked": False, "written": changed, "removed": outcome.removed})
        return exit_codes.OK
    for name in changed:
        output.console.print(f"wrote {name}")
    for name in outcome.removed:
        output.console.print(f"removed {name} (no longer generated)")
    if not changed and not outcome.removed:
        output.console.print(f"nothing to change ({len(files)} file(s) current)")
    return exit_codes.OK
