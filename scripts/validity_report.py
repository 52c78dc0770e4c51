"""Do the bench's strategies do what their papers claim? ACC of every strategy on five streams, each claim checked.

Prints three Markdown tables (run defaults throughout; mean ± sample std over seeds):
1. ACC of every registered strategy on split-digits (class-, task-, domain-incremental), permuted-digits
   (domain-incremental) and split-mnist-lite (class-incremental), seeds 0-2; '—' where the strategy or its backbone
   does not apply.
2. Each strategy's claims (StrategySpec.claims, the same ones tests/test_effects.py checks on two seeds): its ACC
   against the baseline's on the claim's stream, seeds 0-2, and whether it holds.
3. The one-minute demo's protocol (naive, EWC, replay on split-digits, class-incremental) over seeds 0-4: every
   diagonal entry R[i][i] (its minimum), replay's BWT, the std of ACC.

    python scripts/validity_report.py                      # everything (the ViT strategies take most of the time)
    python scripts/validity_report.py --skip-slow          # without the ViT and VAE strategies
    python scripts/validity_report.py --strategies naive,si --workers 2
    python scripts/validity_report.py --strategies l2p,dualprompt,coda_prompt --claims-only   # tables 2 and 3 only
"""
from __future__ import annotations

import argparse
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np

CELLS = (("split-digits", "class"), ("split-digits", "task"), ("split-digits", "domain"),
         ("permuted-digits", "domain"), ("split-mnist-lite", "class"))
SLOW = ("l2p", "dualprompt", "coda_prompt", "vit_finetune", "generative_replay")  # tests/cases.py SLOW_STRATEGIES
DEMO_SEEDS = (0, 1, 2, 3, 4)

_STORE = None


def _run(cfg_json: str) -> tuple[str, str, list | None]:
    """One run in a worker process: (config json, status or error, accuracy matrix)."""
    global _STORE
    from bench.results.store import Store
    from bench.spec.config import RunConfig
    from bench.train.runner import run

    if _STORE is None:
        _STORE = Store(os.path.join(tempfile.mkdtemp(), f"validity-{os.getpid()}.duckdb"))
    r = run(RunConfig.from_json(cfg_json), store=_STORE)
    return cfg_json, r["error"] or r["status"], r["accuracy_matrix"] if r["status"] == "finished" else None


def _cfg(benchmark: str, scenario: str, strategy: str, seed: int, *, params=None, bench_params=None, run=None):
    from bench.registry import validate
    from bench.spec.config import RunConfig
    from bench.spec.params import BadInput

    try:
        return validate(RunConfig(benchmark=benchmark, scenario=scenario, strategy=strategy, seed=seed,
                                  params=dict(params or {}), benchmark_params=dict(bench_params or {}),
                                  **dict(run or {})))
    except BadInput:
        return None  # the strategy or its backbone does not apply to this stream


def plan(names: list[str], seeds: list[int], *, with_cells: bool = True) -> tuple[dict, dict, list]:
    """The configs of the three tables: cells[(strategy, cell)] and claims[(strategy, i)] -> (mine, theirs) lists."""
    from bench.strategies import get_strategy

    cells, claims = {}, {}
    for name in names:
        for bench, sc in CELLS if with_cells else ():
            cfgs = [_cfg(bench, sc, name, s) for s in seeds]
            cells[name, (bench, sc)] = cfgs if all(cfgs) else None
        for i, c in enumerate(get_strategy(name).claims):
            mine = [_cfg(c.benchmark, c.scenario, name, s, params=c.params, bench_params=c.bench_params, run=c.run)
                    for s in seeds]
            theirs = [_cfg(c.benchmark, c.scenario, c.against, s, params=c.against_params,
                           bench_params=c.bench_params, run=c.run) for s in seeds]
            claims[name, i] = (mine, theirs)
    demo = [_cfg("split-digits", "class", n, s) for n in ("naive", "ewc", "replay") for s in DEMO_SEEDS]
    return cells, claims, demo


def _fmt(accs: list[float]) -> str:
    return f"{np.mean(accs):.3f} ± {np.std(accs, ddof=1) if len(accs) > 1 else 0:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--strategies", help="comma-separated names (default: every registered strategy)")
    ap.add_argument("--skip-slow", action="store_true", help="leave out the ViT and VAE strategies")
    ap.add_argument("--workers", type=int, default=1, help="parallel processes (one CPU thread each)")
    ap.add_argument("--claims-only", action="store_true", help="leave out table 1 (the run-default streams)")
    args = ap.parse_args()
    os.environ.setdefault("BENCH_TORCH_THREADS", "1")
    from bench.strategies import get_strategy, strategies

    names = args.strategies.split(",") if args.strategies else [s.name for s in strategies()]
    if args.skip_slow:
        names = [n for n in names if n not in SLOW]
    seeds = [int(s) for s in args.seeds.split(",")]
    cells, claims, demo = plan(names, seeds, with_cells=not args.claims_only)
    todo = {c.to_json() for group in cells.values() if group for c in group}
    todo |= {c.to_json() for pair in claims.values() for side in pair for c in side if c}
    todo |= {c.to_json() for c in demo}
    results: dict[str, tuple[str, list | None]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for key, status, R in pool.map(_run, sorted(todo)):
            results[key] = (status, R)

    def accs(cfgs) -> list[float] | None:
        out = []
        for c in cfgs:
            status, R = results[c.to_json()]
            if R is None:
                return None
            out.append(float(np.mean(R[-1])))
        return out

    if cells:
        print(f"### ACC by stream (run defaults, seeds {','.join(map(str, seeds))}, mean ± std)\n")
        print("| strategy | " + " | ".join(f"{b} {s}" for b, s in CELLS) + " |")
        print("|---|" + "---|" * len(CELLS))
    for name in names if cells else ():
        row = []
        for cell in CELLS:
            group = cells[name, cell]
            a = accs(group) if group else None
            row.append("—" if group is None else ("failed" if a is None else _fmt(a)))
        print(f"| {name} | " + " | ".join(row) + " |")

    print(f"\n### Claims against the baseline (seeds {','.join(map(str, seeds))})\n")
    print("| strategy | claim | source | strategy ACC | baseline ACC | difference | holds |")
    print("|---|---|---|---|---|---:|---|")
    for (name, i), (mine, theirs) in claims.items():
        c = get_strategy(name).claims[i]
        a, b = (accs(mine) if all(mine) else None), (accs(theirs) if all(theirs) else None)
        if a is None or b is None:
            print(f"| {name} | {c.describe()} | {c.source} | failed | | | no |")
            continue
        diff = np.mean(a) - np.mean(b)
        print(f"| {name} | {c.describe()} | {c.source} | {_fmt(a)} | {_fmt(b)} | {diff:+.3f} | "
              f"{'yes' if diff > c.margin else 'no'} |")

    print(f"\n### The demo's protocol (split-digits class-incremental, seeds {DEMO_SEEDS[0]}-{DEMO_SEEDS[-1]})\n")
    print("| strategy | R[i][i] per seed (i = 0..4) | min R[i][i] | BWT | ACC |")
    print("|---|---|---:|---|---|")
    for name in ("naive", "ewc", "replay"):
        Rs = [np.array(results[c.to_json()][1]) for c in demo if c.strategy == name]
        diags = [np.diag(R) for R in Rs]
        bwt = [float(np.mean([R[-1, j] - R[j, j] for j in range(len(R) - 1)])) for R in Rs]
        per_seed = "; ".join(" ".join(f"{v:.2f}" for v in d) for d in diags)
        print(f"| {name} | {per_seed} | {min(d.min() for d in diags):.3f} | {_fmt(bwt)} | "
              f"{_fmt([float(R[-1].mean()) for R in Rs])} |")


if __name__ == "__main__":
    main()
