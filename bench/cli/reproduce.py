"""The reproduce command: list the protocol presets with their published results, or run one and set the bench's
mean beside the published value."""
from __future__ import annotations

import json
import math
import sys

from bench.spec.status import Status


def register(sub) -> dict:
    rp = sub.add_parser("reproduce", help="list the published-result presets, or run one against its reference")
    rp.add_argument("name", nargs="?", help="the preset to run (see --list)")
    rp.add_argument("--list", action="store_true", help="list every preset with its reference and what it lacks")
    rp.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, or a range like 0-4 (default 0,1,2)")
    rp.add_argument("--data-dir", help="folder with torchvision's dataset files (else $BENCH_DATA_DIR)")
    rp.add_argument("--quick", action="store_true",
                    help="same recipe and architecture, one epoch and a few hundred images per experience (for CI)")
    rp.add_argument("--store")
    rp.add_argument("--workers", help="worker processes (default: one per seed, at most one per GPU or core)")
    rp.add_argument("--json", action="store_true")
    return {"reproduce": cmd_reproduce}


def listing(data_dir: str | None = None) -> list[dict]:
    """Every preset as a dict: its record, whether the bench can run it, what it lacks, and the training it is."""
    from bench.reproduce.estimate import train_images
    from bench.reproduce.mapping import readiness
    from bench.reproduce.presets import presets

    out = []
    for p in presets():
        r = readiness(p, data_dir=data_dir)
        out.append({**p.to_dict(), "runnable": r.runnable, "missing": list(r.missing), "data": r.data,
                    "source_label": p.source_label(), "train_images": train_images(p)})
    return out


def summary(preset, results: list[dict]) -> dict:
    """The command's verdict over finished runs: ACC mean and std over seeds, in fractions and the reference's units,
    the delta (bench mean minus published, reference units) and the status."""
    accs = [r["metrics"].get("acc") for r in results if r["status"] == Status.FINISHED]
    accs = [a for a in accs if a is not None and math.isfinite(a)]
    n = len(accs)
    mean = sum(accs) / n if n else None
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1)) if n > 1 else None
    status, delta = preset.verdict(mean)
    return {"result": {"metric": "acc", "n": n, "mean": mean, "std": std,
                       "mean_in_reference_units": None if mean is None else preset.in_reference_units(mean),
                       "std_in_reference_units": None if std is None else preset.in_reference_units(std)},
            "delta": delta, "status": status}


def cmd_reproduce(args) -> int:
    from bench.spec.params import BadInput

    if args.list:
        items = listing(args.data_dir)
        if args.json:
            print(json.dumps(items))
        else:
            for it in items:
                state = "runnable" if it["runnable"] else "missing: " + "; ".join(it["missing"])
                print(f"{it['id']:<40} {it['reference']['value']:>7g} {it['reference']['unit']:<8} "
                      f"{it['source_label']}  [{state}]")
        return 0
    if not args.name:
        raise BadInput("reproduce needs a preset name or --list")
    return _run(args)


def _run(args) -> int:
    from bench.execute import jobs
    from bench.reproduce import launch
    from bench.reproduce.presets import get_preset
    from bench.results.queries import run_result
    from bench.results.store import Store
    from bench.spec import sweeps

    preset = get_preset(args.name)
    seeds = sweeps.parse_seeds(args.seeds, label="--seeds")
    workers = _workers(args.workers, len(seeds), jobs.default_workers())
    store = Store(args.store)
    sid, run_ids = launch.start(preset, store, seeds=seeds, data_dir=args.data_dir, quick_run=args.quick)
    print(f"reproduce {preset.id}{' (quick)' if args.quick else ''}: {len(run_ids)} run(s) on {workers} worker(s), "
          f"sweep {sid}", file=sys.stderr, flush=True)
    for _ in jobs.run_local(store, run_ids, workers=workers):
        pass
    results = [run_result(store, r) for r in run_ids]
    out = {"preset": preset.id, "title": preset.title, "quick": bool(args.quick), "sweep_id": sid, "runs": results,
           **summary(preset, results),
           "reference": {**preset.to_dict()["reference"], "source": preset.source,
                         "source_label": preset.source_label()},
           "deviations": list(preset.deviations)}
    if args.quick:
        out["note"] = ("--quick trains one epoch on a few hundred images per experience: the delta checks the "
                       "pipeline, not the published number")
    if args.json:
        print(json.dumps(out))
    else:
        r = out["result"]
        bench = "-" if r["mean"] is None else preset.format_number(r["mean_in_reference_units"])
        print(f"{preset.id}: bench {bench} over {r['n']} seed(s), published {preset.format_value()} "
              f"({preset.source_label()}): {out['status']}")
    return 0 if all(r["status"] == Status.FINISHED for r in results) else 1


def _workers(raw: str | None, n_runs: int, default: int) -> int:
    from bench.spec.params import BadInput

    if raw is None:
        return max(1, min(n_runs, default))
    try:
        n = int(raw)
    except ValueError:
        raise BadInput(f"--workers={raw!r} is not valid: expected an integer >= 1") from None
    if n < 1:
        raise BadInput(f"--workers={raw!r} is out of range: expected an integer >= 1")
    return n
