"""Chart construction (bench.charts): labels, colours and the fields of each Vega-Lite spec."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.plots import charts, palette
from bench.spec.config import RunConfig
from bench.strategies import strategies


def _groups(*cfgs: RunConfig) -> pd.DataFrame:
    return pd.DataFrame({"group_id": [c.group_key() for c in cfgs], "strategy": [c.strategy for c in cfgs],
                         "config_json": [c.to_json() for c in cfgs]})


def _cfg(strategy, **kw) -> RunConfig:
    return RunConfig(benchmark="split-digits", scenario=kw.pop("scenario", "class"), strategy=strategy, **kw)


def _spec(chart) -> dict:
    return json.loads(json.dumps(charts._spec(chart), allow_nan=False))  # strict JSON: no NaN reaches Vega


def _find(obj, key):
    """Every value of `key` anywhere in a nested spec."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _find(v, key)


def test_strategy_colours_follow_registry_order_and_never_repeat():
    names = [s.name for s in strategies()]
    colours = [charts.strategy_color(n) for n in names]
    assert colours == [palette.PALETTE[i % len(palette.PALETTE)] for i in range(len(names))]
    assert len(set(colours)) == len(names)
    assert charts.strategy_color("no-such-strategy") == charts.UNKNOWN_COLOR


def test_series_labels_name_only_what_differs():
    ser = charts.series_table(_groups(_cfg("naive"), _cfg("replay", params={"mem_size": 20}),
                                      _cfg("replay", params={"mem_size": 200}), _cfg("ewc")))
    assert list(ser.series) == ["naive", "replay (mem_size=20)", "replay (mem_size=200)", "ewc"]
    # one strategy keeps its registry colour; its variants are shades of it
    assert ser.color.iloc[0] == charts.strategy_color("naive")
    assert ser.color.iloc[1] == charts.strategy_color("replay") != ser.color.iloc[2]
    scen = charts.series_table(_groups(_cfg("naive", scenario="task"), _cfg("naive", scenario="class")))
    assert sorted(scen.series) == ["naive (class)", "naive (task)"]


def test_series_labels_are_unique_even_for_identical_configs():
    a, b = _cfg("naive"), _cfg("naive")
    groups = pd.DataFrame({"group_id": ["g1", "g2"], "strategy": ["naive", "naive"],
                           "config_json": [a.to_json(), b.to_json()]})
    assert charts.series_table(groups).series.nunique() == 2


def test_labels_name_the_devices_when_a_group_mixes_them_or_the_groups_differ():
    from bench.spec.labels import group_label

    naive, replay = _cfg("naive"), _cfg("replay")
    mixed = _groups(naive, replay).assign(devices=[["cpu", "cuda:0"], ["cpu"]])
    assert list(charts.series_table(mixed).series) == ["naive (on cpu+cuda)", "replay (on cpu)"]
    same = _groups(naive, replay).assign(devices=[["cpu"], ["cpu"]])
    assert list(charts.series_table(same).series) == ["naive", "replay"]  # nothing to tell apart
    apart = _groups(naive, _cfg("naive", epochs=1)).assign(devices=[["cpu"], ["cuda"]])
    assert list(charts.series_table(apart).series) == ["naive (epochs=1, on cuda)", "naive (epochs=20, on cpu)"]
    row = {"strategy": "naive", "config_json": naive.to_json(), "benchmark": "split-digits", "scenario": "class",
           "seeds": [0, 1], "n_finished": 2, "n_runs": 2, "group_id": "g1", "devices": ["cpu", "cuda"]}
    assert "· on cpu+cuda ·" in group_label(row)
    assert " on " not in group_label({**row, "devices": ["cuda"]})
    # a config stored before val_fraction existed reads as val_fraction 0, not as a difference
    old = json.loads(naive.to_json())
    old.pop("val_fraction")
    legacy = pd.DataFrame({"group_id": ["g1", "g2"], "strategy": ["naive", "replay"],
                           "config_json": [json.dumps(old), replay.to_json()]})
    assert list(charts.series_table(legacy).series) == ["naive", "replay"]


@pytest.fixture
def two():
    return charts.series_table(_groups(_cfg("naive"), _cfg("replay")))


def _curves(series):
    rows = []
    for g in series.group_id:
        for j in range(3):
            for it in range(0, 31, 5):
                rows.append(dict(group_id=g, test_exp=j, iteration=it, mean=0.5, std=0.1, n=2))
    return pd.DataFrame(rows)


def test_retention_chart_facets_experiences_colours_series_and_highlights_from_the_legend(two):
    bounds = pd.DataFrame({"group_id": list(two.group_id) * 2, "trained_exp": [0, 0, 1, 1],
                           "iteration": [10, 10, 20, 20]})
    spec = _spec(charts.retention_chart(_curves(two), bounds, two))
    assert spec["facet"]["field"] == "test_exp"
    layers = spec["spec"]["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["area", "line", "rule"]
    line = layers[1]
    assert line["encoding"]["x"]["field"] == "iteration" and line["encoding"]["y"]["field"] == "mean"
    assert line["encoding"]["color"]["scale"]["domain"] == ["naive", "replay"]
    assert line["encoding"]["color"]["scale"]["range"] == [charts.strategy_color("naive"),
                                                           charts.strategy_color("replay")]
    params = [p for ps in _find(spec, "params") for p in ps]
    assert [p["bind"] for p in params] == ["legend"] and params[0]["select"]["fields"] == ["series"]
    assert line["encoding"]["opacity"]["condition"]["param"] == params[0]["name"]
    data = next(iter(spec["datasets"].values()))
    rules = [r for r in data if r["layer"] == "boundary"]
    # both series switch experience at the same iterations: one grey rule each, per panel
    assert sorted({r["iteration"] for r in rules}) == [10, 20] and all(r["shared"] for r in rules)
    assert len(rules) == 2 * 3


def test_matrix_chart_one_panel_per_series_on_one_colour_scale(two):
    mats = pd.DataFrame([dict(group_id=g, trained_exp=i, test_exp=j, mean=0.3, std=0.0, n=1)
                         for g in two.group_id for i in range(3) for j in range(3)])
    spec = _spec(charts.matrix_chart(mats, two))
    assert spec["facet"]["field"] == "series"
    rect, text = spec["spec"]["layer"]
    assert rect["encoding"]["color"]["scale"]["domain"] == [0, 1]
    assert text["encoding"]["text"]["field"] == "mean" and text["encoding"]["text"]["format"] == ".2f"


def test_forgetting_chart_groups_bars_by_experience(two):
    forg = pd.DataFrame([dict(group_id=g, test_exp=j, mean=0.4, std=0.1, n=2) for g in two.group_id for j in (0, 1)])
    spec = _spec(charts.forgetting_chart(forg, two))
    bars = spec["layer"][0]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["xOffset"]["field"] == "series"
    assert spec["layer"][1]["encoding"]["y2"]["field"] == "hi"


def test_class_recall_chart_orders_classes_by_their_experience(two):
    rec = pd.DataFrame([dict(group_id=g, trained_exp=t, class_id=c, recall=0.5, exp_of_class=c // 2, n=1)
                        for g in two.group_id for t in (-1, 0, 1) for c in range(4)])
    spec = _spec(charts.class_recall_chart(rec, two))
    enc = spec["spec"]["layer"][0]["encoding"]
    assert enc["y"]["sort"]["field"] == "exp_of_class" and enc["x"]["field"] == "trained_exp"


def test_lesson_charts():
    vals = pd.DataFrame({"strategy": ["naive", "replay"], "setting": ["task", "task"], "mean": [0.9, 0.95],
                         "std": [0.01, None]})
    spec = _spec(charts.metric_bars(vals, x="setting", x_title="Scenario", metric_title="ACC"))
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["naive", "replay"]
    sweep = pd.DataFrame({"value": [20, 200], "metric": ["ACC", "ACC"], "mean": [0.5, 0.8], "std": [0.1, 0.1]})
    spec = _spec(charts.param_chart(sweep, param="mem", strategy="replay",
                                    baseline=pd.DataFrame({"metric": ["ACC"], "mean": [0.2]}), baseline_label="naive"))
    assert spec["spec"]["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["spec"]["layer"][2]["mark"]["color"] == charts.strategy_color("naive")


def test_png_and_svg_export(two):
    chart = charts.retention_chart(_curves(two), pd.DataFrame(columns=["group_id", "trained_exp", "iteration"]), two)
    assert charts.to_png(chart, scale=1).startswith(b"\x89PNG")
    svg = charts.to_svg(chart)
    assert svg.lstrip().startswith("<svg") and "Test set of experience 1" in svg
