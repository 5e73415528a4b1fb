"""Many models, many environments: `check`, cold `synth` and `report site` over 30 generated environments
holding 1 model each and 20 models each, every figure a fresh process, side by side in one run.

    python benchmarks/models.py [--environments 30] [--models 20] [--runs 3] [--json]

The 30 environments are groups of dev/staging/prod copies of the examples (benchmarks/synth.py); each model
beyond the first is a copy of churn renamed (`m01` ... `m19`: its own jobs, endpoint, tables and gates).
Targets: check <= 2 s at 30 x 20; synth time per resource at 30 x 20 <= 1.2 x that at 30 x 1 (no worse than
linear in what is synthesized); report site <= 3 s and <= 5 MB on disk at 30 x 20.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

CHECK_TARGET_S, SITE_TARGET_S, SITE_TARGET_MB, PER_RESOURCE_RATIO = 2.0, 3.0, 5.0, 1.2


def _synth_module():
    spec = importlib.util.spec_from_file_location("lakegate_bench_synth", HERE / "synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_models(directory: Path, count: int) -> None:
    """Give every environment file `count` models: the examples' own (churn, demand) and renamed copies of churn
    (their own jobs, tables, endpoint and gates; no former job names to keep). With count 1 the examples' stay."""
    for path in directory.glob("*.yaml"):
        if path.name.startswith("_"):
            continue
        text = path.read_text()
        start = text.index("\nmodels:\n") + len("\nmodels:\n")
        block = text[start:]
        churn = block[:block.index("\n  demand:\n") + 1] if "\n  demand:\n" in block else block
        copy = re.sub(r"\n    (# [^\n]*\n    )?jobs:\n(      [^\n]*\n)*", "\n", churn)  # no former job names
        held = block.count("\n  ") and len(re.findall(r"(?m)^  [a-z_]+:$", block))   # churn, demand: already there
        copies = [re.sub(r"\bchurn\b", f"m{n:02d}", copy).replace("churn_", f"m{n:02d}_")
                  for n in range(1, count - held + 1)]
        kept = churn if count == 1 else block      # 30 x 1: churn alone
        path.write_text(text[:start] + kept + "".join(copies))


def measure_all(measure, root: Path, runs: int) -> dict:
    figures = {}
    for label in ("1", "n"):
        environments = root / label / "environments"
        samples = {"check": [], "synth": [], "site": []}
        for _ in range(runs):
            samples["check"].append(measure("check", str(environments)))
            samples["synth"].append(measure("synth", str(environments)))
            samples["site"].append(measure("site", str(environments), str(root / label / "site")))
        figures[label] = {
            kind: {"wall_s": statistics.median(s["wall_s"] for s in values),
                   "peak_mb": max(s["peak_mb"] for s in values), **{k: v for k, v in values[0].items()
                                                                  if k not in ("wall_s", "peak_mb", "hwm_sum_mb")}}
            for kind, values in samples.items()}
    return figures


def child(mode: str, *args: str) -> dict:
    """What runs in the measured fresh process."""
    import contextlib
    import io

    from lakegate.cli.app import main

    if mode == "check":
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["check", "--environments", args[0]])
        return {"exit": code}
    if mode == "synth":
        out = Path(tempfile.mkdtemp(prefix="lakegate-bench-models-"))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                code = main(["synth", "--environments", args[0], "--out", str(out / "cdktf.out")])
            resources = sum(len(items) for stack in (out / "cdktf.out" / "stacks").glob("*/cdk.tf.json")
                            for items in json.loads(stack.read_text()).get("resource", {}).values())
            return {"exit": code, "resources": resources}
        finally:
            shutil.rmtree(out, ignore_errors=True)
    site = Path(args[1])
    shutil.rmtree(site, ignore_errors=True)
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", "site", "--environments", args[0], "--out", str(site)])
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6
    return {"exit": code, "site_mb": round(size, 3)}


def run(environments: int, models: int, runs: int) -> dict:
    synth = _synth_module()
    workdir = Path(tempfile.mkdtemp(prefix="lakegate-bench-models-"))

    def measure(mode: str, *args: str) -> dict:
        saved = synth.__file__
        synth.__file__ = __file__  # its measure() runs `python <this file> --child MODE ARGS` in a fresh process
        try:
            result = synth.measure(mode, *args)
        finally:
            synth.__file__ = saved
        if result.get("exit") not in (0, None):
            raise SystemExit(f"{mode} {args[0]} exited {result['exit']}")
        return result

    try:
        for label, count in (("1", 1), ("n", models)):
            directory = synth.generate_environments(workdir / label / "environments", environments)
            add_models(directory, count)
        figures = measure_all(measure, workdir, runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    one, many = figures["1"], figures["n"]
    per_resource = {k: many["synth"]["wall_s"] / many["synth"]["resources"] / (one["synth"]["wall_s"] / one["synth"]["resources"])
                    for k in ("ratio",)}["ratio"]
    return {"environments": environments, "models": models, "runs": runs, "one": one, "many": many,
            "ratios": {kind: many[kind]["wall_s"] / one[kind]["wall_s"] for kind in ("check", "synth", "site")},
            "targets": {
                "check_s": {"target": CHECK_TARGET_S, "value": many["check"]["wall_s"],
                            "met": many["check"]["wall_s"] <= CHECK_TARGET_S},
                "synth_per_resource_ratio": {"target": PER_RESOURCE_RATIO, "value": per_resource,
                                             "met": per_resource <= PER_RESOURCE_RATIO},
                "site_s": {"target": SITE_TARGET_S, "value": many["site"]["wall_s"],
                           "met": many["site"]["wall_s"] <= SITE_TARGET_S},
                "site_mb": {"target": SITE_TARGET_MB, "value": many["site"]["site_mb"],
                            "met": many["site"]["site_mb"] <= SITE_TARGET_MB}}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environments", type=int, default=30)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    result = run(args.environments, args.models, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    n, m = result["environments"], result["models"]
    print(f"{'':34} {f'{n} x 1':>16} {f'{n} x {m}':>16} {'ratio':>7}")
    for kind, label in (("check", "check"), ("synth", "cold synth"), ("site", "report site")):
        a, b = result["one"][kind], result["many"][kind]
        print(f"{label + ' (s)':34} {a['wall_s']:16.2f} {b['wall_s']:16.2f} {result['ratios'][kind]:7.2f}")
        print(f"{label + ' peak memory (MB)':34} {a['peak_mb']:16.0f} {b['peak_mb']:16.0f}")
    print(f"{'synth resources':34} {result['one']['synth']['resources']:16} {result['many']['synth']['resources']:16}")
    print(f"{'report site on disk (MB)':34} {result['one']['site']['site_mb']:16.2f} {result['many']['site']['site_mb']:16.2f}")
    for name, target in result["targets"].items():
        print(f"target {name}: {target['value']:.2f} (<= {target['target']}) {'met' if target['met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
