"""`init DIR`: a new project repository; `tools`: Node and the cdktf CLI the synth needs, into the project's .tools/."""

from __future__ import annotations

from .failures import handler_in

NODE_VERSION = "24.22.3"      # what jsii and the cdktn CLI run on (the machine's Node may be end-of-life)
CDKTN_CLI_VERSION = "0.24.0"
_CDKTN_WRAPPER = """#!/bin/sh
# cdktn CLI on the Node it needs (>= 22.19); cdktf.json is read as usual.
here=$(cd "$(dirname "$0")" && pwd)
PATH="$here:$PATH" exec "$here/node" "$here/../node_modules/cdktn-cli/bin/cdktn" "$@"
"""


def add_project_commands(commands, common) -> None:
    init = commands.add_parser("init", allow_abbrev=False,
                               help="create a new project repository in DIR: example environments and models, "
                                    "launchers, CI pipelines, a README, a test, the pinned lakegate")
    init.add_argument("directory", metavar="DIR", help="the new project's folder (absent or empty)")
    init.add_argument("--repository", metavar="OWNER/NAME", default=None,
                      help="its GitHub repository (CI identities, job code; default: contoso/<DIR's name>)")
    init.add_argument("--wheel", metavar="FILE", default=None,
                      help="pin this lakegate wheel by its SHA-256 (where no package index serves lakegate)")
    init.add_argument("--json", action="store_true", help="machine-readable output for CI")
    init.set_defaults(handler=handler_in("init_command", "cmd_init"))

    tools = commands.add_parser("tools", allow_abbrev=False,
                                help="install Node and the cdktf (cdktn) CLI into the project's .tools/ from the npm "
                                     "registry (what `make tools` does): .tools/bin/cdktf synth|diff|deploy")
    tools.add_argument("--json", action="store_true", help="machine-readable output for CI")
    tools.set_defaults(handler=handler_in("init_command", "cmd_tools"))
