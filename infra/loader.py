"""Load environments/*.yaml into the typed model, reporting every problem with file, line and field path."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from pydantic import ValidationError

from .errors import DefinitionError, Problem
from .model import Environment, Environments
from .yaml_source import SourceMap, load_yaml


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


_UNION_TAGS = {"metric_threshold", "no_regression", "signature", "required_tags", "smoke_inference", "approval"}


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
    return message[0].lower() + message[1:]


def _validation_problems(exc: ValidationError, data, source: SourceMap) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = _resolve(data, error["loc"])
        problems.append(source.problem(path, _message(error)))
    return problems


def load_environment_file(path: Path) -> tuple[Environment | None, list[Problem]]:
    name = display_path(path)
    data, source, problems = load_yaml(path, name)
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, problems + [Problem(name, 1, "", "an environment file holds a mapping of fields")]
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        return None, problems + _validation_problems(exc, data, source)
    env._source = source
    if env.name != path.stem:
        problems.append(source.problem(("name",), f"'{env.name}' does not match the file name '{path.stem}.yaml'"))
    return (env if not problems else None), problems


def environment_files(directory: Path) -> list[Path]:
    # Files starting with '_' or '.' are not environments (room for shared snippets and editors' files).
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and not p.name.startswith(("_", ".")))


def load_environments(directory: Path | str = "environments") -> Environments:
    """Load and cross-check every environment; raise DefinitionError with all problems found."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DefinitionError([Problem(display_path(directory), 0, "", "no such directory")])
    files = environment_files(directory)
    if not files:
        raise DefinitionError([Problem(display_path(directory), 0, "", "no environment files (*.yaml)")])
    environments, problems = [], []
    for path in files:
        env, found = load_environment_file(path)
        problems += found
        if env is not None:
            environments.append(env)
    problems += cross_checks(environments)
    if problems:
        raise DefinitionError(problems)
    return Environments(promotion_order(environments))


def _unique(environments: list[Environment], key, path: tuple, what: str) -> list[Problem]:
    seen: dict[str, Environment] = {}
    problems = []
    for env in environments:
        value = key(env)
        if value in seen:
            problems.append(env._source.problem(path, f"{what} '{value}' is already used by {seen[value].locate(*path)}"))
        else:
            seen[value] = env
    return problems


def cross_checks(environments: list[Environment]) -> list[Problem]:
    """Checks that need every environment: unique names, promotion graph, bindings, networks."""
    problems = _unique(environments, lambda e: e.name, ("name",), "environment name")
    problems += _unique(environments, lambda e: e.unity_catalog.catalog, ("unity_catalog", "catalog"), "catalog")
    problems += _unique(environments, lambda e: e.storage.account_name, ("storage", "account_name"), "storage account")
    problems += _unique(environments, lambda e: e.workspace.name, ("workspace", "name"), "workspace")
    problems += _unique(environments, lambda e: e.service_principal, ("principals", "service_principal", "name"),
                        "service principal")
    by_name = {e.name: e for e in environments}
    for env in environments:
        source = env.promotion.from_env
        if source is not None and source not in by_name:
            problems.append(env._source.problem(("promotion", "from"), f"unknown environment '{source}' (known: {', '.join(sorted(by_name))})"))
        if source == env.name:
            problems.append(env._source.problem(("promotion", "from"), "an environment cannot promote from itself"))
        for other in env.unity_catalog.bindings:
            if other not in by_name:
                problems.append(env._source.problem(("unity_catalog", "bindings", other), f"unknown environment '{other}'"))
            elif other == env.name:
                problems.append(env._source.problem(("unity_catalog", "bindings", other), "a catalog is always bound to its own workspace"))
        problems += _grant_references(env, by_name)
    problems += _promotion_cycles(environments, by_name)
    problems += _overlapping_networks(environments)
    return problems


def _grant_references(env: Environment, by_name: dict[str, Environment]) -> list[Problem]:
    """A grant names a principal this environment knows, on a securable of a known catalog."""
    known_principals = {env.service_principal, "account users", *env.principals.groups}
    catalogs = {e.unity_catalog.catalog for e in by_name.values()}
    problems = []
    for i, grant in enumerate(env.grants):
        if grant.principal not in known_principals:
            problems.append(env._source.problem(("grants", i, "principal"),
                            f"unknown principal '{grant.principal}' (groups, the service principal or 'account users')"))
        catalog = grant.on.catalog
        if catalog is not None and catalog not in catalogs:
            problems.append(env._source.problem(("grants", i, "on"), f"unknown catalog '{catalog}'"))
    return problems


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


def _overlapping_networks(environments: list[Environment]) -> list[Problem]:
    problems, seen = [], []
    for env in environments:
        if env.workspace.vnet is None:
            continue
        network = ipaddress.ip_network(env.workspace.vnet.cidr)
        for other, other_network in seen:
            if network.overlaps(other_network):
                problems.append(env._source.problem(("workspace", "vnet", "cidr"),
                                f"{network} overlaps {other.name}'s VNet {other_network} ({other.locate('workspace', 'vnet', 'cidr')})"))
        seen.append((env, network))
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
