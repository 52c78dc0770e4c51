"""Tune naive, EWC and replay on the same budget and protocol (python -m bench tune's engine on a local Ray instance)
and print the side-by-side table: trials, wall time, chosen setting, its validation ACC (the objective) and the
whole-stream test ACC of the chosen setting on fresh seeds (the number to report), with every setting used.

    python scripts/tune_report.py                       # split-digits, class-incremental, 8 random trials each
    python scripts/tune_report.py --protocols validation,first-experiences --first 2
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", default="split-digits")
    p.add_argument("--scenario", default="class")
    p.add_argument("--strategies", default="naive,ewc,replay")
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--algorithm", default="random")
    p.add_argument("--scheduler", default="none")
    p.add_argument("--protocols", default="validation")
    p.add_argument("--first", type=int, default=2, help="K of the first-experiences protocol")
    p.add_argument("--final-seeds", default="1-3", help="fresh seeds of the chosen settings' whole-stream runs")
    p.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray instance")
    p.add_argument("--store", default=None, help="default: a new store in a temporary folder")
    args = p.parse_args()

    from bench.cli.tune import setting_text, table
    from bench.execute.tune import driver
    from bench.execute.tune.outcome import compare_groups, summary
    from bench.execute.tune.request import make_request
    from bench.registry import validate
    from bench.results.store import Store
    from bench.spec.sweeps import parse_seeds

    store = Store(args.store or Path(tempfile.mkdtemp(prefix="tune-report-")) / "bench.duckdb")
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    seeds = tuple(parse_seeds(args.final_seeds, label="--final-seeds"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"store: {store.path} · bench commit {commit or 'unknown'}\n")
    for protocol in [x.strip() for x in args.protocols.split(",") if x.strip()]:
        reqs = [make_request(benchmark=args.benchmark, scenario=args.scenario, strategy=name, search={},
                             protocol=protocol, first=args.first if protocol == "first-experiences" else None,
                             algorithm=args.algorithm, scheduler=args.scheduler, trials=args.trials,
                             final_seeds=seeds) for name in names]
        t0 = time.perf_counter()
        ids = [driver.search(store, req, num_cpus=args.workers) for req in reqs]
        driver.run_finals(store, ids)
        results = [summary(store, t) for t in ids]
        base = validate(reqs[0].trial_config({})).to_dict()
        fixed = {k: v for k, v in base.items() if k not in ("benchmark", "scenario", "strategy", "params", "seed",
                                                               "data_dir", "device", "fast")}
        print(f"## {args.benchmark}, {args.scenario}-incremental, protocol {protocol}: objective "
              f"{results[0]['objective']}")
        print(f"budget per strategy: {args.trials} trials ({reqs[0].algorithm}, scheduler {args.scheduler}), "
              f"each {reqs[0].trial_experiences} experiences, trial seed {reqs[0].seed}; chosen settings rerun on "
              f"the whole stream with seeds {','.join(map(str, seeds))}")
        print(f"run settings of every trial: {json.dumps(fixed, sort_keys=True)}")
        for req, r in zip(reqs, results, strict=True):
            others = {k: v for k, v in validate(req.trial_config({})).params.items() if k not in r["space"]}
            print(f"  {r['strategy']}: searched {'; '.join(f'{k} {v}' for k, v in r['space'].items())}"
                  + (f"; fixed at the registry's defaults: {json.dumps(others)}" if others else ""))
        print()
        print("\n".join(table(results)))
        for r in results:
            print(f"  {r['strategy']}: chosen {setting_text(r['best']['setting']) if r['best'] else '-'} "
                  f"[tune {r['tune_id']}]")
        print(f"\nCompare: /?groups={','.join(compare_groups(results))} · total {time.perf_counter() - t0:.0f} s\n")


if __name__ == "__main__":
    main()
