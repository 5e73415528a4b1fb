"""`new environment NAME --after ENV`: ENV's file, with every value that must belong to one environment made
NAME's own, and the environment that followed ENV rewired to promote from NAME.

What is made unique (each is refused when two files share it): name, resource group, Terraform state container,
storage account, workspace name (and managed resource group when set), catalog (and the grants on it), service
principal (and every place that names it), VNet range (subnets moved with it), CI OIDC subjects, explicit serving
endpoint names. `workspace.id` is removed: it is known only after the new workspace's first deploy.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..loader import display_path, environment_files
from . import ScaffoldError
from .text import Change, Document, flow, scalar

_NAME = re.compile(r"[a-z][a-z0-9-]{1,20}")
_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


@dataclass
class Written:
    """What a scaffold writes: file -> new text (created or changed), and what changed where."""

    files: dict[Path, str] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ScaffoldError("USAGE", f"'{name}' is not a valid environment name (2-21 lowercase letters, digits, "
                                     "'-', starting with a letter)")


def renamed(value: str, old: str, new: str) -> str:
    """`rg-lakegate-staging` -> `rg-lakegate-qa`: the old environment's name as a word replaced, else appended."""
    word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])")
    return word.sub(new, value) if word.search(value) else f"{value}-{new}"


def storage_name(value: str, old: str, new: str, taken: set[str]) -> str:
    """An Azure storage account name (3-24 lowercase letters and digits) for `new`, from `old`'s."""
    old_part, new_part = re.sub("[^a-z0-9]", "", old), re.sub("[^a-z0-9]", "", new)
    base = value[: -len(old_part)] if old_part and value.endswith(old_part) else value.replace(old_part, "", 1)
    base = base or "st"
    candidate, counter = (base[: 24 - len(new_part)] + new_part)[:24], 1
    while candidate in taken:
        suffix = f"{new_part}{counter}"
        candidate, counter = base[: 24 - len(suffix)] + suffix, counter + 1
    return candidate


def catalog_name(name: str) -> str:
    return name.replace("-", "_")


def free_network(cidr: str, used: list[str]) -> ipaddress.IPv4Network:
    """The next network of `cidr`'s size after it that overlaps none of `used`, inside its private range."""
    network = ipaddress.ip_network(cidr)
    others = [ipaddress.ip_network(u) for u in used]
    block = next((b for b in _PRIVATE if network.subnet_of(b)), ipaddress.ip_network("0.0.0.0/0"))
    size, start = network.num_addresses, int(network.network_address)
    candidate = start + size
    while candidate + size - 1 <= int(block.broadcast_address):
        trial = ipaddress.ip_network((candidate, network.prefixlen))
        if not any(trial.overlaps(o) for o in others):
            return trial
        candidate += size
    raise ScaffoldError("INVALID_DEFINITIONS", f"no free /{network.prefixlen} left in {block} after {network}: "
                                               "give the new environment's workspace.vnet by hand")


def moved(subnet: str, old: ipaddress.IPv4Network, new: ipaddress.IPv4Network) -> str:
    net = ipaddress.ip_network(subnet)
    offset = int(net.network_address) - int(old.network_address)
    return str(ipaddress.ip_network((int(new.network_address) + offset, net.prefixlen)))


def plan_environment(directory: Path, envs, name: str, after: str, production: bool = False) -> Written:
    """The files `new environment` writes (nothing is written here)."""
    files = {p.stem: p for p in environment_files(directory)}
    target = directory / f"{name}.yaml"
    if name in files or target.exists():
        where = display_path(files.get(name, target))
        raise ScaffoldError("INVALID_DEFINITIONS", f"{where}: environment '{name}' already exists")
    src = envs[after]
    doc = Document(files[after], display_path(files[after]), shown_as=display_path(target))
    others = [e for e in envs]
    _identity(doc, src, name, after, production, others)
    _catalog(doc, src, name)
    _principal(doc, src, name, after)
    _network(doc, src, others)
    _endpoints(doc, src, name, after)
    evaluation = _own_holdout(doc, src, name) if src.promotion.from_env is None and src.models else None
    _promotion(doc, after, evaluation)
    doc.prepend(f"# {name}: created from {files[after].name} by `python main.py new environment {name} --after {after}`"
                f" (the comments below are {after}'s).\n")
    out = Written(files={target: doc.rendered()}, created=[target], changes=list(doc.changes))
    for env in envs:
        if env.promotion.from_env == after:
            follower = Document(files[env.name], display_path(files[env.name]))
            follower.set(("promotion", "from"), name)
            out.files[files[env.name]] = follower.rendered()
            out.changes += follower.changes
    if not any(env.promotion.from_env == after for env in envs):
        out.notes.append(f"no environment promoted from {after}: {name} is the end of the promotion path")
    return out


def _identity(doc: Document, src, name: str, after: str, production: bool, others) -> None:
    doc.set(("name",), name)
    if doc.get("description") is not None:
        doc.set(("description",), f"Created from {after} (say what {name} is for)")
    if doc.get("production") is not None:
        doc.set(("production",), production)
    elif production:
        anchor = ("owner",) if doc.get("owner") is not None else ("name",)
        doc.insert_lines(doc.after_line_of(doc.source.spans[anchor][1]), "production: true\n", ("production",), True)
    doc.set(("azure", "resource_group"), renamed(src.azure.resource_group, after, name))
    if doc.get("state", "container") is not None:
        doc.set(("state", "container"), f"tfstate-{name}")
    taken = {e.storage.account_name for e in others}
    doc.set(("storage", "account_name"), storage_name(src.storage.account_name, after, name, taken))
    doc.set(("workspace", "name"), renamed(src.workspace.name, after, name))
    if doc.get("workspace", "managed_resource_group") is not None:
        doc.set(("workspace", "managed_resource_group"), renamed(src.workspace.managed_resource_group, after, name))
    if doc.get("workspace", "id") is not None:
        doc.remove(("workspace", "id"), comment=f"id: the `workspace_id` output of {name}-azure, after its first "
                                                f"deploy (guardrail LG-UC-002 says what waits for it)")


def _catalog(doc: Document, src, name: str) -> None:
    old, new = src.unity_catalog.catalog, catalog_name(name)
    doc.set(("unity_catalog", "catalog"), new)
    for index, grant in enumerate(doc.get("grants") or []):
        on = grant.get("on") if isinstance(grant, dict) else None
        if not isinstance(on, str):
            continue
        kind, _, securable = on.strip().partition(" ")
        securable = securable.strip()
        if securable == old or securable.startswith(old + "."):
            doc.set(("grants", index, "on"), f"{kind} {new}{securable[len(old):]}")
        elif kind in ("external_location", "storage_credential") and securable.startswith(old + "_"):
            doc.set(("grants", index, "on"), f"{kind} {new}{securable[len(old):]}")


def _principal(doc: Document, src, name: str, after: str) -> None:
    old = src.service_principal
    new = renamed(old, after, name)
    for path, value in list(doc.walk()):
        if value == old:
            doc.set(path, new)
    for path in list(doc.source.key_spans):
        if path[-1] == old:
            doc.rename_key(path, new)
    oidc = ("principals", "service_principal", "ci_oidc")
    github = doc.get(*oidc, "github")
    if isinstance(github, dict) and github.get("environment") is not None:
        doc.set(oidc + ("github", "environment"), name)
    elif isinstance(github, dict) and github.get("branch") is not None:
        # A branch subject is shared by every environment that deploys from that branch: give NAME its own.
        doc.rename_key(oidc + ("github", "branch"), "environment")
        doc.set(oidc + ("github", "branch"), name)
    connection = doc.get(*oidc, "azure_devops", "service_connection")
    if isinstance(connection, str):
        doc.set(oidc + ("azure_devops", "service_connection"), renamed(connection, after, name))


def _network(doc: Document, src, others) -> None:
    vnet = src.workspace.vnet
    if vnet is None:
        return
    used = [e.workspace.vnet.cidr for e in others if e.workspace.vnet is not None]
    old = ipaddress.ip_network(vnet.cidr)
    new = free_network(vnet.cidr, used)
    doc.set(("workspace", "vnet", "cidr"), str(new))
    for subnet in ("public_subnet", "private_subnet"):
        doc.set(("workspace", "vnet", subnet), moved(getattr(vnet, subnet), old, new))


def _endpoints(doc: Document, src, name: str, after: str) -> None:
    """Endpoint names written out (derived ones are `<model>-<env>` already); nothing refers to them by name."""
    for model, spec in src.models.items():
        if spec.serving is not None and spec.serving.endpoint:
            doc.set(("models", model, "serving", "endpoint"), renamed(spec.serving.endpoint, after, name))
    for index, endpoint in enumerate(src.serving):
        doc.set(("serving", index, "name"), renamed(endpoint.name, after, name))


HOLDOUT = "holdout"


def _own_holdout(doc: Document, src, name: str) -> str:
    """ENV was nobody's target: its grants are for the people who train there, and the copy's gates would judge on
    a schema they read (LG-UC-003). The copy's hold-out gets its own schema, read by its principal only (as prod's)."""
    table = HOLDOUT + ".{model}_validation"
    schemas = doc.get("unity_catalog", "schemas") or []
    names = [item.get("name") if isinstance(item, dict) else item for item in schemas]
    if HOLDOUT not in names:
        comment = f"The labelled hold-out {name}'s gates judge on (only its principal reads it)"
        item = flow({"name": HOLDOUT, "comment": comment}) if isinstance(schemas[0], dict) else HOLDOUT
        doc.append_item(("unity_catalog", "schemas"), item, f"schema {HOLDOUT}")
    if isinstance(doc.get("grants"), list) and doc.get("grants"):
        principal = renamed(src.service_principal, src.name, name)
        grant = {"principal": principal, "on": f"schema {catalog_name(name)}.{HOLDOUT}",
                 "privileges": ["USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE"]}
        doc.append_item(("grants",), flow(grant), f"{principal} on schema {HOLDOUT}")
    return table


def _promotion(doc: Document, after: str, evaluation: str | None) -> None:
    promotion = doc.get("promotion")
    lines = f"from: {scalar(after)}\n" + (f"evaluation: {flow({'table': evaluation})}\n" if evaluation else "")
    if isinstance(promotion, dict) and evaluation and "evaluation" in promotion:
        raise ScaffoldError("INVALID_DEFINITIONS", f"{doc.source.locate(('promotion', 'evaluation'))}: {after} "
                                                   "names an evaluation table but is nobody's target; copy another "
                                                   "environment, or remove it")
    if isinstance(promotion, dict) and "from" in promotion:
        doc.set(("promotion", "from"), after)
    elif isinstance(promotion, dict) and promotion and ("promotion",) not in doc.source.flow:
        first = next(iter(promotion))
        start = doc.source.key_spans[("promotion", first)][0]
        indent = " " * doc.indent_of(("promotion", first))
        doc.insert_lines(start, "".join(indent + line + "\n" for line in lines.splitlines()), ("promotion", "from"),
                         after)
    elif promotion is None:
        doc.insert_lines(len(doc.text), "promotion:\n" + "".join(f"  {line}\n" for line in lines.splitlines()),
                         ("promotion", "from"), after)
    else:
        raise ScaffoldError("INVALID_DEFINITIONS", f"{doc.source.locate(('promotion',))}: promotion is written in flow "
                                                   "style; add `from` to it by hand, or write it as a block")
