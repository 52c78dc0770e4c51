"""Facts-stream figures: for naive, replay and EWC over 3 seeds, final recall and recognition of the first
experience, hallucination, plateau length and the fitted power-law exponent of retention.

    python scripts/facts_report.py [--seeds 0,1,2] [--store PATH]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.facts.queries import facts_summary
from bench.lessons import FACTS_RECIPE
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

STRATEGIES = {"naive": {}, "replay": {"mem_size": 200}, "ewc": {}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--store", default=str(Path(tempfile.mkdtemp()) / "facts.duckdb"))
    args = ap.parse_args()
    store = Store(args.store)
    ids = []
    for name, params in STRATEGIES.items():
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run(RunConfig(benchmark="facts", scenario="domain", strategy=name, params=params, seed=seed,
                              **FACTS_RECIPE), store=store)
            ids.append(r["run_id"])
    s = facts_summary(store, ids)
    print("strategy  recall(exp0)    recognition(exp0)  hallucination   plateau(it)  power-law exponent (r2)")
    for r in s.itertuples():
        print(f"{r.strategy:<9} {r.recall_mean:.3f} ± {r.recall_std:.3f}   {r.recognition_mean:.3f} ± "
              f"{r.recognition_std:.3f}      {r.hallucination_mean:.3f} ± {r.hallucination_std:.3f}   "
              f"{r.plateau_mean:6.1f}       {r.exponent:.3f} ({r.r2:.2f})")


if __name__ == "__main__":
    main()
