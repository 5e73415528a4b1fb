"""Load environments/*.yaml into the typed model, reporting every problem with file, line and field path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from .errors import DefinitionError, Problem
from .isolation import in_promotion_order, isolation_problems
from .model import Environment, Environments
from .model.account import ACCOUNT_FILE, Account
from .model.promotion import Gate
from .suggest import did_you_mean
from .source_map import SourceMap, format_path
from .yaml_source import load_yaml


def display_path(path: Path) -> str:
    """Paths as a person typed them: relative to the working directory when inside it."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _resolve(data, loc: tuple) -> tuple:
    """Keep the parts of a pydantic location that exist in the data (drops union tags and the like)."""
    path, current = [], data
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and not _is_union_tag(part):
            # A missing field: name it, it is the one to add.
            path.append(part)
            break
        else:
            continue
        path.append(part)
    return tuple(path)


def _is_union_tag(part: str) -> bool:
    # pydantic puts the chosen union member (e.g. 'metric_threshold', 'function-after[...]') in locations.
    return "[" in part or part in _UNION_TAGS


# The tags of the model's discriminated unions (the gate types: each gate class's `type` literal), derived from the
# model; tests/test_loader.py asserts they are every discriminator tag of the environment schema.
_UNION_TAGS = frozenset(get_args(gate.model_fields["type"].annotation)[0] for gate in get_args(get_args(Gate)[0]))


def _message(error: dict) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", error["ctx"]["expected"]) or [error["ctx"]["expected"]]
        return f"{value!r} is not one of {', '.join(options)}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        return f"{error['ctx']['tag']!r} is not one of {error['ctx']['expected_tags'].replace(chr(39), '')}"
    if kind == "union_tag_not_found":
        return f"needs a '{error['ctx']['discriminator'].strip(chr(39))}' field"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message[:1].lower() + message[1:]


def _validation_problems(exc: ValidationError, data, source: SourceMap) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = _resolve(data, error["loc"])
        if source.is_refused(path):
            continue  # a value refused while reading (its problem is reported): this error only follows from it
        for at, message in _located(path, _message(error)):
            problems.append(source.problem(_resolve(data, at), message))
    return problems


_AT = re.compile(r"@([A-Za-z0-9_.\[\]-]+): (.*)")


def _located(path: tuple, message: str) -> list[tuple[tuple, str]]:
    """A validator that checks a whole section names the field of each problem itself (`@models.churn.jobs: ...`,
    one per line); anything else is located at the error's own path."""
    found = []
    for line in message.splitlines():
        match = _AT.fullmatch(line.strip())
        if match is None:
            found.append((path, line))
            continue
        parts = tuple(int(p) if p.isdigit() else p for p in match.group(1).split("."))
        found.append((parts, match.group(2)))
    return found or [(path, message)]


class EnvironmentFile:
    """One environment file as the cross-file checks see it, valid or not.

    A file that failed validation still names an environment (its file stem) and usually still says which
    catalog, storage account, ... it claims: the other files are checked against that, so one bad field in
    dev.yaml never turns into "unknown environment 'dev'" in staging.yaml or prod.yaml.
    """

    def __init__(self, path: Path, source: SourceMap, env: Environment | None, data, problems: list[Problem]):
        self.name = path.stem  # the environment's name: `name` must equal it, whatever the file says
        self.source = source
        self.env = env
        self.data = data
        self.problems = problems

    @property
    def valid(self) -> bool:
        return self.env is not None

    def declared(self, path: tuple, kinds: tuple = (str,)):
        """The value (a string unless `kinds` says) at `path` in the raw YAML, when the file says it and no
        problem was reported at it."""
        value = self.data
        for part in path:
            if isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return None
        if not isinstance(value, kinds) or isinstance(value, bool) or self.source.is_refused(path):
            return None
        where = format_path(path)
        if any(p.path == where or p.path.startswith((where + ".", where + "[")) for p in self.problems):
            return None
        return value

    def locate(self, *path) -> str:
        return self.source.locate(path)


def _read_environment_file(path: Path) -> EnvironmentFile:
    name = display_path(path)
    data, source, problems = load_yaml(path, name)
    if data is None:
        return EnvironmentFile(path, source, None, None, problems)
    if not isinstance(data, dict):
        return EnvironmentFile(path, source, None, None,
                               problems + [Problem(name, source.line(()), "", "an environment file holds a mapping of fields")])
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        return EnvironmentFile(path, source, None, data, problems + _validation_problems(exc, data, source))
    except Exception as exc:  # noqa: BLE001 - a validator that crashed on odd input: a bug, but reported located
        return EnvironmentFile(path, source, None, data, problems + [Problem(
            name, source.line(()), "", f"could not be validated ({type(exc).__name__}: {exc}); "
                                       "this is a bug in lakegate, please report it")])
    env._source = source
    if env.name != path.stem:
        problems.append(source.problem(("name",), f"'{env.name}' does not match the file name '{path.stem}.yaml'"))
    return EnvironmentFile(path, source, env if not problems else None, data, problems)


def load_environment_file(path: Path) -> tuple[Environment | None, list[Problem]]:
    loaded = _read_environment_file(path)
    return loaded.env, loaded.problems


def environment_files(directory: Path) -> list[Path]:
    # Files starting with '_' or '.' are not environments (room for shared snippets and editors' files). A folder
    # or other non-file named like one is kept: reading it is a located problem, never a crash later.
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and not p.name.startswith(("_", ".")))


@dataclass
class Loaded:
    """What a definitions folder holds: the environments whose files validated on their own (in promotion
    order, with the account when its file is valid) and every problem of every file, cross-file ones too."""

    environments: Environments
    problems: list[Problem] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # every environment file's, valid or not, in promotion order


def read_environments(directory: Path | str = "environments") -> Loaded:
    """Read and cross-check every file; never raises for bad definitions (see load_environments)."""
    directory = Path(directory)
    if not directory.is_dir():
        return Loaded(Environments([]), [Problem(display_path(directory), 0, "", "no such directory")])
    paths = environment_files(directory)
    if not paths:
        return Loaded(Environments([]), [Problem(display_path(directory), 0, "", "no environment files (*.yaml)")])
    files = [_read_environment_file(path) for path in paths]
    problems = [problem for file in files for problem in file.problems]
    environments = [file.env for file in files if file.valid]
    account, account_file = _read_account_file(directory / ACCOUNT_FILE)
    problems += account_file.problems
    problems += cross_checks(files, account_file)
    problems += account_group_problems(environments)
    names = [file.name for file in in_promotion_order(files)]
    return Loaded(Environments(promotion_order(environments), account), problems, names)


def load_environments(directory: Path | str = "environments") -> Environments:
    """Load and cross-check every environment; raise DefinitionError with all problems found."""
    loaded = read_environments(directory)
    if loaded.problems:
        raise DefinitionError(loaded.problems)
    return loaded.environments


def cross_checks(files: list[EnvironmentFile], account: EnvironmentFile | None = None) -> list[Problem]:
    """Checks that need every environment: unique names, isolated values, promotion graph, bindings, grants.

    `files` are every environment file, valid or not. A broken file still counts as its environment (named
    by its file stem) and its readable values still count as taken, so it causes no false error in another
    file; checks that start from a broken file are not run (it has errors of its own to fix first).
    """
    files = in_promotion_order(files)
    problems = _unique_names(files)
    problems += isolation_problems(files, account)
    environments = [file.env for file in files if file.valid]
    known = sorted({f.name for f in files})
    by_name = {e.name: e for e in environments}
    for env in environments:
        source = env.promotion.from_env
        if source is not None and source not in known:
            problems.append(env._source.problem(("promotion", "from"), f"unknown environment '{source}'"
                                                                        f"{did_you_mean(source, known)} (known: {', '.join(known)})"))
        if source == env.name:
            problems.append(env._source.problem(("promotion", "from"), "an environment cannot promote from itself"))
        for other in env.unity_catalog.bindings:
            if other not in known:
                problems.append(env._source.problem(("unity_catalog", "bindings", other),
                                                    f"unknown environment '{other}'{did_you_mean(other, known)}"))
            elif other == env.name:
                problems.append(env._source.problem(("unity_catalog", "bindings", other), "a catalog is always bound to its own workspace"))
        problems += _grant_references(env, files)
    problems += _promotion_cycles(environments, by_name)
    return problems


def _unique_names(files: list[EnvironmentFile]) -> list[Problem]:
    # Two files with one stem (dev.yaml and dev.yml) would be one environment twice.
    seen, problems = {}, []
    for file in files:
        if file.name in seen:
            problems.append(file.source.problem(("name",), f"environment name '{file.name}' is already used by "
                                                           f"{seen[file.name].locate('name')}"))
        else:
            seen[file.name] = file
    return problems


def _catalog_owners(files: list[EnvironmentFile]) -> tuple[dict[str, EnvironmentFile], bool]:
    """Catalog -> the file of the environment that owns it; and whether every file's catalog is known."""
    owners, complete = {}, True
    for file in files:
        catalog = file.declared(("unity_catalog", "catalog"))
        if catalog is None:
            complete = False
        else:
            owners.setdefault(catalog, file)
    return owners, complete


def _grant_references(env: Environment, files: list[EnvironmentFile]) -> list[Problem]:
    """A grant names a principal this environment knows, on a securable of this environment's own catalog.

    Grants on another environment's catalog belong in that environment's file, where its owners review
    them. Securables without a catalog (external locations, storage credentials) are named
    `<catalog>_<name>` in lakegate, so their name says whose they are.
    """
    known_principals = {env.service_principal, "account users", *env.principals.groups}
    own = env.unity_catalog.catalog
    owners, complete = _catalog_owners(files)
    problems = []
    for i, grant in enumerate(env.grants):
        if grant.principal not in known_principals:
            problems.append(env._source.problem(("grants", i, "principal"),
                            f"unknown principal '{grant.principal}'{did_you_mean(grant.principal, known_principals)} "
                            "(groups, the service principal or 'account users')"))
        message = _foreign_securable(grant.on, own, owners, complete)
        if message:
            problems.append(env._source.problem(("grants", i, "on"), message))
    return problems


def _foreign_securable(on, own: str, owners: dict[str, EnvironmentFile], complete: bool) -> str | None:
    catalog = on.catalog
    if catalog is None:
        # The longest catalog the name starts with (`dev_eu_landing` is dev_eu's, not dev's).
        prefixes = sorted((c for c in {own, *owners} if on.name.startswith(c + "_")), key=len, reverse=True)
        kind = on.type.replace("_", " ")
        if prefixes and prefixes[0] == own:
            return None
        if prefixes:
            owner = owners[prefixes[0]]
            return (f"{kind} '{on.name}' belongs to environment {owner.name} ({owner.source.file}); "
                    "declare grants on it in that file")
        return f"{kind} '{on.name}' is not this environment's: names of its {kind}s start with '{own}_'"
    if catalog == own:
        return None
    owner = owners.get(catalog)
    if owner is not None:
        whose = f"catalog '{catalog}'" if on.type == "catalog" else f"{on.type} {on.name} is in catalog '{catalog}', which"
        return (f"{whose} belongs to environment {owner.name} ({owner.source.file}); "
                "declare grants on it in that file")
    if complete:
        return f"unknown catalog '{catalog}'"
    # A file that failed validation may be the one that means this catalog: the grant is wrong here either way.
    return (f"catalog '{catalog}' is not this environment's catalog '{own}'; "
            "declare grants in the file of the environment that owns it")


def _promotion_cycles(environments: list[Environment], by_name: dict[str, Environment]) -> list[Problem]:
    problems, reported = [], set()
    for env in environments:
        chain, current = [env.name], env.promotion.from_env
        while current in by_name and current not in chain:
            chain.append(current)
            current = by_name[current].promotion.from_env
        if current == env.name and len(chain) > 1 and env.name not in reported:
            reported.update(chain)
            cycle = " -> ".join(reversed(chain + [env.name]))
            problems.append(env._source.problem(("promotion", "from"), f"promotion path has a cycle: {cycle}"))
    return problems


def promotion_order(environments: list[Environment]) -> list[Environment]:
    """Sources before targets (dev, staging, prod); ties keep file order."""
    by_name = {e.name: e for e in environments}

    def depth(env: Environment) -> int:
        steps, current = 0, env.promotion.from_env
        while current in by_name and steps < len(by_name):
            steps, current = steps + 1, by_name[current].promotion.from_env
        return steps

    return sorted(environments, key=depth)


def account_group_problems(environments: list[Environment]) -> list[Problem]:
    """A group is one account group for every environment: files that list its members list the same ones,
    and agree on whether lakegate manages it (`existing`); no group is named like a principal."""
    problems, first = [], {}
    principals = {e.service_principal.casefold() for e in environments}
    for env in environments:
        for name, group in env.principals.groups.items():
            if name.casefold() in principals or "@" in name:  # a group must never pass for whom it names
                problems.append(env._source.problem(("principals", "groups", name), f"group '{name}' is named like "
                                f"{'a person' if '@' in name else 'a service principal'}: a group name must not be "
                                "a principal's"))
                continue
            if name not in first:
                first[name] = (env, group)
                continue
            other_env, other = first[name]
            path = ("principals", "groups", name)
            if group.existing != other.existing:
                problems.append(env._source.problem(path + ("existing",), f"group '{name}' is one account group: "
                                f"{other_env.locate(*path)} says existing: {str(other.existing).lower()}"))
            elif not group.existing and group.members and other.members and set(group.members) != set(other.members):
                problems.append(env._source.problem(path + ("members",), f"group '{name}' is one account group "
                                f"shared by every environment; its members differ from {other_env.locate(*path, 'members')}"))
            elif not other.members and group.members:
                first[name] = (env, group)
    return problems


def load_account_file(path: Path) -> tuple[Account | None, list[Problem]]:
    """environments/_account.yaml: the Databricks account and the shared account stack (required)."""
    account, file = _read_account_file(path)
    return account, file.problems


def _read_account_file(path: Path) -> tuple[Account | None, EnvironmentFile]:
    """The account, or None; and the file as the isolation checks see it (its state container is claimed)."""
    name = display_path(path)
    if not path.exists():
        return None, EnvironmentFile(path, SourceMap(name, {}), None, None, [Problem(
            name, 0, "", "missing: the Databricks account (databricks_account_id, tenant_id, deployer, state) every "
                         "environment belongs to")])
    data, source, problems = load_yaml(path, name)
    if data is not None and not isinstance(data, dict):
        problems, data = problems + [Problem(name, 1, "", "the account file holds a mapping of fields")], None
    file = EnvironmentFile(path, source, None, data, problems)
    if data is None:
        return None, file
    try:
        account = Account.model_validate(data)
    except ValidationError as exc:
        problems += _validation_problems(exc, data, source)
        return None, file
    return (account if not problems else None), file
