"""`approvers enrol`: enrol a person's public SSH key as an approver of an environment, by editing its YAML in place.

The file is edited as text (infra/scaffold/text.py: comments, order and quoting stay as written): one item is
appended to `promotion.approval.signers` (or the model's own `models.<name>.approval.signers` with --model), or an
enrolled person's key is replaced with --replace (a key rotation). Then the whole folder is loaded and the
guardrails run; the approver must be able to approve (a person, in an approver group). If anything fails the file
is put back as it was: nothing is written on failure. The change is still a reviewed one: it shows in the diff.
"""

from __future__ import annotations

from pathlib import Path

from lakegate.infra.scaffold import ScaffoldError as EnrolRefused  # a refusal before writing; `kind`: its exit code

from . import exit_codes, output


def add_approvers_commands(commands, common) -> None:
    approvers = commands.add_parser("approvers", help="manage who may approve promotions (promotion.approval.signers)",
                                    allow_abbrev=False)
    actions = approvers.add_subparsers(dest="approvers_action", metavar="ACTION")
    actions.required = True
    enrol = actions.add_parser("enrol", allow_abbrev=False,
                               help="enrol a person's public SSH key as an approver of ENV (edits ENV's YAML in place, "
                                    "comments kept; nothing written when the result would not load or pass check)")
    common(enrol)
    enrol.add_argument("--env", required=True, metavar="ENV", help="the environment whose approvals the key signs")
    enrol.add_argument("--identity", required=True, metavar="EMAIL",
                       help="the approver's e-mail (plain ASCII; a member of the approver groups when ENV names some)")
    enrol.add_argument("--public-key", required=True, metavar="FILE",
                       help="the public half of the approver's SSH key (the .pub file: never the private key)")
    enrol.add_argument("--model", metavar="MODEL", help="enrol for this model's own approval settings "
                       "(models.MODEL.approval.signers) instead of the environment's")
    enrol.add_argument("--github", metavar="LOGIN", help="the approver's GitHub login (approvals given in GitHub)")
    enrol.add_argument("--azure-devops", metavar="NAME", help="the approver's Azure DevOps unique name")
    enrol.add_argument("--replace", action="store_true",
                       help="the identity is enrolled already: replace its key (a rotation; refused otherwise)")
    enrol.set_defaults(handler=cmd_enrol)


def read_public_key(path: str) -> str:
    """The key in the file, validated as an enrolled key is (infra/model/promotion.py Signer), comment dropped."""
    from pydantic import ValidationError

    from lakegate.infra.model.promotion import Signer

    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EnrolRefused("INVALID_REQUEST", f"--public-key {path}: cannot read it ({type(error).__name__}: "
                                              f"{getattr(error, 'strerror', None) or error})") from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if "PRIVATE KEY" in text:
        raise EnrolRefused("INVALID_REQUEST", f"--public-key {path} is a private key: give the public half (the .pub "
                                              "file); a private key never goes into the definitions")
    if len(lines) != 1:
        raise EnrolRefused("INVALID_REQUEST", f"--public-key {path}: expected one public key line, found {len(lines)}")
    try:
        return Signer(identity="check@example.com", key=lines[0]).key
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise EnrolRefused("INVALID_REQUEST", f"--public-key {path}: {reason}") from None


def _approval_path(env, model: str | None) -> tuple:
    from lakegate.promotion.naming import declared_model

    if model is None:
        return ("promotion", "approval")
    declared_model(env, model)  # unknown model: exit 6 with the closest names
    return ("models", model.split(".")[-1], "approval")


def plan_enrol(doc, env, args, key: str) -> None:
    """Record the edits on `doc` (infra/scaffold/text.Document), or refuse with the file and line."""
    from lakegate.infra.scaffold.text import flow

    from lakegate.promotion.approval import settings_for
    from lakegate.promotion.identity import normalise

    path = _approval_path(env, args.model)
    policy = env.policy(path[1]) if args.model else None
    required = (policy.approval.required or any(g.type == "approval" for g in policy.gates)) if policy else \
        any(env.policy(m).approval.required or any(g.type == "approval" for g in env.policy(m).gates)
            for m in env.models) or env.promotion.approval.required
    if not required:
        raise EnrolRefused("INVALID_REQUEST", f"{env.name} requires no approval{' for ' + args.model if args.model else ''}"
                                              f" ({doc.display}): there is nothing to enrol for")
    approval = doc.get(*path)
    where = ".".join(path)
    if not isinstance(approval, dict):
        raise EnrolRefused("INVALID_REQUEST", f"{doc.display}: {where} is not declared: add `{path[-1]}:` there with "
                                              "the approval settings first")
    if path in doc.source.flow:
        line = doc.line_of(doc.source.spans[path][0])
        raise EnrolRefused("INVALID_REQUEST", f"{doc.display}:{line}: {where} is written in flow style ({{...}}): "
                                              "write it as a block to enrol with this command, or add the signer by hand")
    signers = settings_for(env, args.model).signers
    wanted = normalise(args.identity)
    if any(s.key == key and normalise(s.identity) != wanted for s in signers):
        owner = next(s.identity for s in signers if s.key == key)
        raise EnrolRefused("INVALID_REQUEST", f"this key is enrolled already for {owner} in {env.name}: one key, one person")
    listed = doc.get(*path, "signers")
    index = next((i for i, s in enumerate(listed or []) if isinstance(s, dict)
                  and normalise(str(s.get("identity", ""))) == wanted), None)
    if index is not None:
        line = doc.line_of(doc.source.spans[path + ("signers", index)][0])
        if not args.replace:
            raise EnrolRefused("INVALID_REQUEST", f"{doc.display}:{line}: {args.identity} is enrolled already in "
                                                  f"{where}.signers: --replace to rotate the key")
        doc.set(path + ("signers", index, "key"), key)
        for field, value in (("github", args.github), ("azure_devops", args.azure_devops)):
            if value and field in listed[index]:
                doc.set(path + ("signers", index, field), value)
            elif value:
                raise EnrolRefused("INVALID_REQUEST", f"{doc.display}:{line}: add {field} to {args.identity}'s entry by "
                                                      "hand (this command only replaces a rotated key and existing logins)")
        return
    if args.replace:
        raise EnrolRefused("INVALID_REQUEST", f"{args.identity} is not enrolled in {doc.display} {where}.signers: "
                                              "nothing to replace (enrol without --replace)")
    item = {"identity": args.identity, "key": key}
    item.update({k: v for k, v in (("github", args.github), ("azure_devops", args.azure_devops)) if v})
    if listed is None:
        indent = doc.indent_of(path) + 2
        text = " " * indent + "signers:\n" + " " * (indent + 2) + "- " + flow(item) + "\n"
        doc.insert_lines(doc.after_line_of(doc.content_end(path)), text, path + ("signers",), flow(item))
    elif listed and path + ("signers",) not in doc.source.flow:
        doc.append_item(path + ("signers",), flow(item), flow(item))
    else:
        line = doc.line_of(doc.source.spans[path + ("signers",)][0])
        raise EnrolRefused("INVALID_REQUEST", f"{doc.display}:{line}: {where}.signers is written in flow style: "
                                              "add the signer by hand")


def _file_of(envs, name: str, directory: Path) -> Path:
    """The file that defines environment `name` (its `name:` decides, not the file's name)."""
    from lakegate.infra.loader import environment_files
    from lakegate.infra.scaffold.text import Document

    for path in environment_files(directory):
        try:
            if Document(path, str(path)).get("name") == name:
                return path
        except ValueError:
            continue
    raise EnrolRefused("INVALID_REQUEST", f"no file in {directory} defines environment {name}")


def cmd_enrol(args) -> int:
    from lakegate.infra.errors import DefinitionError
    from lakegate.infra.guardrails.runner import check_environments
    from lakegate.infra.loader import display_path, load_environments
    from lakegate.infra.scaffold.files import Transaction
    from lakegate.infra.scaffold.text import Document
    from lakegate.promotion.approval import approver_problem
    from lakegate.promotion.naming import environment

    from .infra_commands import refuse

    key = read_public_key(args.public_key)
    envs = load_environments(Path(args.environments))  # DefinitionError: exit 2 with every problem
    env = environment(envs, args.env)
    file = _file_of(envs, env.name, Path(args.environments))
    doc = Document(file, display_path(file))
    plan_enrol(doc, env, args, key)
    transaction = Transaction({file: doc.rendered()})
    transaction.write()
    try:
        changed = load_environments(Path(args.environments))
        problem = approver_problem(changed, changed[env.name], args.identity, args.model)
        report = check_environments(changed)
    except DefinitionError as error:
        transaction.restore()
        if args.json:
            output.emit_json({"ok": False, "error": "invalid_definitions", "written": [],
                              "problems": [p.as_dict() for p in error.problems]})
        output.problems(error.problems)
        output.fail("the enrolment would leave the definitions invalid: nothing written")
        return exit_codes.INVALID_DEFINITIONS
    except BaseException:
        transaction.restore()
        raise
    if problem:
        transaction.restore()
        raise EnrolRefused("INVALID_REQUEST", f"{args.identity} could not approve in {env.name}: {problem}; "
                                              "nothing written")
    if not report.passed:
        transaction.restore()
        if args.json:
            output.emit_json({"ok": False, "error": "guardrail_violation", "written": [],
                              "findings": [f.as_dict() for f in report.violations]})
        refuse(report)
        output.fail("the enrolment would violate guardrails: nothing written")
        return exit_codes.GUARDRAIL_VIOLATION
    from lakegate.promotion.signing import key_fingerprint

    changes = [c.as_dict() for c in doc.changes]
    fingerprint = key_fingerprint(key)
    if args.json:
        output.emit_json({"ok": True, "env": env.name, "identity": args.identity, "key_fingerprint": fingerprint,
                          "written": [doc.display], "changes": changes})
        return exit_codes.OK
    for change in doc.changes:
        output.console.print(output.escape(str(change)), emoji=False, soft_wrap=True)
    output.console.print(f"enrolled {output.escape(args.identity)} ({fingerprint}) as an approver of {env.name}; "
                         "commit the change for review", emoji=False)
    return exit_codes.OK
