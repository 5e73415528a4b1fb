"""Wiring for `--registry databricks`: one Unity Catalog adapter per environment, as its service principal.

A promotion into ENV runs in ENV's workspace (the source catalog is bound read-only to it, see
infra/access.py), so each environment needs its workspace URL (the `workspace_url` output of the
`<env>-azure` stack). It is found the way databricks-sdk's unified configuration finds a host, so the
variables and profiles a CI job or a person already has serve lakegate too:

1. `DATABRICKS_HOST_<ENV>` (e.g. DATABRICKS_HOST_PROD): a per-environment override, only needed where one
   process addresses several environments (`status`, `audit verify`);
2. `DATABRICKS_CONFIG_PROFILE`: that profile of the config file (`DATABRICKS_CONFIG_FILE`, default
   `~/.databrickscfg`), as the SDK reads it;
3. `DATABRICKS_HOST`: the SDK's own variable. 2 and 3 name one workspace: a CI job deploys and promotes
   one environment, so they serve the first environment a process asks for, and a second one is refused;
4. a profile named after the environment (`[prod]`) in the config file: one profile per environment,
   the natural mapping on a workstation.

A host that two of these name differently is refused, and so is a host whose workspace id
(`adb-<id>.<n>.azuredatabricks.net`) is not the environment's `workspace.id`. Credentials come from the
environment's pinned strategy, or the single one configured (promotion/credentials/), for the
environment's tenant. Errors start with `databricks:` (exit 11).
"""

from __future__ import annotations

import configparser
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from lakegate.infra.model import Environment, Environments
from lakegate.promotion.credentials import CredentialsError, databricks_config
from lakegate.promotion.registry import RegistryAdapter

from .adapter import UnityCatalogAdapter
from .serving import endpoint_settings, update_serving_endpoint

# A workspace that does not answer must fail the CLI in seconds, not after the SDK's 5-minute retry budget.
RETRY_TIMEOUT_SECONDS = 60
ERROR = "databricks"
_WORKSPACE_ID = re.compile(r"adb-(\d+)\.\d+\.azuredatabricks\.net", re.IGNORECASE)


def override_variable(env: Environment) -> str:
    """The per-environment override, DATABRICKS_HOST_<ENV> (dashes become underscores)."""
    return f"DATABRICKS_HOST_{env.name.upper().replace('-', '_')}"


def legacy_variable(env: Environment) -> str:
    return f"LAKEGATE_{env.name.upper().replace('-', '_')}_DATABRICKS_HOST"


@dataclass(frozen=True)
class WorkspaceHost:
    host: str
    source: str          # what named it, e.g. "DATABRICKS_HOST" or "profile [prod] of ~/.databrickscfg"
    job_wide: bool       # DATABRICKS_HOST / DATABRICKS_CONFIG_PROFILE: one environment per process


def _config_file() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def _profiles(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as error:
        raise CredentialsError(ERROR, f"{path} is not a valid config file ({type(error).__name__})") from None
    # Like databricks-sdk: a profile's own keys, without the DEFAULT section merged in.
    profiles = {name: dict(values) for name, values in parser._sections.items()}  # noqa: SLF001
    if parser.defaults():
        profiles["DEFAULT"] = dict(parser.defaults())
    return profiles


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


def candidate_hosts(env: Environment) -> list[WorkspaceHost]:
    """Every source that names a host for `env`, most specific first."""
    found: list[WorkspaceHost] = []
    override = os.environ.get(override_variable(env), "").strip()
    if override:
        found.append(WorkspaceHost(override, override_variable(env), False))
    path = _config_file()
    profiles = None
    wanted = os.environ.get("DATABRICKS_CONFIG_PROFILE", "").strip()
    if wanted:
        profiles = _profiles(path)
        if wanted not in profiles:
            raise CredentialsError(ERROR, f"DATABRICKS_CONFIG_PROFILE is {wanted!r}, but {_shown(path)} has no "
                                          f"[{wanted}] profile")
        host = profiles[wanted].get("host", "").strip()
        if not host:
            raise CredentialsError(ERROR, f"profile [{wanted}] of {_shown(path)} has no host")
        found.append(WorkspaceHost(host, f"profile [{wanted}] of {_shown(path)} (DATABRICKS_CONFIG_PROFILE)", True))
    job_host = os.environ.get("DATABRICKS_HOST", "").strip()
    if job_host:
        found.append(WorkspaceHost(job_host, "DATABRICKS_HOST", True))
    profiles = _profiles(path) if profiles is None else profiles
    own = profiles.get(env.name, {}).get("host", "").strip()
    if own:
        found.append(WorkspaceHost(own, f"profile [{env.name}] of {_shown(path)}", False))
    return found


def _normalised(host: str) -> str:
    host = host.strip().rstrip("/")
    return host if "://" in host else f"https://{host}"


def _check_host(env: Environment, candidate: WorkspaceHost) -> str:
    host = _normalised(candidate.host)
    if re.search(r"\$\(|\$\{\{|\$\{", candidate.host):
        raise CredentialsError(ERROR, f"{env.name}: {candidate.source} is {candidate.host!r}, a CI variable that was "
                                      "never defined (set it on the platform's environment or variable group)")
    parts = urllib.parse.urlsplit(host)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not loopback):
        raise CredentialsError(ERROR, f"{env.name}: {candidate.source} is {candidate.host!r}, not an https URL of a "
                                      "workspace")
    match = _WORKSPACE_ID.fullmatch(parts.hostname)
    if match and env.workspace.id is not None and int(match.group(1)) != int(env.workspace.id):
        raise CredentialsError(ERROR, f"{env.name}: {candidate.source} is workspace {match.group(1)}, not "
                                      f"{env.name}'s workspace {env.workspace.id} (workspace.id)")
    return host


def workspace_host(env: Environment) -> WorkspaceHost:
    """The environment's workspace, from the first source that names one; CredentialsError otherwise."""
    if os.environ.get(legacy_variable(env), "").strip():
        raise CredentialsError(ERROR, f"{env.name}: {legacy_variable(env)} is no longer read: set "
                                      f"{override_variable(env)} (or DATABRICKS_HOST in a job that acts for one "
                                      "environment)")
    candidates = candidate_hosts(env)
    if not candidates:
        raise CredentialsError(ERROR, f"{env.name}: no workspace URL: set DATABRICKS_HOST (a job for one "
                                      f"environment), {override_variable(env)}, or a [{env.name}] profile with "
                                      f"`host` in {_shown(_config_file())} (the workspace_url output of {env.name}-azure)")
    if candidates[0].source == override_variable(env):   # explicit for this environment: nothing else counts
        candidates = candidates[:1]
    checked = [(c, _check_host(env, c)) for c in candidates]
    first, host = checked[0]
    for other, other_host in checked[1:]:
        if other_host.lower() != host.lower():
            raise CredentialsError(ERROR, f"{env.name}: {first.source} ({host}) and {other.source} ({other_host}) "
                                          "name different workspaces: unset one")
    return WorkspaceHost(host, first.source, first.job_wide)


def databricks_adapter_factory(envs: Environments):
    adapters: dict[str, RegistryAdapter] = {}
    job_wide: dict[str, str] = {}   # env -> the job-wide source it took
    lock = threading.Lock()         # `status` asks for every environment at once: the job-wide check sees each

    def adapter_for(env_name: str) -> RegistryAdapter:
        with lock:
            return _adapter_for(env_name)

    def _adapter_for(env_name: str) -> RegistryAdapter:
        if env_name not in adapters:
            env = envs[env_name]
            target = workspace_host(env)
            if target.job_wide:
                others = [name for name in job_wide if name != env_name]
                if others:
                    raise CredentialsError(ERROR, f"{env_name}: {target.source} names one workspace, already used "
                                                  f"for {others[0]}; this command addresses several environments: "
                                                  f"set {override_variable(env)} (or a [{env_name}] profile) for each")
                job_wide[env_name] = target.source
            config = databricks_config(target.host, pinned=env.credentials.strategy, tenant_id=env.azure.tenant_id,
                                       retry_timeout_seconds=RETRY_TIMEOUT_SECONDS)
            adapters[env_name] = UnityCatalogAdapter(config, env.service_principal)
        return adapters[env_name]

    return adapter_for


def databricks_serving_hook(adapter_factory):
    """Point every serving endpoint of the environment that serves the model at the new champion."""

    def hook(env: Environment, full_name: str, version: str) -> None:
        client = adapter_factory(env.name).client
        for endpoint in env.endpoints:
            if env.unity_catalog.model_full_name(endpoint.model) == full_name:
                update_serving_endpoint(client, endpoint.name, full_name, version, principal=env.service_principal,
                                        settings=endpoint_settings(env, endpoint.name))  # the first champion writes it

    return hook
