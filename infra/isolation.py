"""Values that must belong to one environment: two environment files sharing one is a located problem.

Copying `staging.yaml` to `qa.yaml` and changing only `name` must not deploy a second environment into
staging's resource group, state container or workspace. Each value below is claimed by the files in
promotion order (sources before targets, from each file's raw `promotion.from`, so a file that failed
validation still has its place; the account stack's state comes first of all): the first file to claim a
value keeps it, and every later one is refused at its own line, naming the line of the file that has it.
The claims are read from the raw YAML (a valid file's raw values are its model's), so a broken file's
readable values still count as taken.
"""

from __future__ import annotations

import ipaddress
from typing import Callable, Iterator

from .errors import Problem

Claim = tuple[tuple, str, tuple]  # (key compared across files, the value as the message names it, field path)


def _fold(value: str) -> str:
    return value.casefold()  # Azure names and GUIDs compare case-insensitively


def _resource_group(file) -> Iterator[Claim]:
    subscription, group = file.declared(("azure", "subscription_id")), file.declared(("azure", "resource_group"))
    if subscription and group:
        yield (_fold(subscription), _fold(group)), f"'{group}' in subscription {subscription}", ("azure", "resource_group")


def _state_container(file) -> Iterator[Claim]:
    if file.declared(("state", "backend")) != "azurerm":
        return
    account, container = file.declared(("state", "storage_account")), file.declared(("state", "container"))
    if account and container:
        yield (account, container), f"'{account}/{container}'", ("state", "container")


def _single(*path: str, kinds=(str,)) -> Callable:
    def claims(file) -> Iterator[Claim]:
        value = file.declared(path, kinds)
        if value is not None:
            yield ((_fold(value) if isinstance(value, str) else value),), (f"'{value}'" if isinstance(value, str) else str(value)), path
    return claims


def _github_subject(file) -> Iterator[Claim]:
    base = ("principals", "service_principal", "ci_oidc", "github")
    repository = file.declared(base + ("repository",))
    environment, branch = file.declared(base + ("environment",)), file.declared(base + ("branch",))
    if repository and (environment is None) != (branch is None):
        subject = (f"repo:{repository}:environment:{environment}" if environment
                   else f"repo:{repository}:ref:refs/heads/{branch}")
        yield (subject,), f"'{subject}'", base + (("environment",) if environment else ("branch",))


def _azure_devops_subject(file) -> Iterator[Claim]:
    base = ("principals", "service_principal", "ci_oidc", "azure_devops")
    parts = [file.declared(base + (name,)) for name in ("organization", "project", "service_connection")]
    if all(parts):
        subject = "sc://" + "/".join(parts)
        yield (subject,), f"'{subject}'", base + ("service_connection",)


def _serving_endpoints(file) -> Iterator[Claim]:
    """Endpoint names are unique within a workspace: one shared by two files (same id, or same Azure resource)
    cannot hold both environments' endpoints."""
    workspaces = []
    workspace_id = file.declared(("workspace", "id"), (int,))
    if workspace_id is not None:
        workspaces.append(("id", workspace_id))
    parts = [file.declared(path) for path in (("azure", "subscription_id"), ("azure", "resource_group"),
                                              ("workspace", "name"))]
    if all(parts):
        workspaces.append(("resource", *map(_fold, parts)))
    for name, path in _endpoint_names(file):
        for workspace in workspaces if name else ():
            yield (workspace, name), f"'{name}' in the same workspace", path


def _endpoint_names(file) -> Iterator[tuple[str, tuple]]:
    """(name, YAML path) of every endpoint the file declares: its `serving` entries and its models' own (derived
    names too, once the file validated; only explicit `models.<name>.serving.endpoint` names otherwise)."""
    env = getattr(file, "env", None)
    if env is not None:
        for endpoint in env.endpoints:
            path = env.path_of("endpoint", endpoint.name)
            yield endpoint.name, path + (("name",) if path[0] == "serving" else ())
        return
    data = file.data if isinstance(file.data, dict) else {}
    endpoints = data.get("serving")
    for index in range(len(endpoints) if isinstance(endpoints, list) else 0):
        yield file.declared(("serving", index, "name")), ("serving", index, "name")
    models = data.get("models")
    for model in models if isinstance(models, dict) else ():
        yield file.declared(("models", model, "serving", "endpoint")), ("models", model, "serving", "endpoint")


# What must belong to one environment: (what the message calls it, the claims of a file).
ISOLATED: list[tuple[str, Callable]] = [
    ("resource group", _resource_group),
    ("Terraform state container", _state_container),
    ("workspace", _single("workspace", "name")),
    ("workspace id", _single("workspace", "id", kinds=(int,))),
    ("storage account", _single("storage", "account_name")),
    ("catalog", _single("unity_catalog", "catalog")),
    ("service principal", _single("principals", "service_principal", "name")),
    ("GitHub OIDC subject", _github_subject),
    ("Azure DevOps OIDC subject", _azure_devops_subject),
    ("serving endpoint", _serving_endpoints),
]


def promotion_rank(files) -> dict[str, int]:
    """Environment name -> steps from the start of its promotion path, read from each file's raw
    `promotion.from` (valid or not); a cycle or an unknown source stops the count."""
    sources = {}
    for file in files:
        promotion = file.data.get("promotion") if isinstance(file.data, dict) else None
        source = promotion.get("from") if isinstance(promotion, dict) else None
        sources[file.name] = source if isinstance(source, str) else None

    def depth(name: str) -> int:
        steps, current = 0, sources.get(name)
        while current in sources and steps < len(sources):
            steps, current = steps + 1, sources[current]
        return steps

    return {name: depth(name) for name in sources}


def in_promotion_order(files) -> list:
    """Sources before targets (dev, staging, qa, prod); files at the same depth by file name."""
    rank = promotion_rank(files)
    return sorted(files, key=lambda f: (rank[f.name], f.source.file, f.name))


def isolation_problems(files, account=None) -> list[Problem]:
    """Every isolated value two files share, blamed on the later file in promotion order. `account` is the
    account file (its state container is claimed first: the account stack deploys before any environment)."""
    claimants = ([account] if account is not None and account.data is not None else []) + in_promotion_order(files)
    problems, reported = [], set()
    for what, claims in ISOLATED:
        owners: dict[tuple, tuple] = {}
        for file in claimants:
            if file is account and claims is not _state_container:
                continue
            for key, text, path in claims(file):
                owner = owners.setdefault(key, (file, path))
                if owner[0] is file or (file.source.file, path) in reported:
                    continue  # a file repeating its own value is that file's business (its model checks it)
                reported.add((file.source.file, path))
                problems.append(file.source.problem(path, f"{what} {text} is already used by "
                                                          f"{owner[0].locate(*owner[1])}"))
    return problems + overlapping_networks(in_promotion_order(files))


def _network(file):
    cidr = file.declared(("workspace", "vnet", "cidr"))
    if cidr is None:
        return None
    try:
        return ipaddress.ip_network(cidr)
    except ValueError:
        return None


def overlapping_networks(files) -> list[Problem]:
    """VNet ranges of two environments never overlap (peering and private endpoints need distinct ranges)."""
    problems, seen = [], []
    path = ("workspace", "vnet", "cidr")
    for file in files:
        network = _network(file)
        if network is None:
            continue
        for other, other_network in seen:
            # Only networks of one family compare (IPv6 is refused by the model, but never a TypeError here).
            if network.version == other_network.version and network.overlaps(other_network):
                problems.append(file.source.problem(path,
                                f"{network} overlaps {other.name}'s VNet {other_network} ({other.locate(*path)})"))
        seen.append((file, network))
    return problems
