"""Specs of the facts charts (bench.knowledge_charts) built from small hand-made tables."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.facts import charts as kc
from bench.facts import queries as kr
from bench.plots import charts

GROUPS = pd.DataFrame({"group_id": ["g1", "g2"], "strategy": ["replay", "naive"],
                       "config_json": [json.dumps({"strategy": s, "benchmark": "facts"}) for s in ("replay", "naive")]})


@pytest.fixture
def series() -> pd.DataFrame:
    return charts.series_table(GROUPS)


def _points() -> pd.DataFrame:
    """recall_points-shaped rows: 2 groups x 1 seed, 2 experiences trained 10 iterations each, eval every 2."""
    rows = []
    for g, run, strategy, decay in (("g1", "r1", "replay", 0.1), ("g2", "r2", "naive", 0.5)):
        for point, it in enumerate(range(0, 21, 2)):
            trained = -1 if it == 0 else (0 if it <= 10 else 1)
            kind = "initial" if it == 0 else ("end" if it in (10, 20) else "dense")
            for exp in (0, 1):
                if exp == 0:
                    rec = min(1.0, it / 10) if it <= 10 else (1 + it - 10) ** -decay
                else:
                    rec = 0.0 if it <= 10 else min(1.0, (it - 10) / 10)
                rows.append({"run_id": run, "group_id": g, "strategy": strategy, "seed": 0, "point": point,
                             "kind": kind, "trained_exp": trained, "iteration": it, "test_exp": exp,
                             "recall": rec, "recognition": min(1.0, rec + 0.3)})
    return pd.DataFrame(rows)


def test_recall_curves_chart_has_one_colour_per_strategy_and_a_log_option(series):
    curves = kr.recall_curves(_points())
    bounds = pd.DataFrame({"group_id": ["g1", "g2"], "trained_exp": [0, 0], "iteration": [10.0, 10.0]})
    spec = kc.recall_curves_chart(curves, series, bounds).to_dict()
    assert spec["facet"]["field"] == "test_exp"
    band, line, rules = spec["spec"]["layer"]
    assert (band["mark"]["type"], line["mark"]["type"], rules["mark"]["type"]) == ("area", "line", "rule")
    assert line["encoding"]["x"]["field"] == "iteration" and line["encoding"]["y"]["field"] == "recall_mean"
    assert line["encoding"]["x"]["scale"]["type"] == "linear"
    color = line["encoding"]["color"]["scale"]
    assert color["domain"] == ["naive", "replay"]  # registry order
    assert color["range"] == [charts.strategy_color("naive"), charts.strategy_color("replay")]
    logged = kc.recall_curves_chart(curves, series, bounds, log_x=True).to_dict()
    assert logged["spec"]["layer"][1]["encoding"]["x"]["scale"]["type"] == "symlog"
    assert logged["spec"]["layer"][1]["encoding"]["x"]["axis"]["values"] == [0, 1, 2, 5, 10, 20]
    assert kc.log_ticks(180) == [0, 1, 2, 5, 10, 20, 50, 100]
    data = next(iter(logged["datasets"].values()))
    assert {d["iteration"] for d in data if d.get("layer") == "curve"} >= {0, 10, 20}


def test_recall_curves_thin_dense_points():
    pts = _points()
    thin = kr.recall_curves(pts, max_points=3, keep_first=0)
    assert len(thin) < len(pts.drop_duplicates(["group_id", "test_exp", "iteration"]))
    assert {0, 10, 20} <= set(thin.iteration)  # initial and end points are always kept


def test_recall_vs_recognition_chart_draws_recognition_behind_recall(series):
    final = kr.final_recall_recognition(_points())
    assert set(final.measure) == {"recall", "recognition"}
    spec = kc.recall_vs_recognition_chart(final, series).to_dict()
    bars, chance = spec["layer"]
    assert bars["mark"]["type"] == "bar" and chance["mark"]["type"] == "rule"
    assert bars["encoding"]["x"]["field"] == "test_exp" and bars["encoding"]["xOffset"]["field"] == "series"
    assert bars["encoding"]["y"]["stack"] is None  # overlaid, not stacked
    assert bars["encoding"]["opacity"]["field"] == "measure"
    data = next(iter(spec["datasets"].values()))
    measures = [d["measure"] for d in data if d.get("layer") == "bar"]
    assert measures.index("recall") > max(i for i, m in enumerate(measures) if m == "recognition")
    assert [d["mean"] for d in data if d.get("layer") == "chance"] == [kc.RECOGNITION_CHANCE]
    naive = {d["measure"]: d["mean"] for d in data if d.get("series") == "naive" and d.get("test_exp") == 0}
    assert naive["recognition"] > naive["recall"]


def test_retention_fit_chart_draws_points_and_the_fitted_power_law_on_log_axes(series):
    retained = kr.retention_table(_points())
    fits = kr.power_law_fits(retained)
    line = kr.fitted_curve(fits, float(retained.updates.max()))
    spec = kc.retention_fit_chart(kr.retention_points(retained), line, fits, series).to_dict()
    dots, curve = spec["layer"]
    assert dots["mark"]["type"] == "circle" and curve["mark"]["type"] == "line"
    for enc in (dots["encoding"], curve["encoding"]):
        assert enc["x"]["scale"]["type"] == "log" and enc["y"]["scale"]["type"] == "log"
    naive = fits.set_index("group_id").loc["g2"]
    assert naive.exponent == pytest.approx(0.5, abs=0.05)
    label = f"naive: exponent {naive.exponent:.2f} (r² {naive.r2:.2f})"
    assert label in curve["encoding"]["color"]["scale"]["domain"]
    assert curve["encoding"]["color"]["scale"]["range"][0] == charts.strategy_color("naive")
    data = next(iter(spec["datasets"].values()))
    fit_pts = [d for d in data if d.get("layer") == "fit" and d["label"] == label]
    p = fit_pts[len(fit_pts) // 2]
    assert p["x"] == p["updates"] + 1
    assert p["retained"] == pytest.approx(naive.a * (1 + p["updates"]) ** (-naive.exponent), rel=1e-3)
    assert any(t["field"] == "exponent" for t in curve["encoding"]["tooltip"])
    assert all(d["retained"] > 0 for d in data)


def test_retention_points_average_in_log_bins():
    retained = pd.DataFrame({"group_id": "g", "updates": np.arange(100.0), "retained": np.linspace(1, 0, 100)})
    pts = kr.retention_points(retained, bins=10)
    assert len(pts) <= 10 and pts.n.sum() == 99  # the single retained == 0 row is left out
    assert pts.updates.is_monotonic_increasing
