"""How long `report site` takes for 3 and 30 environments, how big the report is, and how it behaves in a browser.

    python benchmarks/report.py [--runs 5] [--generated 30] [--browser] [--json]

- in process (imports warm, as in a CI job that runs several reports): load the YAML, build the site document
  (access, diff, guardrails, history), render index.html and write the folder; median of --runs;
- fresh process: `python main.py report site --environments DIR --out TMP`, what a person pays; median of --runs;
- sizes: index.html and site.json, and the number of grant rows (the longest table);
- with --browser (Chromium on PATH, driven by Playwright, never a downloaded browser): time from navigation to
  the report's script having paged every table, and the time one filter keystroke takes on the access matrix.

The 30 environments are generated as benchmarks/synth.py does (`generate_environments`: copies of the examples
with unique names, catalogs, storage accounts and VNets). No audit logs: the history section is empty in both
cases (its cost grows with the logs, not the definitions). Targets: 30 environments in <= 3 s in a fresh process,
index.html <= 5 MB, a filter keystroke <= 100 ms.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as `python benchmarks/report.py`: this folder's promotion.py must not shadow the promotion package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

FRESH_TARGET_S = 3.0
SIZE_TARGET_MB = 5.0
KEYSTROKE_TARGET_MS = 100.0


def generate(target: Path, count: int) -> Path:
    spec = importlib.util.spec_from_file_location("lakegate_bench_synth", HERE / "synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_environments(target, count)


def in_process(environments: Path, out: Path, runs: int) -> dict:
    from lakegate.infra.loader import load_environments
    from lakegate.reports.site import build_site, write_site

    walls, phases = [], []
    for _ in range(runs):
        started = time.perf_counter()
        envs = load_environments(environments)
        loaded = time.perf_counter()
        document, evidence = build_site(envs, environments_dir=environments, state_dir=out.parent / "no-state")
        built = time.perf_counter()
        write_site(document, evidence, out)
        done = time.perf_counter()
        walls.append(done - started)
        phases.append({"load_s": loaded - started, "build_s": built - loaded, "render_write_s": done - built})
    middle = sorted(range(runs), key=lambda i: walls[i])[runs // 2]
    return {"wall_s": statistics.median(walls), "wall_min_s": min(walls), **phases[middle],
            "environments": len(document["environments"]), "grants": len(document["access"]["grants"]),
            "index_mb": (out / "index.html").stat().st_size / 1e6, "data_mb": (out / "site.json").stat().st_size / 1e6}


def fresh_process(environments: Path, out: Path, runs: int) -> dict:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "main.py", "report", "site", "--environments", str(environments),
                               "--state-dir", str(out.parent / "no-state"), "--out", str(out)],
                              cwd=ROOT, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"report site failed ({done.returncode}): {done.stderr[-2000:]}")
    return {"wall_s": statistics.median(walls), "wall_min_s": min(walls)}


def in_browser(index: Path, runs: int) -> dict | None:
    chromium = next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)
    if chromium is None:
        return None
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    loads, keystrokes = [], []
    profile = Path(tempfile.mkdtemp(prefix="lakegate-bench-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(str(profile), executable_path=chromium, headless=True,
                                                                    args=flags, viewport={"width": 1440, "height": 900})
            page = context.new_page()
            for _ in range(runs):
                started = time.perf_counter()
                page.goto(index.resolve().as_uri())
                page.wait_for_selector("html[data-report-ready]")
                loads.append(time.perf_counter() - started)
                keystrokes.append(page.evaluate("""() => {
                    const box = document.querySelector('[data-controls^="access-grants"] input[data-filter="text"]');
                    const started = performance.now();
                    box.value = 'sp-lakegate-prod1'; box.dispatchEvent(new Event('input'));
                    document.querySelector('#access-grants').getBoundingClientRect();  // force layout
                    return performance.now() - started; }"""))
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return {"load_to_ready_s": statistics.median(loads), "filter_keystroke_ms": statistics.median(keystrokes)}


def run(runs: int, generated: int, browser: bool) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="lakegate-bench-report-"))
    try:
        cases = {"examples": ROOT / "environments", "generated": generate(workdir / "environments", generated)}
        result = {}
        for name, environments in cases.items():
            out = workdir / f"site-{name}"
            result[name] = {"in_process": in_process(environments, out, runs),
                            "fresh_process": fresh_process(environments, out, runs)}
            if browser:
                result[name]["browser"] = in_browser(out / "index.html", runs)
        result["generated_environments"] = generated
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--generated", type=int, default=30)
    parser.add_argument("--browser", action="store_true", help="also time loading and filtering in Chromium")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.runs, args.generated, args.browser)
    generated = result["generated"]
    result["targets"] = {
        "fresh_30_s": {"target": FRESH_TARGET_S, "ok": generated["fresh_process"]["wall_s"] <= FRESH_TARGET_S},
        "index_mb": {"target": SIZE_TARGET_MB, "ok": generated["in_process"]["index_mb"] <= SIZE_TARGET_MB},
    }
    if generated.get("browser"):
        result["targets"]["filter_keystroke_ms"] = {"target": KEYSTROKE_TARGET_MS,
                                                    "ok": generated["browser"]["filter_keystroke_ms"] <= KEYSTROKE_TARGET_MS}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("examples", "generated"):
            case = result[name]
            inner, fresh = case["in_process"], case["fresh_process"]
            print(f"{inner['environments']:>3} environments: fresh process {fresh['wall_s']:.2f} s (min {fresh['wall_min_s']:.2f}); "
                  f"in process {inner['wall_s']:.2f} s (load {inner['load_s']:.2f}, build {inner['build_s']:.2f}, "
                  f"render+write {inner['render_write_s']:.2f}); index.html {inner['index_mb']:.2f} MB, site.json "
                  f"{inner['data_mb']:.2f} MB, {inner['grants']} grant rows")
            if case.get("browser"):
                print(f"    Chromium: ready {case['browser']['load_to_ready_s']:.2f} s after navigation, a filter keystroke "
                      f"{case['browser']['filter_keystroke_ms']:.1f} ms")
        for name, target in result["targets"].items():
            print(f"target {name} <= {target['target']}: {'ok' if target['ok'] else 'MISSED'}")
    return 0 if all(t["ok"] for t in result["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
