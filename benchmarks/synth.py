"""How long a synth takes and how much memory it needs, against the floor of merely importing cdktn.

    python benchmarks/synth.py [--runs 3] [--generated 30] [--json]

Every figure comes from a fresh process (what `python main.py` and `cdktf synth` pay), launched by
this script, which samples the resident memory of the whole process tree (Python and the Node
process jsii spawns) from /proc while it runs:

- import floor: `import cdktn` + the provider packages the synth used (each loads its jsii assembly
  into Node), nothing else;
- cold synth of the 3 example environments, and of 30 generated ones (valid YAML derived from the
  examples with unique names, catalogs, storage accounts and VNet CIDRs);
- incremental: the 30 generated ones with one environment changed since the previous synth (the output
  folder is synthesized once beforehand, not measured), then a synth with nothing changed (no jsii at all);
- a profiled synth of the examples: where the time goes, phase by phase, in one process.

Targets: cold example synth <= 1.3 x the import floor; 30 with one changed <= 1.3 x the floor; no-change
synth <= 0.5 s without starting jsii; peak tree RSS <= 0.9 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "environments"
RATIO_TARGET = 1.3
NO_CHANGE_TARGET_S = 0.5
PEAK_TARGET_MB = 900
SAMPLE_SECONDS = 0.01


# --- child side: what runs in the measured process ------------------------------------------------

def _used_provider_packages() -> list[str]:
    return sorted({name.split(".")[0] for name in sys.modules if name.startswith("cdktn_provider_")})


def child_synth(environments: str) -> dict:
    """Exactly what `python main.py synth` does (YAML, guardrails, synth, atomic write), output discarded."""
    import contextlib
    import io

    from lakegate.cli.app import main

    outdir = Path(tempfile.mkdtemp(prefix="lakegate-bench-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["synth", "--environments", environments, "--out", str(outdir / "cdktf.out")])
        if code != 0:
            raise SystemExit(f"synth failed with exit code {code}")
        stacks = len(list((outdir / "cdktf.out" / "stacks").glob("*/cdk.tf.json")))
        return {"stacks": stacks, "providers": _used_provider_packages()}
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


def child_synth_into(environments: str, outdir: str) -> dict:
    """`python main.py synth --out OUTDIR`, keeping the output (incremental and no-change scenarios)."""
    import contextlib
    import io

    from lakegate.cli.app import main
    from lakegate.infra.synth_inputs import read_state

    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = main(["synth", "--environments", environments, "--out", outdir, "--json"])
    if code != 0:
        raise SystemExit(f"synth failed with exit code {code}")
    answer = json.loads(printed.getvalue())
    return {"rebuilt": len(answer["rebuilt"]), "reused": len(answer["reused"]), "jsii": "jsii" in sys.modules,
            "stacks": len(answer["stacks"]), "fingerprints": len(read_state(Path(outdir)).get("fingerprints", {}))}


def child_floor(packages: str) -> dict:
    import importlib

    from lakegate.infra.preload import use_persistent_jsii_runtime

    use_persistent_jsii_runtime()  # as the CLI does
    import cdktn  # noqa: F401

    for package in filter(None, packages.split(",")):
        importlib.import_module(package)
    return {"providers": _used_provider_packages()}


def child_profile(environments: str, packages: str) -> dict:
    """One synth in phases: imports (each provider separately), YAML, building the constructs, synth."""
    import importlib

    phases, last = {}, time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[name] = round(now - last, 3)
        last = now

    import cdktn  # noqa: F401
    mark("import cdktn")
    for package in filter(None, packages.split(",")):
        importlib.import_module(package)
        mark(f"import {package}")
    from lakegate.infra.loader import load_environments

    mark("import loader (pydantic, yaml)")
    envs = load_environments(Path(environments))
    mark("load + validate YAML")
    from lakegate.infra.synth import build_app

    per_stack = _time_stack_constructors()
    mark("import stacks")
    outdir = Path(tempfile.mkdtemp(prefix="lakegate-bench-"))
    try:
        app = build_app(envs, list(envs), outdir)
        mark("build constructs (incl. provider submodule imports)")
        for kind, seconds in per_stack.items():
            phases[f"  of which {kind} stacks"] = round(seconds, 3)
        app.synth()
        mark("app.synth() (resolve + write JSON)")
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    return {"phases": phases}


def _time_stack_constructors() -> dict[str, float]:
    """Accumulate the time spent in each stack class's constructor (the part each layer owns)."""
    from lakegate.infra.stacks.azure import AzureStack
    from lakegate.infra.stacks.databricks import DatabricksStack

    spent: dict[str, float] = {}
    for kind, cls in (("azure", AzureStack), ("databricks", DatabricksStack)):
        original = cls.__init__

        def timed(self, *args, _original=original, _kind=kind, **kwargs):
            started = time.perf_counter()
            try:
                _original(self, *args, **kwargs)
            finally:
                spent[_kind] = spent.get(_kind, 0.0) + time.perf_counter() - started

        cls.__init__ = timed
    return spent


# --- parent side: launching and measuring --------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of one process in kB; zeros once it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return rss, hwm


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until it exits.

    `peak_mb` is the highest sampled sum (what the machine had to hold at once); `hwm_sum_mb` adds
    each process's own high-water mark, an upper bound that catches peaks between two samples.
    """

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.hwm_kb, self.processes = pid, 0, {}, set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree, pending = [], [self.pid]
            while pending:
                pid = pending.pop()
                tree.append(pid)
                pending += _children(pid)
            total = 0
            for pid in tree:
                rss, hwm = _memory_kb(pid)
                total += rss
                if hwm:
                    self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
            self.processes.update(tree)
            self.peak_kb = max(self.peak_kb, total)
            self.done.wait(SAMPLE_SECONDS)

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def hwm_sum_mb(self) -> float:
        return sum(self.hwm_kb.values()) / 1024


def measure(mode: str, *args: str) -> dict:
    """Run this script in child `mode` in a fresh interpreter; wall time, tree memory, its JSON answer."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", mode, *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    if process.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise RuntimeError(f"{mode} failed (exit {process.returncode}): {tail[0]}")
    return {"wall_s": wall, "peak_mb": sampler.peak_mb, "hwm_sum_mb": sampler.hwm_sum_mb,
            "processes": len(sampler.processes), **json.loads(stdout.strip().splitlines()[-1])}


# --- generated environments ------------------------------------------------------------------------

ROLES = ("dev", "staging", "prod")  # promotion path dev -> staging -> prod inside each group


def generate_environments(target: Path, count: int) -> Path:
    """`count` valid environments: groups of dev/staging/prod copies of the examples, renamed.

    Group k renames dev/staging/prod to dev<k>/staging<k>/prod<k> everywhere (names, catalogs,
    grants, promotion, bindings, principals), gives each a unique storage account and a /16 of its own.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "_account.yaml", target / "_account.yaml")
    sources = {role: (EXAMPLES / f"{role}.yaml").read_text() for role in ROLES}
    for index in range(count):
        group, role = divmod(index, len(ROLES))
        text = sources[ROLES[role]]
        text = re.sub(r"stlakegate(dev|staging|prod)\b", lambda m: f"stlg{m.group(1)}{group}", text)
        text = re.sub(r"\b(dev|staging|prod)\b", lambda m: f"{m.group(1)}{group}", text)
        second_octet = 40 + index  # examples use 10.10-10.30; generated ones 10.40 upwards
        text = re.sub(r"\b10\.(10|20|30)\.", f"10.{second_octet}.", text)
        text = re.sub(r"\n  id: \d+\n", f"\n  id: {9_000_000_000_000_000 + index}\n", text)  # a workspace of its own
        (target / f"{ROLES[role]}{group}.yaml").write_text(text)
    return target


# --- report --------------------------------------------------------------------------------------

def run(runs: int, generated: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="lakegate-bench-envs-"))
    try:
        generated_dir = generate_environments(workdir / "environments", generated)
        first = measure("synth", str(EXAMPLES))  # also tells which provider packages a synth loads
        packages = ",".join(first["providers"])
        samples = {"floor": [], "examples": [first], "generated": [], "one_changed": [], "no_change": []}
        out = workdir / "cdktf.out"
        measure("synth_into", str(generated_dir), str(out))  # the previous output the next synths start from
        changed = generated_dir / f"{ROLES[0]}0.yaml"
        for round_ in range(runs):  # interleaved, so background load hits every scenario alike
            samples["floor"].append(measure("floor", packages))
            if round_:
                samples["examples"].append(measure("synth", str(EXAMPLES)))
            samples["generated"].append(measure("synth", str(generated_dir)))
            # One environment changes a local fact (its Log Analytics retention), then nothing changes.
            text = changed.read_text()
            changed.write_text(re.sub(r"retention_days: (\d+)", lambda m: f"retention_days: {int(m.group(1)) + 1}", text, 1))
            samples["one_changed"].append(measure("synth_into", str(generated_dir), str(out)))
            samples["no_change"].append(measure("synth_into", str(generated_dir), str(out)))
        profile = measure("profile", str(EXAMPLES), packages)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def summary(key: str) -> dict:
        walls = [s["wall_s"] for s in samples[key]]
        return {"wall_s": statistics.median(walls), "wall_min_s": min(walls),
                "peak_mb": max(s["peak_mb"] for s in samples[key]),
                "hwm_sum_mb": max(s["hwm_sum_mb"] for s in samples[key]),
                "processes": max(s["processes"] for s in samples[key]),
                "stacks": samples[key][0].get("stacks"), "runs": len(walls),
                **({"rebuilt": samples[key][0]["rebuilt"], "jsii": any(s["jsii"] for s in samples[key])}
                   if "rebuilt" in samples[key][0] else {})}

    scenarios = ("examples", "generated", "one_changed", "no_change")
    result = {"providers": first["providers"], "floor": summary("floor"),
              **{key: summary(key) for key in scenarios},
              "generated_environments": generated, "profile": profile["phases"]}
    floor = result["floor"]["wall_s"]
    for key in scenarios:
        result[key]["x_floor"] = result[key]["wall_s"] / floor
    peak = max(result[k]["peak_mb"] for k in scenarios)
    result["targets"] = {
        "examples_x_floor": {"target": RATIO_TARGET, "value": result["examples"]["x_floor"],
                             "met": result["examples"]["x_floor"] <= RATIO_TARGET},
        "one_changed_x_floor": {"target": RATIO_TARGET, "value": result["one_changed"]["x_floor"],
                                "met": result["one_changed"]["x_floor"] <= RATIO_TARGET},
        "no_change_s": {"target": NO_CHANGE_TARGET_S, "value": result["no_change"]["wall_s"],
                        "met": result["no_change"]["wall_s"] <= NO_CHANGE_TARGET_S and not result["no_change"]["jsii"]},
        "peak_mb": {"target": PEAK_TARGET_MB, "value": peak, "met": peak <= PEAK_TARGET_MB},
    }
    return result


def print_table(result: dict) -> None:
    rows = [
        (f"import floor (cdktn + {', '.join(p.removeprefix('cdktn_provider_') for p in result['providers'])})",
         result["floor"]),
        (f"synth 3 examples ({result['examples']['stacks']} stacks)", result["examples"]),
        (f"synth {result['generated_environments']} generated ({result['generated']['stacks']} stacks)",
         result["generated"]),
        (f"  the same, one environment changed ({result['one_changed']['rebuilt']} rebuilt)", result["one_changed"]),
        (f"  the same, nothing changed (jsii started: {'yes' if result['no_change']['jsii'] else 'no'})",
         result["no_change"]),
    ]
    runs = result["floor"]["runs"]
    print(f"{'':54} {'wall s':>8} {'min s':>7} {'x floor':>8} {'peak tree RSS':>14} {'sum of HWMs':>12}")
    for label, row in rows:
        ratio = f"{row['x_floor']:.2f}" if "x_floor" in row else "1.00"
        print(f"{label:54} {row['wall_s']:8.2f} {row['wall_min_s']:7.2f} {ratio:>8} "
              f"{row['peak_mb']:11.0f} MB {row['hwm_sum_mb']:9.0f} MB")
    print(f"(wall: median of {runs} fresh processes; memory: Python + Node, sampled every "
          f"{SAMPLE_SECONDS * 1000:.0f} ms from /proc; HWM sum is an upper bound)")
    targets = result["targets"]
    for label, key, unit in (("cold synth(examples) <= 1.3 x floor", "examples_x_floor", "x"),
                             ("30 generated, one changed <= 1.3 x floor", "one_changed_x_floor", "x"),
                             (f"no-change synth <= {NO_CHANGE_TARGET_S} s, no jsii", "no_change_s", "s"),
                             (f"peak <= {PEAK_TARGET_MB / 1000:.1f} GB", "peak_mb", "MB")):
        value = targets[key]["value"]
        shown = f"{value:.0f} MB" if unit == "MB" else f"{value:.2f}{' s' if unit == 's' else ''}"
        print(f"target {label}: {shown} {'met' if targets[key]['met'] else 'MISSED'}")
    print("\nwhere a synth of the examples spends its time (one process, seconds):")
    for phase, seconds in result["profile"].items():
        print(f"  {phase:58} {seconds:6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per scenario (median reported)")
    parser.add_argument("--generated", type=int, default=30, help="how many environments to generate")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, *rest = args.child
        answer = {"synth": child_synth, "synth_into": child_synth_into, "floor": child_floor,
                  "profile": child_profile}[mode](*rest)
        print(json.dumps(answer))
        return 0
    result = run(max(1, args.runs), args.generated)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
