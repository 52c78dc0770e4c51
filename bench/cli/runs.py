"""The run commands: list, run, sweep, export, pool."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from bench.spec.params import BadInput, parse_assignments
from bench.spec.status import Status


def executor_args(sp) -> None:
    sp.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="local processes (default) or Ray tasks")
    sp.add_argument("--ray-address", help="address of a running Ray cluster (default: start a local instance)")


def run_args(sp) -> None:
    """The options every command that builds run configs takes: the stream, its parameters and every run setting."""
    from bench.spec.config import RUN_PARAMS

    sp.add_argument("--benchmark")
    sp.add_argument("--scenario")
    sp.add_argument("--bench-param", action="append", metavar="KEY=VALUE", help="benchmark parameter")
    for spec in RUN_PARAMS:  # every run setting is a flag, as in the Launch form
        if spec.name != "seed":
            sp.add_argument("--" + spec.name.replace("_", "-"), dest=spec.name, help=spec.help)
    sp.add_argument("--data-dir")
    sp.add_argument("--store")
    sp.add_argument("--json", action="store_true")
    executor_args(sp)


def register(sub) -> dict:
    ls = sub.add_parser("list", help="list registered benchmarks or strategies, or the plugins and their errors")
    ls.add_argument("what", choices=("benchmarks", "strategies", "plugins"))
    ls.add_argument("--json", action="store_true")

    run = sub.add_parser("run", help="train and evaluate one run")
    run_args(run)
    run.add_argument("--strategy")
    run.add_argument("--config", help="a run config as JSON (from Run detail or an export); overrides the flags")
    run.add_argument("--param", action="append", metavar="KEY=VALUE", help="strategy parameter")
    run.add_argument("--seed")

    sw = sub.add_parser("sweep", help="every strategy x seed x parameter value, in parallel processes")
    run_args(sw)
    sw.add_argument("--strategies", required=True, help="comma-separated strategy names")
    sw.add_argument("--seeds", default="0", help="comma-separated seeds, or a range like 0-4")
    sw.add_argument("--param", action="append", metavar="KEY=V1,V2",
                    help="strategy parameter values to sweep (applied to strategies that have it)")
    sw.add_argument("--workers", help="worker processes (default: one per GPU, else one per core)")

    ex = sub.add_parser("export", help="write every table of the store to files")
    ex.add_argument("--store")
    ex.add_argument("--out", required=True)
    ex.add_argument("--format", choices=("parquet", "csv"), default="parquet")

    pool = sub.add_parser("pool", help="run the warm worker pool for a store (started by the app)")
    pool.add_argument("--store")
    pool.add_argument("--workers")
    pool.add_argument("--exit-when-idle", action="store_true")
    executor_args(pool)
    return {"list": cmd_list, "run": cmd_run, "sweep": cmd_sweep, "export": cmd_export, "pool": cmd_pool}


def _require(args, *names: str) -> None:
    for name in names:
        if getattr(args, name) is None:
            raise BadInput(f"the following arguments are required: --{name.replace('_', '-')}")


def _int(name: str, raw: str | None, lo: int = 0) -> int | None:
    if raw is None:
        return None
    try:
        v = int(raw)
    except ValueError:
        raise BadInput(f"--{name}={raw!r} is not valid: expected an integer >= {lo}") from None
    if v < lo:
        raise BadInput(f"--{name}={raw!r} is out of range: expected an integer >= {lo}")
    return v


def _run_fields(args) -> dict:
    """Run-level settings given on the command line, as text (typed by _typed_run_fields)."""
    from bench.spec.config import RUN_PARAMS

    return {p.name: getattr(args, p.name) for p in RUN_PARAMS if getattr(args, p.name, None) is not None}


def _typed_run_fields(args) -> dict:
    """The run settings given on the command line, typed (bad ones refused in one line)."""
    from bench.spec.config import RUN_PARAMS
    from bench.spec.params import validate_params

    given = _run_fields(args)
    return {k: v for k, v in validate_params(RUN_PARAMS, given, owner="run").items() if k in given}


def _config(args, strategy: str, params: dict):
    from bench.spec.config import RunConfig

    return RunConfig(benchmark=args.benchmark, scenario=args.scenario, strategy=strategy,
                     benchmark_params=parse_assignments(args.bench_param), params=params,
                     data_dir=args.data_dir, **_typed_run_fields(args))


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result), flush=True)
        return
    m = result.get("metrics") or {}
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    line = (f"{result['run_id']} {result['strategy']:<12} seed={result['seed']} {result['status']:<9} "
            f"ACC={fmt(m.get('acc'))} BWT={fmt(m.get('bwt'))} forgetting={fmt(m.get('forgetting'))} "
            f"time={fmt(m.get('time_s'))}s")
    if result.get("error"):
        line += f"  error: {result['error']}"
    print(line, flush=True)


def cmd_list(args) -> int:
    from bench.registry import benchmarks, plugin_of, strategies

    if args.what == "plugins":
        from bench.cli.plugins import list_plugins

        return list_plugins(as_json=args.json)
    if args.what == "benchmarks":
        items = [{"name": b.name, "description": b.description, "kind": b.kind, "offline": b.offline,
                  "scenarios": list(b.scenarios), "params": [p.to_dict() for p in b.params],
                  "plugin": plugin_of("benchmarks", b.name)} for b in benchmarks()]
    else:
        items = [{**s.to_dict(), "plugin": plugin_of("strategies", s.name)} for s in strategies()]
    if args.json:
        print(json.dumps(items))
    else:
        for it in items:
            extra = f" [{it['family']}]" if "family" in it else ""
            extra += f" (plugin {it['plugin']})" if it["plugin"] else ""
            print(f"{it['name']:<20}{extra} scenarios: {', '.join(it['scenarios'])}")
    return 0


def cmd_run(args) -> int:
    from bench.registry import validate
    from bench.results.store import Store
    from bench.train.runner import run

    if args.config:
        from bench.spec.config import RunConfig

        try:
            text = Path(args.config).read_text()
        except OSError as exc:
            raise BadInput(f"--config {args.config!r} cannot be read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise BadInput(f"--config {args.config!r} is not a JSON text file") from None
        cfg = validate(RunConfig.from_json(text))
    else:
        _require(args, "benchmark", "scenario", "strategy")
        cfg = validate(_config(args, args.strategy, parse_assignments(args.param)))
    store = Store(args.store)
    if args.executor == "ray":
        from bench.execute import jobs
        from bench.execute.ray_cluster import run_ray
        from bench.results.queries import run_result

        (run_id,) = jobs.submit([cfg], store=store)
        for _ in run_ray(store, [run_id], address=args.ray_address):
            pass
        result = run_result(store, run_id)
    else:
        result = run(cfg, store=store)
        result.pop("avalanche", None)
    _emit(result, args.json)
    return 0 if result["status"] == Status.FINISHED else 1


def sweep_configs(args) -> list:
    """The full grid: strategies x swept parameter values x seeds. A --param value is a sweep text
    (bench/sweeps.py): a list 50,100,200, a range 1:10:3 or a log range "log 1 10000 5"."""
    from bench import launch
    from bench.spec import sweeps
    from bench.strategies import get_strategy

    _require(args, "benchmark", "scenario")
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if not names:
        raise BadInput("--strategies is empty: expected comma-separated strategy names")
    texts = parse_assignments(args.param)
    known = {p.name for n in names for p in get_strategy(n).params}
    for key in texts:
        if key not in known:
            raise BadInput(f"--param {key!r} belongs to none of the strategies {', '.join(names)}")
    seeds = sweeps.parse_seeds(args.seeds, label="--seeds")
    grids = {}
    for name in names:
        spec = get_strategy(name)
        grids[name] = sweeps.grid(spec, {p.name: sweeps.parse_values(p, texts[p.name], where=f"{name}.")
                                         for p in spec.params if p.name in texts})
    p = launch.plan(launch.product(benchmark=args.benchmark, scenario=args.scenario, grids=grids, seeds=seeds,
                                   benchmark_params=parse_assignments(args.bench_param), run=_typed_run_fields(args),
                                   data_dir=args.data_dir))
    if p.errors:
        raise BadInput(p.errors[0])
    return p.configs


def cmd_sweep(args) -> int:
    from bench.execute import jobs
    from bench.results.queries import run_result
    from bench.results.store import Store

    configs = sweep_configs(args)
    workers = _int("workers", args.workers, lo=1) or jobs.default_workers()
    store = Store(args.store)
    where = f"Ray ({args.ray_address or 'local instance'})" if args.executor == "ray" else f"{workers} worker(s)"
    print(f"sweep: {len(configs)} runs on {where}", file=sys.stderr, flush=True)
    run_ids = jobs.submit(configs, store=store, sweep_id=uuid.uuid4().hex[:12])
    if args.executor == "ray":
        from bench.execute.ray_cluster import run_ray

        ended = run_ray(store, run_ids, address=args.ray_address)
    else:
        ended = jobs.run_local(store, run_ids, workers=workers)
    failed = 0
    for run_id in ended:
        result = run_result(store, run_id)
        failed += result["status"] != Status.FINISHED
        _emit(result, args.json)
    for line in best_on_validation(store, run_ids, configs):
        print(line, file=sys.stderr, flush=True)
    return 1 if failed else 0


def best_on_validation(store, run_ids: list[str], configs: list, *, metric: str = "acc") -> list[str]:
    """The sweep's choice for each strategy it swept, made on the validation split (printed on stderr, so that
    --json's lines stay one run each): the rank-1 setting with its validation and its test ACC. A sweep without a
    validation split says why it chooses nothing."""
    from bench.results.queries import groups, rank_on_validation

    settings: dict[str, set] = {}
    for c in configs:
        settings.setdefault(c.strategy, set()).add(json.dumps(c.params, sort_keys=True))
    swept = {name for name, values in settings.items() if len(values) > 1}
    if not swept:
        return []
    if not any(c.val_fraction > 0 for c in configs):
        return ["no validation split (--val-fraction 0): no setting is chosen; choosing on the test numbers "
                "printed above would select on the test sets"]
    ranked = rank_on_validation(store, run_ids, metric=metric)
    ranked = ranked[ranked.strategy.isin(swept)]
    configs_of = groups(store, group_ids=list(ranked.group_id)).set_index("group_id").config_json
    fmt = lambda m, sd: f"{m:.3f}" + ("" if sd != sd else f" ± {sd:.3f}")  # noqa: E731
    lines = []
    for strategy, d in ranked.groupby("strategy", sort=False):
        params = [json.loads(configs_of[g]).get("params") or {} for g in d.group_id]
        differ = [k for k in params[0] if len({repr(p.get(k)) for p in params}) > 1]
        top = d.iloc[0]
        setting = " ".join(f"{k}={params[0][k]}" for k in differ) or "its defaults"
        lines.append(f"chosen on validation ({metric}, among {len(d)} settings): {strategy} {setting} "
                     f"[group {top.group_id}]: val {fmt(top.val_mean, top.val_std)}, test (report) "
                     f"{fmt(top.test_mean, top.test_std)}, {int(top.n)} seed{'s' if top.n != 1 else ''}")
    return lines


def cmd_export(args) -> int:
    from bench.results.export import export_store
    from bench.results.store import Store

    if args.store and not Path(args.store).exists():
        raise BadInput(f"--store {args.store!r} does not exist")
    paths = export_store(Store(args.store), Path(args.out), fmt=args.format)
    for p in paths:
        print(p)
    return 0


def cmd_pool(args) -> int:
    from bench.execute import jobs
    from bench.results.store import Store

    store = Store(args.store)
    if args.executor == "ray":
        from bench.execute.ray_cluster import serve

        serve(store, address=args.ray_address, exit_when_idle=args.exit_when_idle)
        return 0
    jobs.run_pool(str(store.path), workers=_int("workers", args.workers, lo=1) or jobs.default_workers(),
                  exit_when_idle=args.exit_when_idle)
    return 0
