"""`new environment`, `new model` and `generate`: definitions that pass `check` at once, and everything derived
from the list of environments and models (docs, CI pipelines, the deploy commands of docs/first-deploy.md) regenerated in one go.

`new` writes all of its files or none: it writes, loads the whole folder and runs the guardrails; if that fails,
every file it touched is put back as it was, and the problems are reported.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import exit_codes, output
from .failures import handler_in

TASKS = ("classification", "regression")


def add_scaffold_commands(commands, common) -> None:
    new = commands.add_parser("new", help="scaffold an environment or a model that passes `check` at once",
                              allow_abbrev=False)
    kinds = new.add_subparsers(dest="new_kind", metavar="KIND")
    kinds.required = True

    environment = kinds.add_parser("environment", allow_abbrev=False,
                                   help="environments/NAME.yaml from ENV's file, every isolated value made NAME's own; "
                                        "the environment that promoted from ENV promotes from NAME")
    common(environment)
    environment.add_argument("name", metavar="NAME", help="the new environment (lowercase letters, digits, '-')")
    environment.add_argument("--after", required=True, metavar="ENV",
                             help="the environment it is copied from and promotes from")
    environment.add_argument("--production", action="store_true",
                             help="production rules apply to it (default: not production, even after prod)")
    environment.set_defaults(handler=cmd_new_environment)

    model = kinds.add_parser("model", allow_abbrev=False,
                             help="models.NAME in every environment file, and its stub training module models/NAME.py")
    common(model)
    model.add_argument("name", metavar="NAME", help="the new model (lowercase letters, digits, '_')")
    model.add_argument("--task", required=True, choices=TASKS, help="decides the metrics and gates")
    model.add_argument("--code-dir", metavar="DIR", default=None,
                       help="folder of the stub module (default: models/ in the project root, the folder holding "
                            "cdktf.json)")
    model.set_defaults(handler=cmd_new_model)

    generate = commands.add_parser("generate", allow_abbrev=False,
                                   help="regenerate (or --check) everything derived from the environments and models: "
                                        "the docs' references and deploy commands, RULES.md, CI pipelines")
    common(generate)
    generate.add_argument("--check", action="store_true", help="write nothing; exit 10 naming what is stale")
    generate.add_argument("--root", metavar="DIR", default=None,
                          help="repository folder (default: the folder holding cdktf.json, else the current one)")
    generate.set_defaults(handler=handler_in("generate_command", "cmd_generate"))


def project_root(environments: str | Path) -> Path:
    """The folder holding cdktf.json, from the definitions folder upwards; else the current directory."""
    start = Path(environments).resolve()
    for folder in (start, *start.parents):
        if (folder / "cdktf.json").is_file():
            return folder
    return Path.cwd()


def _load(args):
    from lakegate.infra.loader import load_environments

    return load_environments(Path(args.environments))  # DefinitionError: exit 2 with every problem (cli/failures.py)


def _display(path: Path) -> str:
    from lakegate.infra.loader import display_path

    return display_path(path)


def _apply(args, written, what: str) -> int:
    """Write, check the whole folder, restore everything if it fails; report."""
    from lakegate.infra.errors import DefinitionError
    from lakegate.infra.guardrails.runner import check_environments
    from lakegate.infra.scaffold.files import Transaction

    from .infra_commands import refuse

    transaction = Transaction(written.files)
    transaction.write()
    try:
        envs = _load(args)
        report = check_environments(envs)
    except DefinitionError as error:
        transaction.restore()
        if args.json:
            output.emit_json({"ok": False, "error": "invalid_definitions", "written": [],
                              "problems": [p.as_dict() for p in error.problems]})
        output.problems(error.problems)
        output.fail(f"{what} would leave the definitions invalid: nothing written")
        return exit_codes.INVALID_DEFINITIONS
    except BaseException:
        transaction.restore()
        raise
    if not report.passed:
        transaction.restore()
        if args.json:
            output.emit_json({"ok": False, "error": "guardrail_violation", "written": [],
                              "findings": [f.as_dict() for f in report.violations]})
        refuse(report)
        output.fail(f"{what} would violate guardrails: nothing written")
        return exit_codes.GUARDRAIL_VIOLATION
    files = [_display(p) for p in written.files]
    created = [_display(p) for p in written.created]
    steps = _next_steps(args, envs)
    if args.json:
        output.emit_json({"ok": True, "written": files, "created": created, "notes": written.notes,
                          "changes": [c.as_dict() for c in written.changes], "next": steps})
        return exit_codes.OK
    # emoji=False: rich would show `qa.yaml:100:` as `qa.yaml💯`.
    for path in files:
        output.console.print(f"{'created' if path in created else 'changed'} {output.escape(path)}", emoji=False)
    for change in sorted(written.changes, key=lambda c: (files.index(c.file) if c.file in files else 0, c.line)):
        output.console.print(f"  {output.escape(str(change))}", emoji=False)
    for note in written.notes:
        output.console.print(f"note: {output.escape(note)}", emoji=False)
    output.console.print(f"{len(envs)} environment(s) valid: {', '.join(envs.names)}; guardrails passed")
    output.console.print("next: " + "; ".join(steps))
    return exit_codes.OK


def _next_steps(args, envs) -> list[str]:
    folder = "" if Path(args.environments).resolve() == Path("environments").resolve() else \
        f" --environments {args.environments}"
    if args.new_kind == "model":
        first = envs.names[0]
        targets = [t.name for t in envs.promotion_targets(first)]
        return [f"edit {envs[first].models[args.name].code}", f"python main.py generate{folder}",
                f"python main.py train {args.name} --env {first}{folder}"] + (
                [f"python main.py promote {args.name} --to {targets[0]}{folder}"] if targets else [])
    return [f"python main.py generate{folder}", f"python main.py check{folder}", f"python main.py synth{folder}",
            "cdktf deploy account", f"cdktf deploy {args.name}-azure {args.name}-databricks "
            "--ignore-missing-stack-dependencies", f"declare workspace.id in {args.name}'s file"]


def cmd_new_environment(args) -> int:
    from lakegate.infra.suggest import did_you_mean
    from lakegate.infra.scaffold import ScaffoldError
    from lakegate.infra.scaffold.environment import check_name, plan_environment

    check_name(args.name)
    envs = _load(args)
    if args.after not in envs:
        raise ScaffoldError("INVALID_REQUEST", f"unknown environment '{args.after}'{did_you_mean(args.after, envs.names)}"
                                               f" (known: {', '.join(envs.names)})")
    written = plan_environment(Path(args.environments), envs, args.name, args.after, args.production)
    return _apply(args, written, f"new environment {args.name}")


def cmd_new_model(args) -> int:
    from lakegate.infra.scaffold import ScaffoldError
    from lakegate.infra.scaffold.model import LABEL, check_name, plan_model
    from lakegate.infra.scaffold.stub import stub_module

    check_name(args.name)
    envs = _load(args)
    root = project_root(args.environments)
    folder = Path(args.code_dir).resolve() if args.code_dir else root / "models"
    module = folder / f"{args.name}.py"
    relative = Path(os.path.relpath(module, root))
    if relative.parts[0] == "..":
        raise ScaffoldError("INVALID_REQUEST", f"--code-dir {args.code_dir} is outside the project ({root}): the model's "
                                               "code must be a file of the project")
    written = plan_model(Path(args.environments), envs, args.name, args.task, relative.as_posix())
    if module.exists():
        written.notes.append(f"{_display(module)} exists: kept as it is (it must define features(ctx) and "
                             "fit(frame, params))")
    else:
        written.files[module] = stub_module(args.name, args.task, LABEL)
        written.created.append(module)
    return _apply(args, written, f"new model {args.name}")
