"""The command line guesses nothing: no option prefixes, "did you mean" for unknown options and names, and an
unknown environment, model or job exits 6 before any registry call (none runs here: the state folder does
not even exist, so anything that reached the registry would exit 9 instead)."""

from __future__ import annotations

import argparse

import pytest

from lakegate.cli.app import build_parser, main

from .helpers import copy_examples, edit, line_of


def parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub)


def test_no_parser_accepts_prefixes():
    found = list(parsers(build_parser()))
    assert len(found) > 20
    assert [p.prog for p in found if p.allow_abbrev] == []


@pytest.mark.parametrize("argv,option", [
    (["status", "--env", "prod"], "env"),
    (["audit", "verify", "--env", "prod"], "env"),
    (["check", "--env", "prod"], "env"),
])
def test_env_is_its_own_option(argv, option):
    args = build_parser().parse_args(argv)
    assert getattr(args, option) in ("prod", ["prod"]) and args.environments == "environments"


@pytest.mark.parametrize("argv,message", [
    (["check", "--environmnts", "x"], "lakegate check: error: unrecognized arguments: --environmnts x "
                                      "(did you mean --environments?)"),
    (["ci", "render", "--chek"], "lakegate ci render: error: unrecognized arguments: --chek (did you mean --check?)"),
    (["doctor", "--env", "prod", "--environ", "environments"],
     "lakegate doctor: error: unrecognized arguments: --environ environments (did you mean --environments?)"),
    (["synth", "--zzz"], "lakegate synth: error: unrecognized arguments: --zzz"),
])
def test_unknown_options_exit_64_with_the_closest_name(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 64
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_a_prefix_of_an_option_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "access", "--environ", "environments"])
    assert exit_.value.code == 64 and "unrecognized arguments: --environ" in capsys.readouterr().err


STATE = "--state-dir=/nonexistent/lakegate-state"
UNKNOWN = [
    (["promote", "churn", "--to", "prd", STATE], "unknown environment 'prd' (did you mean prod?) (known: dev, staging, prod)"),
    (["promote", "chrun", "--to", "staging", STATE], "model chrun is not declared in environments/staging.yaml:"),
    (["ci", "promote", "chrun", "--to", "prod", "--approval", "github", STATE], "(models of prod: churn, demand) (did you mean churn?)"),
    (["approve", "churn", "--env", "prd", "--version", "1", STATE], "unknown environment 'prd' (did you mean prod?)"),
    (["rollback", "chrun", "--env", "prod", STATE], "(models of prod: churn, demand) (did you mean churn?)"),
    (["status", "--env", "stagin", STATE], "unknown environment 'stagin' (did you mean staging?)"),
    (["audit", "verify", "--env", "dv", STATE], "unknown environment 'dv' (did you mean dev?)"),
    (["report", "evidence", "churn", "--env", "prd", "--version", "1", STATE], "unknown environment 'prd' (did you mean prod?)"),
    (["report", "diff", "dev", "prd"], "unknown environment 'prd' (did you mean prod?)"),
    (["doctor", "--env", "prd"], "--env: unknown environment 'prd' (did you mean prod?) (known: dev, staging, prod)"),
    (["check", "--env", "prd"], "--env: unknown environment 'prd' (did you mean prod?) (known: dev, staging, prod)"),
    (["serve", "chrun", "--env", "prod", "--state-dir", "{state}"], "model chrun is not declared in environments/prod.yaml:"),
    (["serve", "churn", "--env", "prd", "--state-dir", "{state}"], "unknown environment 'prd' (did you mean prod?)"),
    (["run", "churn-trian", "--env", "dev", STATE], "dev has no job 'churn-trian' (did you mean churn-train?)"),
    (["run", "train", "--env", "prd", STATE], "unknown environment 'prd' (did you mean prod?)"),
]


@pytest.mark.parametrize("argv,message", UNKNOWN, ids=[" ".join(a[:3]) for a, _ in UNKNOWN])
def test_unknown_names_on_the_command_line_exit_6_before_any_registry_call(capsys, tmp_path, argv, message):
    state = tmp_path / "state"  # serve needs an existing (private) state folder, where no registry runs
    state.mkdir(mode=0o700)
    assert main([a.replace("{state}", str(state)) for a in argv]) == 6
    err = " ".join(capsys.readouterr().err.split())
    assert message in err, err


def test_synth_refuses_an_unknown_env_with_exit_6(tmp_path):
    # In a process of its own: synth starts the jsii runtime in the background before it reads the definitions.
    from .test_cli import run

    result = run("synth", "--env", "prd", "--out", str(tmp_path / "out"))
    assert result.returncode == 6, result.stderr
    assert "--env: unknown environment 'prd' (did you mean prod?) (known: dev, staging, prod)" in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_environment_with_json_says_so_in_json(capsys):
    import json

    assert main(["status", "--env", "prd", "--json", STATE]) == 6
    assert json.loads(capsys.readouterr().out) == {
        "ok": False, "error": "invalid_request",
        "message": "unknown environment 'prd' (did you mean prod?) (known: dev, staging, prod)"}


YAML_NAMES = [
    ("prod.yaml", "privileges: [USE_SCHEMA, SELECT]}", "privileges: [USE_SCHEMA, SELEC]}",
     "grants[2].privileges: unknown privilege 'SELEC' (did you mean SELECT?)", r"SELEC\]"),
    ("prod.yaml", "{principal: ml-engineers, on: catalog prod,", "{principal: ml-enginers, on: catalog prod,",
     "grants[0].principal: unknown principal 'ml-enginers' (did you mean ml-engineers?) (groups, the service "
     "principal or 'account users')", r"ml-enginers"),
    ("staging.yaml", "  from: dev", "  from: dve",
     "promotion.from: unknown environment 'dve' (did you mean dev?) (known: dev, prod, staging)", r"from: dve"),
    ("staging.yaml", "      train: {moved_from: train,", "      trian: {moved_from: train,",
     "models.churn.jobs: unknown step 'trian' (did you mean train?)", r"^    jobs:"),
    ("staging.yaml", "cluster: {policy: staging-jobs,", "cluster: {policy: stagingjobs,",
     "workflows.defaults.cluster.policy: unknown policy 'stagingjobs' (did you mean staging-jobs?)",
     r"policy: stagingjobs"),
    ("staging.yaml", "permissions: {ml-engineers: CAN_MANAGE_RUN}", "permissions: {ml-enginers: CAN_MANAGE_RUN}",
     "workflows.defaults.permissions: unknown principal 'ml-enginers' (did you mean ml-engineers?)",
     r"ml-enginers: CAN_MANAGE_RUN"),
]


@pytest.mark.parametrize("file,old,new,message,pattern", YAML_NAMES, ids=[m.split(":")[0] for *_, m, _ in YAML_NAMES])
def test_unknown_names_in_the_yaml_get_the_closest_name(tmp_path, monkeypatch, file, old, new, message, pattern):
    from .helpers import problems_of

    defs = copy_examples(tmp_path / "environments")
    edit(defs / file, old, new)
    monkeypatch.chdir(tmp_path)
    found = problems_of(defs)
    line = line_of(defs / file, pattern)
    assert any(p.startswith(f"environments/{file}:{line}: {message}") for p in found), found


def test_audit_verify_env_reports_only_that_environments_log(tmp_path, capsys):
    import json

    from lakegate.promotion.audit import AuditLog

    state = tmp_path / "state"
    (state / "audit").mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    AuditLog(state / "audit", "dev").append("promote", model="dev.ml.churn")
    AuditLog(state / "audit", "prod").append("promote", model="prod.ml.churn")
    AuditLog(state / "audit", "prod").append("promote", model="prod.ml.churn")
    (state / "audit" / "staging.jsonl").write_text("not json\n")  # broken, but not the one asked about
    capsys.readouterr()
    assert main(["audit", "verify", "--offline", "--env", "prod", "--json", f"--state-dir={state}"]) == 0
    assert json.loads(capsys.readouterr().out)["checked"] == {"prod": 2}
    assert main(["audit", "verify", "--offline", "--json", f"--state-dir={state}"]) == 8  # all of them: staging's is broken
