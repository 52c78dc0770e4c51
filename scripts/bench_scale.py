"""Scale figures: submit-to-first-iteration latency (warm pool vs a fresh process per run) and the wall time
of one sweep with 1 worker, the default number of workers, and a local Ray instance.

    python scripts/bench_scale.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.execute import jobs
from bench.results.store import Store
from bench.spec.config import RunConfig

QUICK = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1)
SWEEP = ["naive", "ewc", "si", "lwf", "replay", "der"]


def latency_warm(store: Store, n: int) -> list[float]:
    jobs.ensure_pool(store, workers=1)
    warm_up = jobs.submit([QUICK], store=store)  # the pool's first run pays for the imports
    jobs.wait(store, warm_up, timeout=300)
    out = []
    for seed in range(n):
        (rid,) = jobs.submit([QUICK.with_seed(seed)], store=store)
        jobs.wait(store, [rid], timeout=120, poll=0.05)
        row = store.run_row(rid)
        out.append(row["first_iteration_at"] - row["created_at"])
    jobs.stop_pool(store)
    return out


def latency_fresh(store: Store, n: int) -> list[float]:
    out = []
    for seed in range(n):
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "bench", "run", "--benchmark", "split-digits", "--scenario", "class",
                        "--strategy", "naive", "--epochs", "1", "--seed", str(seed), "--store", str(store.path),
                        "--json"], check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
        row = store.query("SELECT first_iteration_at FROM runs ORDER BY created_at DESC LIMIT 1")
        out.append(float(row.first_iteration_at[0]) - t0)
    return out


def sweep_wall(store_path: Path, *extra: str, seeds: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", "sweep", "--benchmark", "split-digits", "--scenario", "class",
                    "--strategies", ",".join(SWEEP), "--seeds", seeds, "--store", str(store_path), *extra],
                   check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 1 seed")
    args = ap.parse_args()
    n, seeds = (2, "0") if args.quick else (5, "0,1,2")
    tmp = Path(tempfile.mkdtemp())
    print(f"# scale figures: {os.cpu_count()} cores, default workers = {jobs.default_workers()}")
    warm = latency_warm(Store(tmp / "warm.duckdb"), n)
    fresh = latency_fresh(Store(tmp / "fresh.duckdb"), n)
    print(f"submit-to-first-iteration, warm pool      : median {statistics.median(warm):.3f} s "
          f"(runs: {', '.join(f'{x:.3f}' for x in warm)})")
    print(f"submit-to-first-iteration, fresh process  : median {statistics.median(fresh):.3f} s "
          f"(runs: {', '.join(f'{x:.3f}' for x in fresh)})")
    runs = len(SWEEP) * len(seeds.split(","))
    for label, extra in [("1 worker", ("--workers", "1")),
                         (f"{jobs.default_workers()} workers (default)", ()),
                         ("local Ray instance", ("--executor", "ray"))]:
        wall = sweep_wall(tmp / f"sweep-{label[:3].strip()}.duckdb", *extra, seeds=seeds)
        print(f"sweep {len(SWEEP)} strategies x {len(seeds.split(','))} seeds ({runs} runs), {label:<22}: {wall:.1f} s")


if __name__ == "__main__":
    main()
