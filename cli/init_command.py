"""The handlers of `init` and `tools` (cli/project_commands.py registers them)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from . import exit_codes, output
from .project_commands import _CDKTN_WRAPPER, CDKTN_CLI_VERSION, NODE_VERSION


def cmd_init(args) -> int:
    from lakegate.infra.scaffold import ScaffoldError
    from lakegate.infra.scaffold.project import create

    from .generate_command import generated_files

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
