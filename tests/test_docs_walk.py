"""Commands in the docs are tests: every ```shell / ```bash block of the README's first walk and of the tutorials
runs here, in order, in a throwaway copy of the project (a git repository of its own, so lineage is real), and its
exit code is checked. A block that cannot run here is marked in the page's source, right before it:

    <!-- not-run: why (e.g. needs a live Azure subscription) -->     skipped, and listed by the test
    <!-- expect-exit: 7 (why) -->                                    runs; must exit with that code

`lakegate` is the installed console script when it runs this repository's code, otherwise a shim that runs
`<python> <copy>/main.py "$@"`. Ports are free ones (the documented 8080 is replaced), and the local registry is
stopped at the end even when a block fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The pages whose blocks run, in this order (one project copy walks them all).
TUTORIALS = ("docs/first-deploy.md", "docs/ci-setup.md", "docs/adding-an-environment.md", "docs/adding-a-model.md")
WALK_HEADING = "## A first walk"
DOCUMENTED_PORT = "8080"
FENCE = re.compile(r"^```(shell|bash)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARK = re.compile(r"<!--\s*(not-run|expect-exit):\s*(.*?)\s*-->", re.S)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    not_run: str | None = None   # the reason, when marked
    expect: int = 0

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def _marks_before(text: str, start: int) -> list[tuple[str, str]]:
    """The markers in the HTML comments and blank lines right above a block (generated-block markers included)."""
    above = text[:start].rstrip("\n").split("\n")
    found = []
    while above and (not above[-1].strip() or above[-1].lstrip().startswith("<!--")):
        found += MARK.findall(above.pop())
    return found


def blocks_of(page: str, text: str, offset_line: int = 0) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        marks = dict(_marks_before(text, match.start()))
        expect = re.match(r"\d+", marks.get("expect-exit", "0"))
        found.append(Block(page, offset_line + text.count("\n", 0, match.start()) + 1, match.group(2),
                           marks.get("not-run"), int(expect.group()) if expect else 0))
    return found


def walk_section(readme: str) -> tuple[str, int]:
    start = readme.index(WALK_HEADING)
    end = readme.find("\n## ", start + len(WALK_HEADING))
    return readme[start:end if end >= 0 else len(readme)], readme.count("\n", 0, start)


def documented_blocks(root: Path = ROOT) -> list[Block]:
    section, line = walk_section((root / "README.md").read_text())
    found = blocks_of("README.md", section, line)
    for page in TUTORIALS:
        found += blocks_of(page, (root / page).read_text())
    return found


# -- what the pages hold (fast) ----------------------------------------------------------------------------------

def test_the_first_walk_fits_one_screen_and_does_what_the_issue_asks():
    section, _ = walk_section((ROOT / "README.md").read_text())
    assert len(section.splitlines()) <= 50, "the first walk must fit one screen"
    code = "\n".join(b.code for b in blocks_of("README.md", section))
    for step in ("lakegate local up", "lakegate train churn --env dev", "lakegate run churn-feature-refresh --env staging",
                 "lakegate promote churn --to staging", "lakegate run churn-feature-refresh --env prod",
                 "lakegate approvers enrol --env prod", "lakegate approve churn --env prod",
                 "lakegate promote churn --to prod", "lakegate serve churn --env prod", "curl ", '"dataframe_records"',
                 "lakegate local down"):
        assert step in code, step
    # staging's feature refresh comes before the promotion that needs it; the approval before prod's last promote
    assert code.index("churn-feature-refresh --env staging") < code.index("--to staging")
    assert code.index("lakegate approve ") < code.rindex("--to prod")


def test_blocks_that_cannot_run_here_are_marked_with_a_reason_and_listed():
    blocks = documented_blocks()
    assert len(blocks) >= 10 and all(b.code.strip() for b in blocks)
    skipped = [b for b in blocks if b.not_run is not None]
    for block in skipped:
        assert len(block.not_run) >= 10, f"{block}: say why it cannot run here"
        print(f"not run: {block} ({block.not_run})")
    # Exactly the ones that need Azure: doctor and the real deploy (the generated deploy commands).
    assert [b.page for b in skipped] == ["docs/first-deploy.md", "docs/first-deploy.md"]
    assert any("cdktf deploy account" in b.code for b in skipped)
    assert not any("cdktf deploy" in b.code for b in blocks if b.not_run is None)


def test_markers_are_read_from_the_comments_right_above_a_block():
    text = ("intro\n\n<!-- not-run: needs a live Azure subscription -->\n<!-- BEGIN X -->\n```bash\ncdktf deploy a\n```\n"
            "\n<!-- expect-exit: 7 (approval) -->\n```shell\nlakegate promote m --to prod\n```\n\n```shell\ntrue\n```\n"
            "```python\nnot run\n```\n")
    first, second, third = blocks_of("page.md", text)
    assert (first.not_run, first.expect, first.line) == ("needs a live Azure subscription", 0, 5)
    assert (second.not_run, second.expect) == (None, 7)
    assert (third.not_run, third.expect) == (None, 0)


# -- running them (one walk) -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _installed_lakegate() -> Path | None:
    """The console script, when it runs this repository's code (a script of another checkout would test that)."""
    script = Path(sys.executable).parent / "lakegate"
    spec = importlib.util.find_spec("lakegate")
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
    return script if script.is_file() and origin is not None and origin.is_relative_to(ROOT) else None


def project_copy(target: Path) -> Path:
    """The project's files (tracked and new, not ignored) in a fresh git repository with one commit."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if (ROOT / ".tools").exists():  # the Node and cdktn CLI `make` installed: synth's jsii runs on them
        (target / ".tools").symlink_to((ROOT / ".tools").resolve())
    git = {"GIT_AUTHOR_NAME": "Docs Walker", "GIT_AUTHOR_EMAIL": "docs.walker@example.com",
           "GIT_COMMITTER_NAME": "Docs Walker", "GIT_COMMITTER_EMAIL": "docs.walker@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(target), "PATH": os.environ.get("PATH", "")}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the project, as documented"]):
        subprocess.run(["git", "-C", str(target), *args], env=git, check=True, capture_output=True)
    return target


def child_environment(project: Path, bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAKEGATE_GIT_", "PYTEST_")) and k != "LAKEGATE_LINEAGE_ROOT"}
    installed = _installed_lakegate()
    if installed is None:
        shim = bin_dir / "lakegate"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{project / "main.py"}" "$@"\n')
        shim.chmod(0o755)
    else:
        (bin_dir / "lakegate").symlink_to(installed)
    # The person following the docs: git knows who they are (the tutorials commit), and they are not the approver.
    env.update({f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
                for what, value in (("NAME", "Docs Walker"), ("EMAIL", "docs.walker@example.com"))})
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", CHECKPOINT_DISABLE="1", PYTHONDONTWRITEBYTECODE="1",
               NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1")
    return env


def run_block(block: Block, project: Path, env: dict[str, str], port: int, log: Path, groups: list[int]) -> int:
    code = block.code.replace(DOCUMENTED_PORT, str(port))
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", code], cwd=project, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        groups.append(process.pid)
        try:
            return process.wait(timeout=900)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise


def test_every_documented_block_runs_in_order(tmp_path):
    project = project_copy(tmp_path / "project")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = child_environment(project, bin_dir)
    port, groups, ran = free_port(), [], []
    try:
        for index, block in enumerate(documented_blocks(project)):
            if block.not_run is not None:
                continue
            log = tmp_path / f"block-{index:02d}.log"
            code = run_block(block, project, env, port, log, groups)
            output = log.read_text()
            assert code == block.expect, f"{block} exited {code} (expected {block.expect}):\n{block.code}\n{output[-4000:]}"
            ran.append((block, output))
    finally:
        for group in groups:  # a server a block left in the background
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                pass
        subprocess.run([sys.executable, str(project / "main.py"), "local", "down"], cwd=project, env=env,
                       capture_output=True, timeout=120)
    walk = "\n".join(output for block, output in ran if block.page == "README.md")
    assert re.search(r'\{"predictions": \[[01]\]\}', walk), walk[-2000:]   # the curl got an answer from prod's champion
    assert "enrolled head.of.ml@contoso.com" in walk and "approved by head.of.ml@contoso.com" in walk
    assert "approval" in walk and "champion" in walk
    pages = {block.page for block, _ in ran}
    assert pages == {"README.md", *TUTORIALS}
    # What the tutorials wrote is there: a fourth environment, a new model, the CI pipelines.
    assert (project / "environments" / "qa.yaml").is_file() and (project / "models" / "fraud.py").is_file()
    assert (project / ".github" / "workflows" / "deploy-qa.yml").is_file()
