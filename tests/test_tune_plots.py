"""The tuning charts on a hand-made table of trials: every axis normalised to its range (log axes in log space),
one line per trial with an objective, the chosen trial ringed."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.plots import tune as charts

SPACE = [
    {"name": "lr", "where": "run", "kind": "loguniform", "type": "float", "values": [0.01, 1.0], "low": 0.01,
     "high": 1.0, "text": "registry"},
    {"name": "mode", "where": "param", "kind": "choice", "type": "str", "values": ["separate", "online"],
     "low": None, "high": None, "text": "registry"},
    {"name": "epochs", "where": "run", "kind": "uniform", "type": "int", "values": [1, 5], "low": 1, "high": 5,
     "text": "1:5"},
]
TRIALS = pd.DataFrame({
    "trial": [1, 2, 3, 4], "lr": [0.01, 0.1, 1.0, 0.5], "mode": ["separate", "online", "online", "separate"],
    "epochs": [1, 3, 5, 2], "objective": [0.2, 0.6, 0.4, None], "outcome": ["finished", "finished", "stopped_early",
                                                                               "running"]})


def test_every_axis_is_scaled_to_its_range():
    long = charts.axes_table(TRIALS, SPACE)
    pos = long.pivot(index="trial", columns="axis", values="position")
    assert list(pos.index) == [1, 2, 3]  # trial 4 has no objective yet
    assert pos.lr.tolist() == pytest.approx([0.0, 0.5, 1.0])  # log10: -2, -1, 0 over [-2, 0]
    assert pos["mode"].tolist() == [0.0, 1.0, 1.0]  # choices evenly spaced in the domain's order
    assert pos.epochs.tolist() == pytest.approx([0.0, 0.5, 1.0])
    # the finished trials' own range, 0.2..0.6; trial 3 stopped early: its partial objective is on no axis
    assert pos.objective.tolist()[:2] == pytest.approx([0.0, 1.0]) and pos.objective.isna().tolist()[2]
    assert long.attrs["ends"][0] == ("lr", "0.01", "1 (log)")
    assert long.attrs["ends"][-1] == ("objective", "0.200", "0.600")


def test_the_parallel_coordinates_chart_draws_one_line_per_trial():
    spec = charts.parallel_coordinates(TRIALS, SPACE, objective_title="val ACC").to_dict()
    assert spec["title"].startswith("Parallel coordinates")
    line, partial = (layer for layer in spec["layer"][::-1] if layer["mark"]["type"] == "line")
    assert partial["mark"]["strokeDash"] == [4, 3] and "color" not in partial["encoding"]
    assert line["encoding"]["detail"]["field"] == "trial"
    assert line["encoding"]["color"]["field"] == "objective"
    assert line["encoding"]["x"]["sort"] == ["lr", "mode", "epochs", "objective"]
    data = spec["datasets"][line["data"]["name"]]
    assert len(data) == 3 * 3 + 2 and {d["trial"] for d in data} == {1, 2, 3}  # 3 setting axes + 2 finished
    assert {d["trial"] for d in data if d["axis"] == "objective"} == {1, 2}


def test_the_objective_against_each_setting_rings_the_chosen_trial():
    spec = charts.objective_by_setting(TRIALS, SPACE, objective_title="val ACC", best_trial=2).to_dict()
    assert [p["title"] for p in spec["hconcat"]] == ["lr", "mode", "epochs"]
    lr = spec["hconcat"][0]
    assert lr["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["hconcat"][1]["layer"][0]["encoding"]["x"]["type"] == "nominal"
    data = spec["datasets"][lr["data"]["name"]]
    assert [d["trial"] for d in data if d["chosen"]] == [2]
