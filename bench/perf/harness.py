"""Performance harness: the same continual-learning work done three ways, in one process, timed side by side.

    python -m bench.perf                 # the full table (a few minutes)
    python -m bench.perf --quick         # a smoke version for CI (seconds, once torch and Avalanche are imported)
    python -m bench.perf --json          # ... and, as the last line, one JSON object with every figure
    python -m bench.perf --device cuda --workloads resnet18-cifar [--bf16]   # the ResNet-18 workload on a GPU

The ways (bench/perf/ways.py), on the same stream, model, optimizer (SGD), batch size, epochs and evaluation
schedule (the end-of-experience accuracy matrix and a dense evaluation every K training iterations, K as the runner
picks it):

1. plain     a plain PyTorch loop written here: tensors on the device, a randperm per epoch, accuracy on every
             test experience under torch.no_grad().
2. avalanche Avalanche as shipped: Naive over its DataLoader path, an EvaluationPlugin with accuracy and
             forgetting metrics (no loggers), periodic evaluation every K iterations (PeriodicEval, as shipped).
3. runner    the bench's runner (bench.runner.run), recording everything into a DuckDB store as it does for users,
             with its fast data path (bench.fastpath); `runner, fast=False` is the same with Avalanche's loader.

A workload with augmentation (resnet18-cifar: crop and flip) augments in every way: the plain loop and the runner on
the device (bench/train/augment.py), Avalanche as shipped the way its users do, with torchvision's RandomCrop and
RandomHorizontalFlip as the datasets' train transform, per sample in its DataLoader.

Times are medians over repetitions that run the ways round-robin (so background load hits them alike), after
warm-up runs. The timed span is the training phase: every experience's training with its evaluations, from the
first training step to the last end-of-experience evaluation (the runner's `train_time_s`); set-up (building the
model, the Avalanche benchmark, the strategy) is outside it. Also measured: training alone (no evaluations), one
evaluation pass alone, submit-to-first-iteration latency from the job system, and the store under load
(bench.perf_store).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from bench.perf.report import check_targets, header, render
from bench.perf.setup import (
    FULL_SIZE,
    QUICK_EPOCHS,
    WORKLOADS,
    Setup,
    Workload,
    _quiet,
    parse_size,
    registered,
    synthetic_cifar_spec,
)
from bench.perf.ways import avalanche, eval_passes, plain, runner, timed_store


def measure_workload(w: Workload, device: torch.device, *, reps: int, warmup: int, full: bool,
                     tmp: Path, bf16: bool = False) -> dict:
    s = Setup(w, device, bf16=bf16 and w.model != "auto")
    store = timed_store(tmp / f"{w.name}.duckdb")
    ways: dict[str, Callable[[], dict]] = {
        "plain": lambda: plain(s),
        "avalanche": lambda: avalanche(s),
        "runner": lambda: runner(s, store),
    }
    if full:
        ways.update({
            "runner_slow": lambda: runner(s, store, fast=False),
            "plain_train": lambda: plain(s, evals=False),
            "avalanche_train": lambda: avalanche(s, metrics=False, evals=False),
            "avalanche_train_metrics": lambda: avalanche(s, metrics=True, evals=False),
            "avalanche_train_fast": lambda: avalanche(s, metrics=False, evals=False, fast=True),
        })
    samples: dict[str, list[dict]] = {k: [] for k in ways}
    last_strategy = None
    for rep in range(warmup + reps):
        for k, fn in ways.items():
            r = fn()
            if k == "avalanche":
                last_strategy = r.pop("strategy")
            r.pop("strategy", None)
            if rep >= warmup:
                samples[k].append(r)
    evals = eval_passes(s, last_strategy, n=max(5, reps * 2))
    res: dict = {"workload": w.name, "note": w.note, "benchmark": w.benchmark, "scenario": w.scenario,
                 "n_experiences": len(s.stream.experiences), "epochs": w.epochs, "batch_size": w.batch_size,
                 "eval_every": s.eval_every, "iterations": s.iterations, "train_samples": s.n_train,
                 "test_samples": sum(len(t[0]) for t in s.tests), "device": str(device), "reps": reps,
                 "model": s.cfg.model, "augment": s.cfg.augment, "normalize": s.cfg.normalize, "bf16": s.cfg.bf16,
                 "param_count": sum(p.numel() for p in s.model().parameters()), "ways": {}}
    for k, rs in samples.items():
        xs = [r["s"] for r in rs]
        entry = {"ms": 1000 * statistics.median(xs), "ms_min": 1000 * min(xs), "ms_max": 1000 * max(xs),
                 "evals": rs[0]["evals"], "iterations": rs[0]["iterations"], "acc": rs[0]["acc"],
                 "images_per_s": s.n_train * w.epochs / statistics.median(xs)}
        entry["ms_per_epoch"] = entry["ms"] / (len(s.stream.experiences) * w.epochs)
        if "io_s" in rs[0]:
            entry["store_io_ms"] = 1000 * statistics.median(r["io_s"] for r in rs)
            entry["store_io_calls"] = rs[0]["io_calls"]
            entry["compute_ms"] = 1000 * statistics.median(r["s"] - r["io_s"] for r in rs)
            entry["run_total_ms"] = 1000 * statistics.median(r["total_s"] for r in rs)
        res["ways"][k] = entry
    for k, xs in evals.items():
        res["ways"][k] = {"ms": 1000 * statistics.median(xs), "ms_min": 1000 * min(xs), "ms_max": 1000 * max(xs)}
    W = res["ways"]

    def ratio(a, b, key="ms"):
        return W[a][key] / W[b]["ms"] if a in W and b in W else None

    ratios = {
        "runner_vs_plain": ratio("runner", "plain"),
        "avalanche_vs_plain": ratio("avalanche", "plain"),
        "runner_compute_vs_plain": ratio("runner", "plain", "compute_ms"),
        "runner_slow_vs_plain": ratio("runner_slow", "plain"),
        "fast_path_speedup": (W["runner_slow"]["ms"] / W["runner"]["ms"]) if "runner_slow" in W else None,
        "avalanche_train_vs_plain": ratio("avalanche_train", "plain_train"),
        "avalanche_train_metrics_vs_plain": ratio("avalanche_train_metrics", "plain_train"),
        "avalanche_train_fast_vs_plain": ratio("avalanche_train_fast", "plain_train"),
        "avalanche_eval_vs_plain": ratio("avalanche_eval", "plain_eval"),
        "recorder_eval_vs_plain": ratio("recorder_eval", "plain_eval"),
    }
    res["ratios"] = {k: v for k, v in ratios.items() if v is not None}
    return res


# -- job-system latency ------------------------------------------------------------------------------------------------
def measure_latency(tmp: Path, n: int) -> dict:
    """Submit-to-first-iteration from the app's job system: cold (no worker yet: the first submit starts the pool,
    which imports torch and Avalanche) and warm (a pool worker already waiting)."""
    from bench.execute import jobs
    from bench.results.store import Store
    from bench.spec.config import RunConfig

    store = Store(tmp / "jobs.duckdb")
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1)
    try:
        (rid,) = jobs.submit([cfg], store=store)  # what the Launch page does: submit, then make sure a pool runs
        jobs.ensure_pool(store, workers=1)
        jobs.wait(store, [rid], timeout=300, poll=0.05)
        row = store.run_row(rid)
        cold = row["first_iteration_at"] - row["created_at"]
        warm = []
        for seed in range(1, n + 1):
            (rid,) = jobs.submit([cfg.with_seed(seed)], store=store)
            jobs.wait(store, [rid], timeout=120, poll=0.05)
            row = store.run_row(rid)
            warm.append(row["first_iteration_at"] - row["created_at"])
    finally:
        jobs.stop_pool(store)
    return {"cold_ms": 1000 * cold, "warm_ms_p50": 1000 * statistics.median(warm), "warm_ms_max": 1000 * max(warm),
            "n": n, "poll_s": jobs.POLL_S}


# -- output ---------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke mode: split-digits at 1 epoch, few repetitions, "
                                                        "a small store, no job-system latency")
    p.add_argument("--json", action="store_true", help="print one JSON object with every figure as the last line")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions per way (default 9; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up repetitions (default 2; quick 1)")
    p.add_argument("--workloads", default=None,
                   help=f"comma-separated, from {', '.join(WORKLOADS)} (default: all that apply to the device; "
                        "none: only the job-system and store figures)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--store-runs", type=int, default=None, help="synthetic runs in the store test (default 1000; "
                                                                "quick 50; 0 skips it)")
    p.add_argument("--latency", type=int, default=None, help="warm submits timed (default 5; quick 0 skips it)")
    p.add_argument("--bf16", action="store_true", help="the ResNet workload under bf16 autocast (needs CUDA)")
    p.add_argument("--size", default=None, metavar="N_TRAIN,N_TEST",
                   help=f"synthetic images of the CIFAR workloads (default {FULL_SIZE[0]},{FULL_SIZE[1]} on a GPU "
                        "in full mode, else each workload's CPU size)")
    args = p.parse_args(argv)
    args.reps = args.reps or (3 if args.quick else 9)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    store_runs = args.store_runs if args.store_runs is not None else (50 if args.quick else 1000)
    latency_n = args.latency if args.latency is not None else (0 if args.quick else 5)

    try:
        size = parse_size(args.size)
    except ValueError as exc:
        p.error(str(exc))
    from bench.train.runner import resolve_device

    device = resolve_device(args.device)
    if args.bf16 and device.type != "cuda":
        p.error("--bf16 needs a CUDA device (bf16 autocast is for the ResNets on a GPU)")
    threads = int(os.environ.get("BENCH_TORCH_THREADS", "1"))
    torch.set_num_threads(threads)  # what the runner does; every way runs under the same setting
    if args.workloads == "none":
        names = []
    elif args.workloads:
        names = [n.strip() for n in args.workloads.split(",") if n.strip()]
        unknown = [n for n in names if n not in WORKLOADS]
        if unknown:
            p.error(f"unknown workload {unknown[0]!r}: expected one of {', '.join(WORKLOADS)}")
    else:
        names = ["split-digits"] if args.quick else [n for n, w in WORKLOADS.items()
                                                      if not w.gpu_only or device.type == "cuda"]
    ctx = _quiet()
    try:
        out: dict = {"header": header(device, args), "workloads": []}
        with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmpdir:
            tmp = Path(tmpdir)
            for name in names:
                w = WORKLOADS[name]
                if args.quick:
                    w = replace(w, epochs=QUICK_EPOCHS)
                # CIFAR-sized on a GPU; a token size where the workload is forced onto a CPU (to exercise the code)
                n_train, n_test = size or (FULL_SIZE if device.type == "cuda" and not args.quick else w.cpu_size)
                with registered(synthetic_cifar_spec(n_train, n_test)):
                    out["workloads"].append(measure_workload(w, device, reps=args.reps, warmup=args.warmup,
                                                             full=not args.quick, tmp=tmp, bf16=args.bf16))
            if latency_n:
                out["latency"] = measure_latency(tmp, latency_n)
            if store_runs:
                from bench.perf.store import measure

                out["store"] = measure(tmp / "load.duckdb", n_runs=store_runs, reps=2 if args.quick else args.reps,
                                       big_groups=None if args.quick else 20)
    finally:
        ctx.__exit__(None, None, None)
    targets = check_targets(out)
    out["targets"] = {k: v for k, v in targets.items()}
    print(render(out), flush=True)
    out["targets"] = {k: {"met": bool(ok), "value": v} for k, (ok, v) in targets.items()}
    first = out["workloads"][0] if out["workloads"] else {"ratios": {}}
    out["ratios"] = dict(first["ratios"])  # the headline comparisons, on the first workload (split-digits)
    out["ratios_workload"] = first.get("workload")
    if args.json:
        print(json.dumps(out, default=float), flush=True)
    return 0

