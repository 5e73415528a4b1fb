"""Test helpers: copy the example environments and edit them as text, the way a person would."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "environments"


def copy_examples(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> int:
    """Replace `old` (literal) in the file; return the 1-based line of the first replacement."""
    text = path.read_text()
    index = text.find(old)
    assert index >= 0, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))
    return text[:index].count("\n") + 1


def line_of(path: Path, pattern: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.search(pattern, line):
            return number
    raise AssertionError(f"{pattern!r} not in {path.name}")


def variant(envs, name: str, **updates):
    """The environments with one of them changed: `variant(envs, 'prod', workspace={'sku': 'standard'})`.

    Nested dicts update the nested model field by field; the result is re-validated like loaded YAML.
    """
    from lakegate.infra.model import Environment, Environments

    env = envs[name]
    data = env.model_dump(by_alias=True)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    changed = Environment.model_validate(data)
    changed._source = env._source
    return Environments([changed if e.name == name else e for e in envs])


def problems_of(directory) -> list[str]:
    """The located problems loading `directory` raises. Only DefinitionError: anything else (TypeError,
    RecursionError, ...) propagates and fails the test."""
    import pytest

    from lakegate.infra.errors import DefinitionError
    from lakegate.infra.loader import load_environments

    with pytest.raises(DefinitionError) as caught:
        load_environments(directory)
    return [str(p) for p in caught.value.problems]


def run_in_process(*args: str, env: dict[str, str] | None = None):
    """`python main.py ARGS` in this process: exit code, stdout and stderr as a CompletedProcess. For walks of
    many commands against one registry (each child process would pay the MLflow import again); the tests of
    start-up, tracebacks and child environments run the real process (tests/test_cli.py `run`)."""
    import contextlib
    import io
    import os
    import subprocess

    from lakegate.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    saved = {name: os.environ.get(name) for name in (env or {})}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors and --help
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return subprocess.CompletedProcess(["main.py", *args], code, out.getvalue(), err.getvalue())


def declare_models(directory: Path, names, *, environments=("dev", "staging", "prod")) -> Path:
    """Declare more models in the copied examples, each like churn (its code, features and label) and judged on
    churn's hold-out, without serving, batch or monitoring: tests give each case a model of its own."""
    for env in environments:
        path = Path(directory) / f"{env}.yaml"
        text = path.read_text()
        holdout = "holdout" if "holdout.{model}" in text else "features"
        block = "".join(
            f"  {name}:\n    task: classification\n    code: models/churn.py\n"
            f"    features: {{table: features.churn_features, key: customer_id}}\n    label: churned\n"
            f"    evaluation: {{table: {holdout}.churn_validation}}\n"
            for name in names if f"\n  {name}:\n" not in text[text.index("\nmodels:\n"):])
        path.write_text(text.rstrip("\n") + "\n" + block)
    return Path(directory)


def clean_lineage(training_run: str = "run-1", entry_point: str = "train.py") -> dict[str, str]:
    """Lineage tags of a version "trained" from `entry_point` at the session's clean commit (conftest's `lineage`
    fixture points pipelines/lineage.py at its throwaway repository): what the lineage gate passes."""
    from lakegate.pipelines.lineage import lineage_tags

    return {**lineage_tags(entry_point), "training_run": training_run}


def mark_project(root) -> None:
    """Make `root` a project of its own: cdktf.json marks it, and the launchers its jobs run are there
    (`lakegate init` writes both; LG-JOB-002 refuses jobs naming files the project lacks)."""
    from pathlib import Path

    from lakegate.pipelines.launch import launchers

    root = Path(root)
    (root / "cdktf.json").write_text("{}\n")
    for name, text in launchers().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def tree_digest(folder) -> str:
    """What a folder holds, names and bytes: equal before and after means nothing was written."""
    import hashlib
    from pathlib import Path

    found = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        found.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return found.hexdigest()
