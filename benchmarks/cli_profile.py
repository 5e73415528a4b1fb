"""`python benchmarks/cli.py --profile COMMAND`: where one command's time goes, as a fresh process.

The command runs three times after the set-up it needs (benchmarks/cli.py's Bench): plain, under `-X importtime`
(self time summed by top-level package, with the module that imported each), and under cProfile in every thread.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

# --- --profile COMMAND: the set-up it needs (run before each profiled run), then its arguments -------------

def _cold(bench, up: bool) -> tuple:
    folder = Path(tempfile.mkdtemp(dir=bench.scratch, prefix="cold-"))
    if up:
        bench.main("local", "up", state=folder)
    return ("local", "up" if not up else "down"), {"state": folder}


def _with_history(bench, *args: str) -> tuple:
    if not bench.champions:
        bench.prod_champion()
    return args, {}


def _rollback(bench) -> tuple:
    """Each rollback pops one champion off prod's history: two there before the first, one more each time."""
    for _ in range(1 if bench.champions else 2):
        bench.prod_champion()
    return ("rollback", "churn", "--env", "prod", "--json"), {}


def _up(bench, *args: str) -> tuple:
    bench.up()
    return args, {}


PROFILED = {
    "check": lambda b: (("check",), {}),
    "synth": lambda b: (("synth", "--out", tempfile.mkdtemp(dir=b.scratch) + "/out"), {}),
    "local up": lambda b: _cold(b, up=False),
    "local down": lambda b: _cold(b, up=True),
    "run": lambda b: _up(b, "run", "churn-feature-refresh", "--env", "dev", "--json"),
    "train": lambda b: _up(b, "train", "churn", "--json"),
    "promote": lambda b: (("promote", "churn", "--to", "staging", "--version", b.trained(), "--json"), {}),
    "approve": lambda b: (("approve", "churn", "--env", "prod", "--version", b.prod_challenger(), "--key", str(b.key),
                           "--json"), {}),
    "rollback": _rollback,
    "status": lambda b: _with_history(b, "status", "--json"),
    "audit verify": lambda b: _with_history(b, "audit", "verify", "--json"),
    "report history": lambda b: _with_history(b, "report", "history", "--json"),
    "report site": lambda b: _with_history(b, "report", "site", "--out", str(b.scratch / "site")),
}


# `python -m cProfile` sees the main thread only; this profiles each thread that finishes and merges them.
THREADED_PROFILE = """
import cProfile, os, pstats, sys, threading
out, script, profiles, run = sys.argv[1], sys.argv[2], [], threading.Thread.run
sys.path[0] = os.path.dirname(script)  # as `python main.py` has it (not the site's editable install)
def profiled(self):
    profile = cProfile.Profile()
    profile.runcall(run, self)
    profiles.append(profile)
threading.Thread.run = profiled
sys.argv, code, main = sys.argv[2:], 0, cProfile.Profile()
def command():  # main.py's main(), not its fast exit (cli/process_exit.py), so the profile gets written
    from lakegate.cli.app import main as cli
    return cli(sys.argv[1:])
try:
    code = main.runcall(command)
except SystemExit as exit:
    code = exit.code
stats = pstats.Stats(main)
for profile in list(profiles):
    stats.add(profile)
stats.dump_stats(out)
sys.exit(code)
"""


def imports_by_package(text: str) -> tuple[dict[str, int], dict[str, str]]:
    """-X importtime's lines: self microseconds per top-level package, and which module of another package
    imported its outermost module (importtime prints a module after its imports, one indentation deeper)."""
    rows = [(int(m.group(1)), len(m.group(2)) - len(m.group(2).lstrip()), m.group(2).strip())
            for m in re.finditer(r"import time:\s+(\d+) \|\s+\d+ \|( +\S+)", text)]
    by_package: dict[str, int] = {}
    outermost: dict[str, int] = {}
    for index, (micros, depth, module) in enumerate(rows):
        package = module.split(".")[0]
        by_package[package] = by_package.get(package, 0) + micros
        if package not in outermost or depth < rows[outermost[package]][1]:
            outermost[package] = index
    importer = {}
    for package, index in outermost.items():
        parent = next((m for _, d, m in rows[index + 1:] if d < rows[index][1]), None)
        importer[package] = f"via {parent}" if parent else ""
    return by_package, importer


def profile(bench, command: str, machine: str, top: int = 25) -> None:
    """The command once plain, once under -X importtime (imports by top-level package), once under cProfile."""
    import pstats

    args, kwargs = PROFILED[command](bench)
    wall = bench.main(*args, **kwargs)[0]
    args, kwargs = PROFILED[command](bench)
    imports = bench.main(*args, **kwargs, profile=["-X", "importtime"])[0]
    by_package, importer = imports_by_package(bench.stderr.read_text())
    total = sum(by_package.values()) / 1e6
    print(f"{command}: {wall:.2f} s as a fresh process ({machine}); imports {total:.2f} s of a "
          f"{imports:.2f} s run under -X importtime (self time summed by top-level package; first imported by):")
    for package, micros in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {micros / 1e6:7.3f} s  {package:<18} {importer.get(package, '')}")
    args, kwargs = PROFILED[command](bench)
    stats_file = bench.scratch / "profile.out"
    bench.main(*args, **kwargs, profile=["-c", THREADED_PROFILE, str(stats_file)])
    print(f"\ncProfile of every thread (the gates fetch and load in a pool), top {top} by cumulative time:")
    stats = pstats.Stats(str(stats_file))
    stats.stream = sys.stdout
    stats.sort_stats("cumulative").print_stats(top)
    # Phase by phase: lakegate's own functions (imports they trigger included), the biggest first.
    print(f"\nThe same profile, lakegate's own functions only (its phases), top {top} by cumulative time:")
    project = re.escape(str(Path(__file__).resolve().parent.parent))
    stats.sort_stats("cumulative").print_stats(rf"^{project}/(?!\.venv)", top)
