"""`cdktf ARGS...`: the cdktf (cdktn) CLI make installs into .tools/, run from the project without its false alarms.

Run bare, the CLI prints red `[ERROR]` lines for what is no error: Terraform's "The CLI configuration file at
~/.terraformrc does not exist" (once per Terraform call, when TF_CLI_CONFIG_FILE names a missing file) and
`getaddrinfo ENOTFOUND checkpoint-api.hashicorp.com` (an update check, offline). Here it runs with update checks
off (CHECKPOINT_DISABLE, and `disable_checkpoint` in Terraform's own configuration) and, unless
TF_CLI_CONFIG_FILE names a file that exists (a provider mirror: kept as is), lakegate's Terraform CLI
configuration (cli/terraform.rc). Everything else passes through: arguments, output, exit code.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Terraform's CLI configuration for these runs (read-only, shipped beside this module: nothing is written).
TERRAFORM_RC = Path(__file__).resolve().with_name("terraform.rc")

# No update checks; Node's deprecation notices for jsii silenced as the Makefile does. A value already set is kept.
QUIET = {"CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
         "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def add_cdktf_command(commands) -> None:
    import argparse

    parser = commands.add_parser("cdktf", help="run the cdktf CLI from .tools/ (synth, list, diff, deploy...) without "
                                               "its false [ERROR] lines: no update check, a project Terraform config")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="the cdktf command and its options, as cdktf takes them")
    parser.set_defaults(handler=lambda args: run_cdktf(args.rest))


def tools_folder() -> Path:
    from lakegate.infra.preload import tools_folder as found  # $LAKEGATE_TOOLS, else the project's .tools/

    return Path(found())


def cdktf_environment(environ: dict[str, str]) -> dict[str, str]:
    """The CLI's environment: `environ` with update checks off and a Terraform CLI configuration that exists."""
    env = dict(environ)
    for name, value in QUIET.items():
        env.setdefault(name, value)
    # The user's own configuration when there is one (a provider mirror, a plugin cache): $TF_CLI_CONFIG_FILE, else
    # ~/.terraformrc; lakegate's quiet one only where Terraform would find none and complain.
    own = env.get("TF_CLI_CONFIG_FILE") or str(Path.home() / ".terraformrc")
    configured = Path(own).expanduser()
    # Absolute: Terraform runs in each stack's folder and expands no `~` (the message shows the path unexpanded).
    env["TF_CLI_CONFIG_FILE"] = str(configured.resolve() if configured.is_file() else TERRAFORM_RC)
    return env


def run_cdktf(arguments: list[str]) -> int:
    from lakegate.promotion.errors import InvalidRequest

    tools = tools_folder()
    executable = tools / "bin" / "cdktf"
    if not executable.is_file():
        raise InvalidRequest(f"the cdktf CLI is not installed at {executable}: run `lakegate tools` (`make tools`) (or set "
                             "LAKEGATE_TOOLS to the folder that holds bin/cdktf)")
    if not Path("cdktf.json").is_file():
        raise InvalidRequest(f"no cdktf.json in {Path.cwd()}: run cdktf from the project's root folder")
    return subprocess.run([str(executable.resolve()), *arguments], env=cdktf_environment(dict(os.environ))).returncode
