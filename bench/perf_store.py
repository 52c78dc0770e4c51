"""The results store under load, for `python -m bench.perf`: a synthetic store of many finished runs (about a
thousand evaluation rows each, as a 5-experience run with dense evaluation writes), the Compare page's queries
timed against it (p50 / p95), and the bytes its charts send to the browser.

The queries and charts are the very functions the Compare page calls (bench.queries, bench.charts), in the order
ui/compare.py calls them; nothing here is a copy of them.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from . import charts
from . import queries as q
from .config import RunConfig
from .store import Store

N_EXP = 5
POINTS_PER_EXP = 40  # dense points + the end-of-experience point, per experience
CLASSES_PER_EXP = 2
BENCH_SCENARIOS = (("split-digits", "class"), ("split-digits", "task"), ("permuted-digits", "domain"),
                   ("split-mnist-lite", "class"))
LRS = (0.1, 0.05, 0.01, 0.2, 0.02)
SEEDS = 5


def _strategy_names() -> list[str]:
    from .strategies import strategies

    return [s.name for s in strategies()]


def build(path: str | Path, n_runs: int = 1000) -> dict:
    """Fill a new store at `path` with `n_runs` finished synthetic runs: groups of SEEDS seeds over strategies x
    streams x learning rates, one sweep per (stream, learning rate). Returns what was written (row counts)."""
    store = Store(path)
    names = _strategy_names()
    rows, t0 = [], time.time() - 86400
    combos = [(b, s, lr) for lr in LRS for (b, s) in BENCH_SCENARIOS]
    k = 0
    while len(rows) < n_runs:
        bench, scenario, lr = combos[(k // len(names)) % len(combos)]
        sweep = f"sweep{(k // len(names)) % len(combos):03d}r{k // (len(names) * len(combos))}"
        strategy = names[k % len(names)]
        for seed in range(SEEDS):
            if len(rows) >= n_runs:
                break
            cfg = RunConfig(benchmark=bench, scenario=scenario, strategy=strategy, lr=lr, seed=seed,
                            benchmark_params={"n_experiences": N_EXP})
            created = t0 + len(rows) * 10.0
            rows.append({
                "run_id": f"r{len(rows):05d}", "group_id": cfg.group_key(), "sweep_id": sweep, "benchmark": bench,
                "scenario": scenario, "strategy": strategy, "family": "baselines", "seed": seed,
                "config_json": cfg.to_json(), "status": "finished", "created_at": created, "started_at": created + 1,
                "first_iteration_at": created + 1.2, "finished_at": created + 5, "heartbeat_at": created + 5,
                "device": "cpu", "host": "synthetic", "worker_pid": 1, "n_experiences": N_EXP,
                "current_exp": N_EXP - 1, "iteration": N_EXP * POINTS_PER_EXP * 2,
                "est_iterations": N_EXP * POINTS_PER_EXP * 2, "cancel_requested": False,
            })
        k += 1
    store.insert_runs(rows)
    n_points = N_EXP * POINTS_PER_EXP + 1  # the initial point, then POINTS_PER_EXP per experience
    with store.connect() as con:
        con.execute("SELECT setseed(0.42)")
        con.execute("BEGIN")
        # Synthetic but shaped like real runs: high accuracy on the experience being trained, decaying on older
        # ones at a rate that depends on the run (its "strategy"), chance on unseen ones.
        con.execute(f"""
            CREATE TEMP TABLE pts AS
            SELECT p.point,
                   CASE WHEN p.point = 0 THEN 'initial' WHEN p.point % {POINTS_PER_EXP} = 0 THEN 'end'
                        ELSE 'dense' END AS kind,
                   CASE WHEN p.point = 0 THEN -1 ELSE (p.point - 1) // {POINTS_PER_EXP} END AS trained_exp,
                   p.point * 2 AS iteration
            FROM range({n_points}) p(point)""")
        con.execute(f"""
            INSERT INTO evaluations
            SELECT r.run_id, p.point, p.kind, p.trained_exp, p.iteration, t.test_exp,
                   CASE WHEN p.trained_exp < 0 OR t.test_exp > p.trained_exp THEN 0.1 * random()
                        WHEN t.test_exp = p.trained_exp THEN 0.85 + 0.1 * random()
                        ELSE 0.9 * pow(0.3 + 0.6 * (hash(r.group_id) % 100) / 100.0, p.trained_exp - t.test_exp)
                             + 0.05 * random() END AS accuracy,
                   0.2 + random() AS loss, 70 AS n
            FROM runs r, pts p, range({N_EXP}) t(test_exp)""")
        con.execute(f"""
            INSERT INTO class_recall
            SELECT r.run_id, p.point, t.test_exp, t.test_exp * {CLASSES_PER_EXP} + c.c AS class_id,
                   CAST(35 * random() AS INTEGER) AS correct, 35 AS total
            FROM runs r, pts p, range({N_EXP}) t(test_exp), range({CLASSES_PER_EXP}) c(c)""")
        con.execute("""
            INSERT INTO train_curve
            SELECT r.run_id, p.iteration, p.trained_exp, 0, random(), random(), 64
            FROM runs r, pts p WHERE p.point > 0""")
        con.execute("""
            INSERT INTO run_metrics
            SELECT r.run_id, m.metric, random()
            FROM runs r, (VALUES ('acc'), ('avg_incremental_acc'), ('bwt'), ('fwt'), ('forgetting'), ('time_s'),
                                 ('train_time_s'), ('peak_memory_mb'), ('param_count'), ('iterations')) m(metric)""")
        con.execute("COMMIT")
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("runs", "evaluations", "class_recall", "train_curve", "run_metrics")}
    return counts


# -- the Compare page, step by step -------------------------------------------------------------------------------
def _series_for(store: Store, ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What ui/compare.series_for does: the same query and chart function."""
    groups = q.selected_groups(store, ids)
    return charts.series_table(groups), groups


def page_steps(store: Store, group_ids: list[str] | None) -> list[tuple[str, Callable[[], object]]]:
    """The Compare page's queries in the order pages/compare.py and ui/compare.py run them. `group_ids` None:
    the default selection (the latest comparison)."""
    state: dict = {}

    def select():
        gids = group_ids if group_ids is not None else q.latest_comparison(store)
        state["ids"] = list(q.resolve_selection(store, group_ids=gids, run_ids=[])[0].run_id)
        return state["ids"]

    def series():
        state["series"], _ = _series_for(store, state["ids"])
        return state["series"]

    return [
        ("status_counts", lambda: q.status_counts(store)),
        ("groups", lambda: q.groups(store)),
        ("run_overview", lambda: q.run_overview(store)),
        ("latest_comparison + resolve_selection", select),
        ("series (resolve_selection + groups)", series),
        ("summary", lambda: q.summary(store, state["ids"])),
        ("retention", lambda: q.retention(store, state["ids"])),
        ("boundaries", lambda: q.boundaries(store, state["ids"])),
        ("matrices", lambda: q.matrices(store, state["ids"])),
        ("forgetting_by_experience", lambda: q.forgetting_by_experience(store, state["ids"])),
        ("class_recall", lambda: q.class_recall(store, state["ids"])),
    ]


def chart_bytes(store: Store, ids: list[str]) -> dict[str, int]:
    """Bytes of each Compare chart's Vega-Lite spec (data inlined), which is what goes to the browser."""
    series, _ = _series_for(store, ids)
    made = {
        "retention": charts.retention_chart(q.retention(store, ids), q.boundaries(store, ids), series),
        "matrices": charts.matrix_chart(q.matrices(store, ids), series),
        "forgetting": charts.forgetting_chart(q.forgetting_by_experience(store, ids), series),
        "class_recall": charts.class_recall_chart(q.class_recall(store, ids), series),
    }
    return {name: len(json.dumps(chart.to_dict()).encode()) for name, chart in made.items()}


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def measure(path: str | Path, *, n_runs: int, reps: int, big_groups: int | None = 20) -> dict:
    """Build the store, then time every Compare-page query `reps` times for two selections: the page's default
    (the latest comparison, up to 8 groups) and a large one (`big_groups` groups; None: no large selection)."""
    t0 = time.perf_counter()
    counts = build(path, n_runs)
    build_s = time.perf_counter() - t0
    store = Store(path)
    all_groups = list(q.groups(store).group_id)
    selections = {"default": None, **({"large": all_groups[:big_groups]} if big_groups else {})}
    out: dict = {"n_runs": counts["runs"], "rows": counts, "build_s": build_s,
                 "file_mb": Path(path).stat().st_size / 2**20, "selections": {}}
    for name, gids in selections.items():
        timings: dict[str, list[float]] = {}
        page: list[float] = []
        for rep in range(reps + 1):  # the first pass warms the OS file cache and DuckDB; not counted
            total = 0.0
            for step, fn in page_steps(store, gids):
                a = time.perf_counter()
                fn()
                dt = (time.perf_counter() - a) * 1000
                total += dt
                if rep:
                    timings.setdefault(step, []).append(dt)
            if rep:
                page.append(total)
        ids = list(q.resolve_selection(store, group_ids=gids if gids is not None else q.latest_comparison(store),
                                       run_ids=[])[0].run_id)
        sizes = chart_bytes(store, ids)
        out["selections"][name] = {
            "n_runs": len(ids), "n_groups": len({*q.resolve_selection(store, group_ids=[], run_ids=ids)[0].group_id}),
            "queries_ms": {k: {"p50": statistics.median(v), "p95": _pct(v, 0.95)} for k, v in timings.items()},
            "page_ms": {"p50": statistics.median(page), "p95": _pct(page, 0.95)},
            "chart_bytes": sizes, "chart_bytes_total": sum(sizes.values()),
        }
    worst = max((v["p95"], k, sel) for sel, s in out["selections"].items() for k, v in s["queries_ms"].items())
    out["worst_query_p95_ms"], out["worst_query"] = worst[0], f"{worst[1]} ({worst[2]})"
    out["max_chart_bytes"] = max(b for s in out["selections"].values() for b in s["chart_bytes"].values())
    return out
