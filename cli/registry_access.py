"""How a command reaches the environments and the registry: the one state-folder default, the definitions
loaded before a handler runs, an adapter per environment acting as its principal, the serving hook.

Light on purpose (everything heavy is imported when called): the parser imports this for every command.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import exit_codes

DEFAULT_STATE_DIR = ".lakegate"  # the only default of --state-dir (reports write under it too)


def state_dir_option(parser, what: str = "registry, audit logs, locks") -> None:
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                        help=f"local state folder: {what} (default: {DEFAULT_STATE_DIR})")


def with_environments(handler, prepare=None):
    """A handler(args) that loads --environments (exit 2 with every located problem), runs `prepare(args)`
    (refusals before any registry call), then `handler(args, envs)`. Errors go to cli/failures.py."""

    def run(args) -> int:
        from .infra_commands import load_or_report

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow resets its logger's level when imported
        envs = load_or_report(args)
        if envs is None:
            return exit_codes.INVALID_DEFINITIONS
        if prepare is not None:
            prepare(args)
        return handler(args, envs)

    return run


def adapter_factory(args, envs):
    """`env name -> adapter` acting as that environment's service principal."""
    if getattr(args, "registry", "local") == "databricks":
        from lakegate.promotion.databricks.factory import databricks_adapter_factory

        return databricks_adapter_factory(envs)
    from lakegate.promotion.local.server import LocalRegistry

    registry = LocalRegistry(Path(args.state_dir))
    require_running(registry, args.state_dir)
    return lambda env_name: registry.adapter(envs[env_name].service_principal)


def require_running(registry, state_dir) -> None:
    from lakegate.promotion.local.server import LocalRegistryError

    if registry.status().state != "running":
        raise LocalRegistryError(f"the local registry in {state_dir} is not running: run `python main.py local up`")


def serving_hook(args, factory):
    if getattr(args, "registry", "local") == "databricks":
        from lakegate.promotion.databricks.factory import databricks_serving_hook

        return databricks_serving_hook(factory)
    return None  # the local registry's endpoints follow the champion alias (pipelines/serving/)


def audit_dir(args) -> Path:
    return Path(args.state_dir) / "audit"
