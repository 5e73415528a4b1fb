"""How long a gated promotion takes on the local registry, and what it costs over moving the bytes.

    python benchmarks/promotion.py [--repeat 5] [--mb 200] [--json]

Starts its own local registry (a temporary state folder, provisioned from environments/*.yaml like
`local up`), trains the example model in dev as dev's service principal, then measures, in this
process (imports already warm, as in a long-lived CI job or `make demo`):

- small model, dev -> staging, end to end: resolve, lineage check, real artifact copy, challenger,
  every staging gate (smoke inference loads the copied model), tags, champion, audit entry.
  The first promotion of the session is reported apart (it pays one-time costs: the principal's
  first password check, model-loading imports); the figure is the median of the next --repeat.
- a --mb model (random bytes in an extra artifact file): the promotion, against a raw download +
  upload of the same files through the same server as the same principal (download to disk, then
  upload into a fresh run of the target workspace; the better of two raw runs).

Targets: small model <= 1.5 s; large model promotion <= 1.3 x the raw transfer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SMALL_TARGET_S = 1.5
RATIO_TARGET = 1.3


class Bench:
    def __init__(self, envs, registry, scratch: Path):
        self.envs, self.registry, self.scratch = envs, registry, scratch

    def adapter(self, env: str):
        return self.registry.adapter(self.envs[env].service_principal)

    def password(self, env: str) -> str:
        from lakegate.promotion.local import secret_file

        return secret_file.user_password(self.registry.state_dir, self.envs[env].service_principal)

    def train(self, seed: int, padding_mb: int = 0):
        from lakegate.pipelines.training.train import train_and_register

        return train_and_register(self.registry.url, self.envs["dev"].service_principal, self.password("dev"),
                                  "dev.ml.churn", seed=seed, padding_mb=padding_mb)

    def promote(self, version: str) -> tuple[float, object]:
        from lakegate.promotion.promote import promote

        started = time.perf_counter()
        result = promote(self.envs, "churn", "staging", version=version, adapter_factory=self.adapter,
                         audit_dir=self.scratch / "audit")
        elapsed = time.perf_counter() - started
        if result.outcome != "champion":
            raise SystemExit(f"benchmark promotion did not pass its gates: {result.as_dict()}")
        return elapsed, result

    def raw_transfer(self, version: str) -> float:
        """Download the version's files to disk, then upload them into a fresh staging run."""
        from lakegate.promotion.local.transfer import artifacts
        from lakegate.promotion.local.rest import MlflowHttp

        http = MlflowHttp(self.registry.url, self.envs["staging"].service_principal, self.password("staging"),
                          timeout=600)
        started = time.perf_counter()
        source_root = artifacts.proxy_path(http.call("GET", "/api/2.0/mlflow/model-versions/get-download-uri",
                                                     workspace="dev", params={"name": "ml.churn", "version": version})
                                           ["artifact_uri"])
        files = artifacts.walk(http, source_root)
        local = Path(tempfile.mkdtemp(dir=self.scratch))
        artifacts.download_tree(http, source_root, files, local)
        target_root = artifacts.proxy_path(self._fresh_run(http)["artifact_uri"]) + "/model"

        def upload(item) -> None:
            with open(local.joinpath(*item.relpath.split("/")), "rb") as handle:
                http.upload_artifact("staging", f"{target_root}/{item.relpath}", handle)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(upload, files))
        elapsed = time.perf_counter() - started
        shutil.rmtree(local, ignore_errors=True)
        return elapsed

    @staticmethod
    def _fresh_run(http) -> dict:
        from lakegate.promotion.local.rest import HttpFailure

        try:
            experiment = http.call("GET", "/api/2.0/mlflow/experiments/get-by-name", workspace="staging",
                                   params={"experiment_name": "benchmark-raw"})["experiment"]["experiment_id"]
        except HttpFailure:
            experiment = http.call("POST", "/api/2.0/mlflow/experiments/create", workspace="staging",
                                   json={"name": "benchmark-raw"})["experiment_id"]
        return http.call("POST", "/api/2.0/mlflow/runs/create", workspace="staging",
                         json={"experiment_id": experiment, "start_time": int(time.time() * 1000)})["run"]["info"]


def refresh_features(envs, registry, env: str) -> None:
    """Run the environment's feature-refresh job, which writes the validation table its gates read."""
    from lakegate.pipelines.runner import run_job

    result = run_job(envs, env, "churn-feature-refresh", state_dir=registry.state_dir)
    if result.error is not None:
        raise SystemExit(f"{env}'s feature-refresh job failed: {result.error}")


def call_latencies(dev, version: str, samples: int = 50) -> dict:
    """Median milliseconds of single registry calls as dev's principal (a read and an alias write)."""
    figures = {}
    for label, call in (("get_version", lambda: dev.get_version("dev.ml.churn", version)),
                        ("set_alias", lambda: dev.set_alias("dev.ml.churn", "latency", version))):
        times = []
        for _ in range(samples):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        figures[label] = round(statistics.median(times) * 1000, 1)
    return figures


def measure(repeat: int, megabytes: int) -> dict:
    from lakegate.infra.loader import load_environments
    from lakegate.promotion.local.server import LocalRegistry
    from lakegate.promotion.local_access import derive_local_plan

    envs = load_environments(ROOT / "environments")
    scratch = Path(tempfile.mkdtemp(prefix="lakegate-bench-promotion-"))
    registry = LocalRegistry(scratch / "state")
    try:
        ready = registry.up(derive_local_plan(envs)).ready_seconds
        refresh_features(envs, registry, "staging")   # the metric gates judge on staging's own table
        bench = Bench(envs, registry, scratch)
        versions = [bench.train(seed=7).version for _ in range(repeat + 1)]  # same data: same accuracy
        first, _ = bench.promote(versions[0])
        small = [bench.promote(v)[0] for v in versions[1:]]
        big = bench.train(seed=7, padding_mb=megabytes).version
        raw = [bench.raw_transfer(big)]
        promoted, result = bench.promote(big)
        raw.append(bench.raw_transfer(big))
        return {
            "call_latency_ms": call_latencies(bench.adapter("dev"), versions[0]),
            "server_ready_s": ready,
            "small": {"first_s": first, "runs_s": small, "median_s": statistics.median(small),
                      "target_s": SMALL_TARGET_S, "gates": [g.gate_id for g in result.gates]},
            "large": {"megabytes": megabytes, "promotion_s": promoted, "raw_transfer_s": raw,
                      "ratio": promoted / min(raw), "target_ratio": RATIO_TARGET},
        }
    finally:
        registry.down()
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Promotion latency and large-model overhead on the local registry.")
    parser.add_argument("--repeat", type=int, default=5, help="small-model promotions to time (after a first one)")
    parser.add_argument("--mb", type=int, default=200, help="size of the large model's extra artifact")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.repeat, args.mb)
    small, large = figures["small"], figures["large"]
    figures["ok"] = small["median_s"] <= SMALL_TARGET_S and large["ratio"] <= RATIO_TARGET
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"local registry ready in {figures['server_ready_s']:.1f} s; one call as dev (median of 50): "
          + ", ".join(f"{call} {ms} ms" for call, ms in figures["call_latency_ms"].items()))
    print(f"small model dev -> staging ({len(small['gates'])} gates): median {small['median_s']:.2f} s over "
          f"{len(small['runs_s'])} runs (min {min(small['runs_s']):.2f}, max {max(small['runs_s']):.2f}; first "
          f"of the session {small['first_s']:.2f} s)  target <= {SMALL_TARGET_S} s  "
          f"{'OK' if small['median_s'] <= SMALL_TARGET_S else 'MISSED'}")
    print(f"{large['megabytes']} MB model: promotion {large['promotion_s']:.2f} s vs raw download + upload "
          f"{min(large['raw_transfer_s']):.2f} s = {large['ratio']:.2f} x  target <= {RATIO_TARGET} x  "
          f"{'OK' if large['ratio'] <= RATIO_TARGET else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
