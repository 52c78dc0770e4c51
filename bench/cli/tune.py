"""The tune command: search a strategy's settings on Ray Tune under a continual-learning protocol, or several
strategies on the same budget and protocol, their chosen settings then side by side on Compare."""
from __future__ import annotations

import argparse
import json
import sys

from bench.cli.runs import _typed_run_fields, run_args
from bench.spec.params import BadInput, parse_assignments
from bench.spec.status import Status


def register(sub) -> dict:
    tp = sub.add_parser("tune", help="search settings on Ray Tune (validation or first-experiences protocol)")
    run_args(tp)  # the stream, its parameters and every run setting (fixed for all trials)
    tp.set_defaults(executor="ray")
    tp.add_argument("--strategy", help="the strategy to tune")
    tp.add_argument("--strategies", help="comma-separated strategies, each tuned on the same budget and protocol")
    tp.add_argument("--param", action="append", metavar="KEY=VALUE", help="a strategy parameter fixed for all trials")
    tp.add_argument("--search", action="append", metavar="KEY[=VALUES]",
                    help="a setting to search (strategy parameter or run setting); VALUES in the sweep grammar: "
                         "a:b uniform, 'log a b n' log-uniform, a list or a:b:step a choice; KEY alone: the "
                         "registry's range. Default: lr and the strategy's log-scaled parameters (not buffer sizes)")
    tp.add_argument("--protocol", default="validation", help="validation (default) or first-experiences")
    tp.add_argument("--first", help="first-experiences: tune on the first K experiences")
    tp.add_argument("--trials", help="trials per strategy (default 8; grid: the grid's size)")
    tp.add_argument("--algorithm", default="random", help="random (default), grid or tpe (Optuna's TPE)")
    tp.add_argument("--scheduler", default="none", help="none (default) or asha (early stopping at experience ends)")
    tp.add_argument("--asha-grace", default="2", help="ASHA's first rung, in experiences (default 2)")
    tp.add_argument("--asha-reduction", default="2", help="ASHA's reduction factor (default 2)")
    tp.add_argument("--concurrency", default="0", help="trials at once (default 0: as many as Ray's CPUs allow)")
    tp.add_argument("--seed", default="0", help="every trial's seed (default 0)")
    tp.add_argument("--search-seed", default="0", help="the search algorithm's seed (default 0)")
    tp.add_argument("--final-seeds", help="seeds of the whole-stream runs of each chosen setting, e.g. 1-3, or none "
                                          "(default: the trials' seed for first-experiences, none for validation)")
    tp.add_argument("--workers", help="CPUs of the local Ray instance (default: every core)")
    tp.add_argument("--queued", help=argparse.SUPPRESS)  # the app's queued searches: comma-separated tune ids
    return {"tune": cmd_tune}


def _int(flag: str, raw, lo: int) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadInput(f"{flag} {raw!r} is not valid: expected an integer >= {lo}") from None
    if value < lo:
        raise BadInput(f"{flag} {raw!r} is out of range: expected an integer >= {lo}")
    return value


def _search_texts(items: list[str] | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not key.strip():
            raise BadInput(f"--search {item!r} is not valid: expected KEY or KEY=VALUES")
        out[key.strip()] = text.strip() if sep else None
    return out


def requests(args) -> list:
    """One checked request per strategy (all of them before anything is stored)."""
    from bench.execute.tune.request import make_request
    from bench.spec.sweeps import parse_seeds

    if args.executor != "ray":
        raise BadInput("--executor local: tuning runs its trials on Ray (a local instance, or --ray-address)")
    names = [s.strip() for s in (args.strategies or args.strategy or "").split(",") if s.strip()]
    if not names or (args.strategy and args.strategies):
        raise BadInput("give --strategy NAME or --strategies A,B,C (one of the two)")
    if not args.benchmark or not args.scenario:
        raise BadInput("the following arguments are required: --benchmark, --scenario")
    final = args.final_seeds
    final_seeds = None if final is None else () if final.strip().lower() == "none" else tuple(
        parse_seeds(final, label="--final-seeds"))
    common = dict(
        benchmark=args.benchmark, scenario=args.scenario, search=_search_texts(args.search), protocol=args.protocol,
        first=_int("--first", args.first, 0), algorithm=args.algorithm, scheduler=args.scheduler,
        trials=_int("--trials", args.trials, 1), benchmark_params=parse_assignments(args.bench_param),
        params=parse_assignments(args.param), run=_fixed_run_settings(args), data_dir=args.data_dir,
        seed=_int("--seed", args.seed, 0), search_seed=_int("--search-seed", args.search_seed, 0),
        asha_grace=_int("--asha-grace", args.asha_grace, 1), asha_reduction=_int("--asha-reduction",
                                                                                 args.asha_reduction, 2),
        concurrency=_int("--concurrency", args.concurrency, 0), final_seeds=final_seeds)
    if len(names) > 1 and common["search"]:
        unknown = _not_everywhere(names, common["search"])
        if unknown:
            raise BadInput(unknown)
    return [make_request(strategy=name, **common) for name in names]


def _fixed_run_settings(args) -> dict:
    """The run settings given as flags (typed), without --seed: the trials' seed is the search's own."""
    seed, args.seed = args.seed, None
    try:
        return _typed_run_fields(args)
    finally:
        args.seed = seed


def _not_everywhere(names: list[str], search: dict) -> str | None:
    """A --search key that some strategy lacks (each strategy must search the same named settings)."""
    from bench.execute.tune.space import searchable
    from bench.registry import get_strategy

    for name in names:
        missing = sorted(set(search) - set(searchable(get_strategy(name))))
        if missing:
            return f"--search {missing[0]} is not a setting of {name}: with --strategies, search run settings " \
                   "(lr, epochs, ...) or tune the strategies one at a time"
    return None


def cmd_tune(args) -> int:
    from bench.execute.tune.outcome import summary
    from bench.results import tunes as T
    from bench.results.store import Store

    if args.queued:
        store = Store(args.store)
        ids = [t.strip() for t in args.queued.split(",") if t.strip()]
        reqs = []
        for tune_id in ids:
            row = T.tune_row(store, tune_id)
            if row is None:
                raise BadInput(f"--queued {tune_id!r}: no such search in the store")
            from bench.execute.tune.request import TuneRequest

            reqs.append(TuneRequest.from_json(row["spec_json"]))
    else:
        reqs = requests(args)
        store = Store(args.store)
        ids = [None] * len(reqs)
    workers = _int("--workers", args.workers, 1)
    from bench.execute.tune import driver

    done = []
    for req, tune_id in zip(reqs, ids, strict=True):
        if tune_id is not None and T.tune_row(store, tune_id)["status"] != Status.QUEUED:
            continue  # cancelled before it started
        print(f"tune {req.strategy}: {req.trials} trials, {req.algorithm}, protocol {req.protocol} "
              f"({req.objective})", file=sys.stderr, flush=True)
        done.append(driver.search(store, req, tune_id=tune_id, address=args.ray_address, num_cpus=workers))
    driver.run_finals(store, done, address=args.ray_address)
    results = [summary(store, t) for t in done]
    emit(results, as_json=args.json)
    return 0 if results and all(r["status"] == Status.FINISHED for r in results) else 1


def _fmt(v, std=None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" + (f" ± {std:.3f}" if std is not None else "")


def setting_text(setting: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items())


def table(results: list[dict]) -> list[str]:
    """The side-by-side table (markdown) of tuned strategies: budget, wall time, chosen setting, its objective
    (validation) and its test ACC (whole stream, reported)."""
    lines = ["| strategy | trials (finished) | wall time | chosen setting | objective: val ACC | test ACC (whole "
             "stream) |", "|---|---|---:|---|---:|---:|"]
    for r in results:
        n_done = sum(t["outcome"] == "finished" for t in r["trials"])
        best = r.get("best") or {}
        final = r.get("final")
        if final and final["n_finished"]:
            test = f"{_fmt(final['test_acc'], final['test_acc_std'])} (seeds {','.join(map(str, final['seeds']))})"
        elif "test_acc" in best:
            test = f"{_fmt(best['test_acc'])} (the chosen trial, seed {r['seed']})"
        else:
            test = "-"
        wall = "-" if r["wall_s"] is None else f"{r['wall_s']:.0f} s"
        lines.append(f"| {r['strategy']} | {r['budget']['trials']} ({n_done}) | {wall} | "
                     f"{setting_text(best.get('setting', {})) or '-'} | {_fmt(best.get('objective'))} | {test} |")
    return lines


def emit(results: list[dict], *, as_json: bool) -> None:
    from bench.execute.tune.outcome import compare_groups

    groups = compare_groups(results)
    if as_json:
        for r in results:
            print(json.dumps(r), flush=True)
        if len(results) > 1:
            print(json.dumps({"compare_groups": groups, "budget": results[0]["budget"]}), flush=True)
        return
    for r in results:
        print(f"{r['strategy']}: {r['status']} · protocol {r['protocol']} · objective: {r['objective']} · "
              f"space: {'; '.join(f'{k} {v}' for k, v in r['space'].items())}")
        if r["error"]:
            print(f"  error: {r['error']}")
        if r.get("best") and r["best"].get("ties", 1) > 1:
            print(f"  note: {r['best']['ties']} trials tie at the best objective; the earliest was chosen")
        if r.get("best") and r["best"].get("at_edge"):
            print(f"  note: the chosen {', '.join(r['best']['at_edge'])} lies at the edge of its searched range: "
                  "the best may lie beyond it (widen the range with --search)")
    if results:
        b = results[0]["budget"]
        print(f"budget per strategy: {b['trials']} trials of {b['experiences_per_trial']} experiences "
              f"({b['epochs_per_experience']} epochs each), {b['algorithm']}, {b['scheduler']}")
    print("\n".join(table(results)))
    if groups:
        print(f"Compare them: open the app at /?groups={','.join(groups)}")
