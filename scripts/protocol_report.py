"""Which training recipe makes split digits' end-of-experience numbers stable: the measurement behind the run defaults.

For each candidate recipe, naive, EWC and replay run on split-digits (class-incremental, 5 experiences) over seeds
0-4, and the script prints the figures issue 13 asks of the defaults: the smallest diagonal entry R[i][i] of naive and
replay (>= 0.90), replay's BWT (<= 0), the std of ACC of naive, replay and EWC (<= 0.05), and the CPU seconds of one
run's training (the one-minute demo trains six runs).

    python scripts/protocol_report.py               # every candidate, 5 seeds (about 15 minutes on one core)
    python scripts/protocol_report.py --only 'old;default' --seeds 0,1
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

CANDIDATES: dict[str, dict] = {
    # The recipe before issue 13: plain SGD at 0.1, constant, clipped at 10, every last minibatch trained on.
    "old": dict(epochs=3, lr=0.1, momentum=0.0, lr_schedule="constant", warmup=0.0, grad_clip=10.0, last_batch="keep"),
    "old + drop_small": dict(epochs=3, lr=0.1, momentum=0.0, lr_schedule="constant", warmup=0.0, grad_clip=10.0),
    "sgd 0.1 cosine": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.0, grad_clip=0.0),
    "momentum 0.9 lr 0.01 cosine": dict(lr=0.01, momentum=0.9, lr_schedule="cosine", warmup=0.0, grad_clip=0.0),
    "momentum 0.9 lr 0.02 cosine warm-up 0.5": dict(lr=0.02, momentum=0.9, lr_schedule="cosine", warmup=0.5,
                                                      grad_clip=0.0),
    "sgd 0.1 cosine clip 10": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.0, grad_clip=10.0),
    "sgd 0.1 cosine warm-up 0.5": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.5, grad_clip=0.0),
    "momentum 0.9 lr 0.01 cosine warm-up 0.5": dict(lr=0.01, momentum=0.9, lr_schedule="cosine", warmup=0.5,
                                                    grad_clip=0.0),
    "sgd 0.1 constant 10 epochs": dict(lr=0.1, momentum=0.0, lr_schedule="constant", warmup=0.0, grad_clip=0.0,
                                       epochs=10),
    "sgd 0.1 cosine 5 epochs": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.0, grad_clip=0.0, epochs=5),
    "sgd 0.1 cosine 10 epochs": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.0, grad_clip=0.0,
                                     epochs=10),
    "momentum 0.9 lr 0.01 cosine reset 10 epochs": dict(lr=0.01, momentum=0.9, lr_schedule="cosine", warmup=0.0,
                                                        grad_clip=0.0, reset_optimizer="true", epochs=10),
    "sgd 0.1 cosine 20 epochs": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.0, grad_clip=0.0,
                                     epochs=20),
    "sgd 0.1 cosine 10 epochs batch 16": dict(lr=0.1, momentum=0.0, lr_schedule="cosine", warmup=0.0,
                                              grad_clip=0.0, epochs=10, batch_size=16),
    "sgd 0.1 constant 20 epochs": dict(lr=0.1, momentum=0.0, lr_schedule="constant", warmup=0.0, grad_clip=0.0,
                                       epochs=20),
    "sgd 0.1 constant 10 epochs batch 16": dict(lr=0.1, momentum=0.0, lr_schedule="constant", warmup=0.0,
                                                grad_clip=0.0, epochs=10, batch_size=16),
    "momentum 0.9 lr 0.01 constant 20 epochs reset": dict(lr=0.01, momentum=0.9, lr_schedule="constant",
                                                          warmup=0.0, grad_clip=0.0, reset_optimizer="true",
                                                          epochs=20),
    "momentum 0.9 lr 0.01 constant 20 epochs": dict(lr=0.01, momentum=0.9, lr_schedule="constant", warmup=0.0,
                                                    grad_clip=0.0, reset_optimizer="false", epochs=20),
    "default": {},  # whatever RUN_PARAMS says today
}
STRATEGIES = ("naive", "ewc", "replay")


def measure(recipe: dict, seeds: list[int], store) -> dict:
    from bench.spec.config import RunConfig
    from bench.train.runner import run

    out: dict = {}
    for name in STRATEGIES:
        accs, bwts, diag_min, secs = [], [], [], []
        for seed in seeds:
            t0 = time.process_time()
            r = run(RunConfig(benchmark="split-digits", scenario="class", strategy=name, seed=seed, **recipe),
                    store=store)
            secs.append(time.process_time() - t0)
            if r["status"] != "finished":  # a diverged run counts as ACC 0 and fails the targets
                accs.append(0.0)
                bwts.append(float("nan"))
                diag_min.append(0.0)
                continue
            R = np.array(r["accuracy_matrix"])
            accs.append(r["metrics"]["acc"])
            bwts.append(r["metrics"]["bwt"])
            diag_min.append(float(np.diag(R).min()))
        out[name] = {"acc": np.array(accs), "bwt": np.array(bwts), "diag_min": min(diag_min),
                     "cpu_s": float(np.median(secs))}
    return out


def row(label: str, m: dict) -> str:
    ok = (m["naive"]["diag_min"] >= 0.9 and m["replay"]["diag_min"] >= 0.9 and m["replay"]["bwt"].mean() <= 0
          and all(m[s]["acc"].std(ddof=1) <= 0.05 for s in STRATEGIES))
    cells = [label, f"{m['naive']['diag_min']:.3f}", f"{m['replay']['diag_min']:.3f}",
             f"{m['replay']['bwt'].mean():+.3f}"]
    cells += [f"{m[s]['acc'].mean():.3f} ± {m[s]['acc'].std(ddof=1):.3f}" for s in STRATEGIES]
    cells += [f"{np.mean([m[s]['cpu_s'] for s in STRATEGIES]):.1f}", "yes" if ok else "no"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--only", help="candidate labels separated by ;")
    args = ap.parse_args()
    os.environ.setdefault("BENCH_TORCH_THREADS", "1")
    from bench.results.store import Store

    seeds = [int(s) for s in args.seeds.split(",")]
    store = Store(os.path.join(tempfile.mkdtemp(), "protocol.duckdb"))
    labels = args.only.split(";") if args.only else list(CANDIDATES)
    print(f"split-digits, class-incremental, seeds {seeds}; ACC mean ± std (sample std over seeds, as Compare)\n")
    print("| recipe | min R[i][i] naive | min R[i][i] replay | replay BWT | ACC naive | ACC EWC | ACC replay "
          "| CPU s/run | meets targets |")
    print("|---|---:|---:|---:|---|---|---|---:|---|")
    for label in labels:
        print(row(label, measure(CANDIDATES[label], seeds, store)), flush=True)


if __name__ == "__main__":
    main()
