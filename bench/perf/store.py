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

from bench.plots import charts
from bench.results import queries as q
from bench.results.store import Store
from bench.results.synthetic import build


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
