"""The stability gap on the bench's default protocol: the figures behind lesson 6, re-measured in one command.

    python scripts/stability_report.py [--strategies naive,replay] [--seeds 0,1] [--eval-every 1] [--store PATH]

Split-digits, class-incremental, run defaults but for the evaluation density (every step, as De Lange, van de Ven &
Tuytelaars, ICLR 2023). Per strategy, mean ± std over seeds: ACC (end of the stream), min-ACC, WC-ACC, anytime
accuracy, and for experience 1 its accuracy just after it was learned, its lowest accuracy while experience 2 trains
(the dip) and its accuracy at the end of experience 2 (the recovery, which the accuracy matrix sees).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.sweeps import parse_seeds
from bench.train.runner import run


def _dip(store: Store, run_id: str) -> tuple[float, float, float]:
    c = q.curve(store, run_id)
    e0 = c[c.test_exp == 0]
    learned = float(e0[(e0.kind == "end") & (e0.trained_exp == 0)].accuracy.iloc[0])
    during = e0[e0.trained_exp == 1]
    return learned, float(during.accuracy.min()), float(during[during.kind == "end"].accuracy.iloc[0])


def _fmt(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.3f}" + (f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default="naive,replay")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--eval-every", type=int, default=1)
    ap.add_argument("--store", help="results store (default: a temporary one)")
    args = ap.parse_args()
    path = Path(args.store) if args.store else Path(tempfile.mkdtemp()) / "stability.duckdb"
    store = Store(path)
    cols = ("ACC", "min-ACC", "WC-ACC", "anytime ACC", "exp 1 learned", "exp 1 lowest in exp 2", "exp 1 after exp 2")
    print(f"| strategy | {' | '.join(cols)} |\n|---|{'---|' * len(cols)}")
    for strategy in [s.strip() for s in args.strategies.split(",") if s.strip()]:
        values: list[list[float]] = [[] for _ in cols]
        for seed in parse_seeds(args.seeds):
            r = run(RunConfig(benchmark="split-digits", scenario="class", strategy=strategy, seed=seed,
                              eval_every=args.eval_every), store=store)
            if r["status"] != "finished":
                raise SystemExit(f"{strategy} seed {seed}: {r['status']} ({r['error']})")
            m = r["metrics"]
            for v, x in zip(values, (m["acc"], m["min_acc"], m["wc_acc"], m["anytime_acc"], *_dip(store, r["run_id"])),
                            strict=True):
                v.append(x)
        print(f"| {strategy} | {' | '.join(_fmt(v) for v in values)} |")
    print(f"\nstore: {path}")


if __name__ == "__main__":
    main()
