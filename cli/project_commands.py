"""`init DIR`: a new project repository; `tools`: Node and the cdktf CLI the synth needs, into the project's .tools/."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from . import exit_codes, output

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
    init.set_defaults(handler=cmd_init)

    tools = commands.add_parser("tools", allow_abbrev=False,
                                help="install Node and the cdktf (cdktn) CLI into the project's .tools/ from the npm "
                                     "registry (what `make tools` does): .tools/bin/cdktf synth|diff|deploy")
    tools.add_argument("--json", action="store_true", help="machine-readable output for CI")
    tools.set_defaults(handler=cmd_tools)


def cmd_init(args) -> int:
    from lakegate.infra.scaffold import ScaffoldError
    from lakegate.infra.scaffold.project import create

    from .scaffold_commands import generated_files

    def derived(envs, root: Path) -> dict[Path, str]:
        return {path: text for path, (text, _) in generated_files(envs, root, str(root / "environments")).items()}

    try:
        written = create(Path(args.directory), repository=args.repository,
                         wheel=Path(args.wheel) if args.wheel else None, derived=derived)
    except ScaffoldError as error:
        output.fail(str(error))
        return getattr(exit_codes, error.kind)
    if args.json:
        output.emit_json({"ok": True, "directory": str(Path(args.directory)), "written": written})
        return exit_codes.OK
    output.console.print(f"created {args.directory} ({len(written)} files). Next:\n"
                         f"  cd {args.directory} && git init -q && git add -A && git commit -qm 'lakegate init'\n"
                         "  make install && make check && make test")
    return exit_codes.OK


def cmd_tools(args) -> int:
    from lakegate.project import project_root

    npm = shutil.which("npm")
    if npm is None:
        output.fail("tools: npm is not on PATH (install Node's npm once; lakegate then installs its own Node)")
        return exit_codes.INVALID_REQUEST
    tools = project_root() / ".tools"
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x64"
    (tools / "bin").mkdir(parents=True, exist_ok=True)
    completed = subprocess.run([npm, "install", "--prefix", str(tools), "--no-audit", "--no-fund", "--loglevel=error",
                                "--no-save", f"node-linux-{arch}@{NODE_VERSION}", f"cdktn-cli@{CDKTN_CLI_VERSION}"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if completed.returncode != 0:
        output.fail(f"tools: npm install failed: {completed.stderr.strip().splitlines()[-1:] or completed.returncode}")
        return exit_codes.INVALID_REQUEST
    node = tools / "bin" / "node"
    node.unlink(missing_ok=True)
    node.symlink_to(Path("..") / "node_modules" / f"node-linux-{arch}" / "bin" / "node")
    wrapper = tools / "bin" / "cdktn"
    wrapper.write_text(_CDKTN_WRAPPER)
    wrapper.chmod(0o755)
    (tools / "bin" / "cdktf").unlink(missing_ok=True)
    (tools / "bin" / "cdktf").symlink_to("cdktn")
    (tools / ".installed").touch()
    if args.json:
        output.emit_json({"ok": True, "tools": str(tools), "node": NODE_VERSION, "cdktn_cli": CDKTN_CLI_VERSION})
    else:
        output.console.print(f"installed Node {NODE_VERSION} and the cdktn CLI {CDKTN_CLI_VERSION} into {tools}: "
                             f"{os.path.relpath(tools / 'bin' / 'cdktf')} synth|diff|deploy")
    return exit_codes.OK
