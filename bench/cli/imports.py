"""The import commands: results made elsewhere (Avalanche's CSVLogger and TensorboardLogger, a long table) as runs
of the store, with status imported."""
from __future__ import annotations

import json

from bench.spec.params import BadInput

HELP = {
    "avalanche-csv": ("DIR", "the output folder of Avalanche's CSVLogger (eval_results.csv, training_results.csv), "
                             "or a folder of such folders"),
    "tensorboard": ("DIR", "a folder of TensorBoard event files from Avalanche's TensorboardLogger (one run per file)"),
    "table": ("FILE", "a CSV or Parquet file with the columns run, strategy, seed, step, trained_experience, "
                      "eval_experience, accuracy (and optionally loss)"),
}


def register(sub) -> dict:
    imp = sub.add_parser("import", help="import results you already have as runs of the store")
    tools = imp.add_subparsers(dest="tool", required=True, parser_class=type(imp))
    for tool, (metavar, text) in HELP.items():
        t = tools.add_parser(tool, help=text, description=f"Import {text}.")
        t.add_argument("path", metavar=metavar)
        t.add_argument("--strategy", help="the strategy name to store (default: the run's folder, file or run name; "
                                          "'replay-seed2' gives replay, seed 2)")
        t.add_argument("--seed", help="the seed to store (default: from the name, else 0)")
        t.add_argument("--benchmark", help="a label for the task stream (default: imported)")
        t.add_argument("--scenario", help="class, task, domain or unknown (default: unknown)")
        t.add_argument("--store")
        t.add_argument("--json", action="store_true", help="one JSON line per imported run")
    return {"import": cmd_import}


def _seed(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadInput(f"--seed={raw!r} is not valid: expected an integer >= 0") from None


def cmd_import(args) -> int:
    from bench.results import importers
    from bench.results.queries import run_results
    from bench.results.store import Store

    runs = importers.load(args.tool, args.path)
    batch = importers.prepare(runs, tool=args.tool, strategy=args.strategy, seed=_seed(args.seed),
                              benchmark=args.benchmark, scenario=args.scenario)
    store = Store(args.store)  # opened only once the files are known good: a refused import writes nothing
    run_ids = importers.save(store, batch)
    for stored, run in zip(run_results(store, run_ids), runs, strict=True):
        result = {**stored, "tool": args.tool, "source": run.source}
        run_id = result["run_id"]
        # a run that evaluated only the experiences seen so far has no upper triangle: null, not NaN, in JSON
        result["accuracy_matrix"] = [[None if v != v else v for v in row] for row in result["accuracy_matrix"]]
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            m = result["metrics"]
            fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
            print(f"{run_id} {result['strategy']:<12} seed={result['seed']} imported ACC={fmt(m.get('acc'))} "
                  f"BWT={fmt(m.get('bwt'))} forgetting={fmt(m.get('forgetting'))} from {run.source}", flush=True)
    return 0
