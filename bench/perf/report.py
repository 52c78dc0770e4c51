"""The performance harness's report: header, table rendering and the check against the targets."""
from __future__ import annotations

import os
import platform

import torch

TARGETS = {"runner_vs_plain": 1.5, "runner_vs_plain_gpu": 1.1, "query_p95_ms": 200.0, "chart_bytes": 2**20}

GPU_WORKLOADS = ("cifar-synthetic", "resnet18-cifar")  # held to the GPU target (compute-bound: little to hide)
MAIN = ("plain", "avalanche", "runner")
EXTRA = ("runner_slow", "plain_train", "avalanche_train", "avalanche_train_metrics", "avalanche_train_fast")
LABELS = {
    "plain": "plain PyTorch loop",
    "avalanche": "Avalanche as shipped (DataLoader, acc+forgetting metrics)",
    "runner": "bench runner, fast path, recorded in DuckDB",
    "runner_slow": "bench runner, fast=False (Avalanche's loader)",
    "plain_train": "plain PyTorch loop",
    "avalanche_train": "Avalanche Naive, no metrics",
    "avalanche_train_metrics": "Avalanche Naive, acc+forgetting metrics",
    "avalanche_train_fast": "Avalanche Naive, no metrics, + bench fast path",
    "plain_eval": "plain: accuracy per test experience",
    "avalanche_eval": "Avalanche strategy.eval (metrics)",
    "recorder_eval": "bench recorder (acc, loss, per-class counts)",
}



def header(device: torch.device, args) -> dict:
    import avalanche
    import duckdb

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    h = {"cores": os.cpu_count(), "usable_cores": usable, "torch": torch.__version__,
         "avalanche": getattr(avalanche, "__version__", "?"), "duckdb": duckdb.__version__,
         "python": platform.python_version(), "device": str(device), "torch_threads": torch.get_num_threads(),
         "mode": "quick" if args.quick else "full", "reps": args.reps, "warmup": args.warmup}
    if device.type == "cuda":
        h["gpu"] = torch.cuda.get_device_name(device)
    return h


def _fmt(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def render(out: dict) -> str:
    h = out["header"]
    lines = [f"bench.perf ({h['mode']}): {h['cores']} cores ({h['usable_cores']} usable), torch {h['torch']} "
             f"({h['torch_threads']} thread), avalanche {h['avalanche']}, duckdb {h['duckdb']}, "
             f"python {h['python']}, device {h['device']}{' ' + h['gpu'] if 'gpu' in h else ''}; "
             f"medians of {h['reps']} runs after {h['warmup']} warm-up"]
    for r in out["workloads"]:
        W, R = r["ways"], r["ratios"]
        lines += ["", f"== {r['workload']} ({r['note']}): {r['n_experiences']} experiences, {r['epochs']} epochs, "
                      f"batch {r['batch_size']}, {r['iterations']} iterations, dense evaluation every "
                      f"{r['eval_every']} iterations, {r['train_samples']} train / {r['test_samples']} test samples, "
                      f"{r['device']}"]
        if r.get("model", "auto") != "auto":
            lines.append(f"  model {r['model']} ({r['param_count']:,} parameters), augment {r['augment']}, "
                         f"normalize {r['normalize']}, bf16 {r['bf16']}")
        rows = [("training + evaluations", k, W[k]["ms"] / W["plain"]["ms"]) for k in ("plain", "avalanche", "runner",
                                                                                       "runner_slow") if k in W]
        rows += [("training only", k, W[k]["ms"] / W["plain_train"]["ms"]) for k in
                 ("plain_train", "avalanche_train", "avalanche_train_metrics", "avalanche_train_fast") if k in W]
        rows += [("one evaluation pass", k, W[k]["ms"] / W["plain_eval"]["ms"]) for k in
                 ("plain_eval", "avalanche_eval", "recorder_eval") if k in W]
        lines.append(f"  {'':22s} {'way':58s} {'ms':>9s} {'min-max':>15s} {'x plain':>8s} {'evals':>6s} "
                     f"{'img/s':>9s} {'ACC':>6s}")
        section = None
        for sec, k, x in rows:
            e = W[k]
            lines.append(f"  {sec if sec != section else '':22s} {LABELS[k]:58s} {e['ms']:9.1f} "
                         f"{e['ms_min']:7.1f}-{e['ms_max']:<7.1f} {x:8.2f} {_fmt(e.get('evals'), 'd'):>6s} "
                         f"{_fmt(e.get('images_per_s'), '.0f'):>9s} {_fmt(e.get('acc'), '.3f'):>6s}")
            section = sec
        e = W["runner"]
        lines.append(f"  runner: store I/O inside training {e['store_io_ms']:.1f} ms ({e['store_io_calls']} accesses); "
                     f"without it {e['compute_ms']:.1f} ms = {R['runner_compute_vs_plain']:.2f}x plain; "
                     f"whole run() call {e['run_total_ms']:.1f} ms")
        if "fast_path_speedup" in R:
            lines.append(f"  fast path: runner {R['fast_path_speedup']:.2f}x faster than with Avalanche's loader")
    if out.get("latency"):
        lat = out["latency"]
        lines += ["", f"== job system: submit -> first training iteration: warm pool {lat['warm_ms_p50']:.0f} ms "
                      f"(p50 of {lat['n']}, max {lat['warm_ms_max']:.0f}; workers poll every {lat['poll_s']} s), "
                      f"cold start {lat['cold_ms']:.0f} ms (first submit starts the pool: imports torch + Avalanche)"]
    if out.get("store"):
        st = out["store"]
        lines += ["", f"== store under load: {st['n_runs']} runs, {st['rows']['evaluations']:,} evaluation rows, "
                      f"{st['rows']['class_recall']:,} class-recall rows, {st['file_mb']:.0f} MB "
                      f"(built in {st['build_s']:.1f} s)"]
        names = list(next(iter(st["selections"].values()))["queries_ms"])
        sels = st["selections"]
        lines.append(f"  {'Compare-page query':40s} " + " ".join(
            f"{name + ' p50':>14s} {name + ' p95':>14s}" for name in sels))
        for q in names:
            lines.append(f"  {q:40s} " + " ".join(
                f"{sels[n]['queries_ms'][q]['p50']:14.1f} {sels[n]['queries_ms'][q]['p95']:14.1f}" for n in sels))
        lines.append(f"  {'whole page (sum)':40s} " + " ".join(
            f"{sels[n]['page_ms']['p50']:14.1f} {sels[n]['page_ms']['p95']:14.1f}" for n in sels))
        for n, sel in sels.items():
            b = sel["chart_bytes"]
            lines.append(f"  chart payloads, {n} selection ({sel['n_groups']} groups, {sel['n_runs']} runs): "
                         + ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in b.items())
                         + f"; total {sel['chart_bytes_total'] / 1024:.0f} KB")
    lines += ["", "targets: " + "; ".join(f"{k} {'met' if ok else 'MISSED'} ({v})" for k, (ok, v) in
                                         out["targets"].items())]
    return "\n".join(lines)


def check_targets(out: dict) -> dict:
    t: dict = {}
    for r in out["workloads"]:
        x = r["ratios"]["runner_vs_plain"]
        limit = TARGETS["runner_vs_plain_gpu"] if r["workload"] in GPU_WORKLOADS else TARGETS["runner_vs_plain"]
        t[f"runner_vs_plain[{r['workload']}] < {limit}"] = (x < limit, f"{x:.2f}x")
    if out.get("store"):
        st = out["store"]
        t[f"query p95 < {TARGETS['query_p95_ms']:.0f} ms"] = (
            st["worst_query_p95_ms"] < TARGETS["query_p95_ms"],
            f"worst {st['worst_query']} {st['worst_query_p95_ms']:.0f} ms")
        t["chart payload < 1 MB"] = (st["max_chart_bytes"] < TARGETS["chart_bytes"],
                                     f"largest {st['max_chart_bytes'] / 1024:.0f} KB")
    return t


