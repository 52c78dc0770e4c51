"""The charts of a search (no Streamlit): parallel coordinates, one line per trial, and the objective against each
searched setting. Input: bench.results.tunes.trials() with its settings spread out (tunes.settings), one row per
trial, and the search's space as dicts (bench.execute.tune.space.Domain.to_dict)."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

OBJECTIVE = "objective"
OBJECTIVE_SCHEME = "viridis"
PARTIAL_COLOR = "#aaaaaa"  # trials that did not finish: their objective so far covers fewer experiences
OUTCOME_LABELS = {"finished": "finished", "stopped_early": "stopped early (partial objective)",
                  "running": "running (so far)", "cancelled": "cancelled (partial)", "interrupted": "interrupted"}
_PAD = alt.AutoSizeParams(type="pad")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _positions(values: pd.Series, domain: dict) -> tuple[pd.Series, str, str]:
    """A setting's values on a [0, 1] axis (log axes in log space; choices evenly spaced in the domain's order),
    and the labels of the axis' two ends."""
    if domain["kind"] == "choice" and not (domain["type"] in ("int", "float") and len(domain["values"]) > 2):
        order = list(domain["values"]) or sorted(values.dropna().unique(), key=str)
        index = {repr(v): i for i, v in enumerate(order)}
        span = max(len(order) - 1, 1)
        pos = values.map(lambda v: index.get(repr(v), math.nan) / span if len(order) > 1 else 0.5)
        return pos, _fmt(order[0]), _fmt(order[-1])
    x = values.astype(float)
    lo = domain["low"] if domain.get("low") is not None else min(domain["values"] or [x.min()])
    hi = domain["high"] if domain.get("high") is not None else max(domain["values"] or [x.max()])
    log = domain["kind"] == "loguniform" or (domain["kind"] == "choice" and lo > 0 and hi / lo >= 100)
    f = (lambda v: math.log10(v)) if log else (lambda v: v)
    a, b = f(lo), f(hi)
    pos = x.map(lambda v: 0.5 if b == a else (f(v) - a) / (b - a))
    return pos, _fmt(lo), _fmt(hi) + (" (log)" if log else "")


def axes_table(trials: pd.DataFrame, space: list[dict]) -> pd.DataFrame:
    """The long table the parallel-coordinates chart draws: (trial, axis, position in [0, 1], value, objective,
    outcome), one row per searched setting of every trial that reported an objective, and one on the objective axis
    for the finished trials only: a trial stopped early reported a validation ACC over fewer experiences, which is
    not on the same scale. The objective axis spans the finished trials' range."""
    done = trials[trials[OBJECTIVE].notna()]
    finished = done[done.outcome == "finished"]
    parts, ends = [], []
    for d in space:
        pos, lo, hi = _positions(done[d["name"]], d)
        parts.append(pd.DataFrame({"trial": done.trial, "axis": d["name"], "position": pos,
                                   "value": done[d["name"]].map(_fmt)}))
        ends.append((d["name"], lo, hi))
    lo, hi = finished[OBJECTIVE].min(), finished[OBJECTIVE].max()
    span = (hi - lo) or 1.0
    parts.append(pd.DataFrame({"trial": finished.trial, "axis": OBJECTIVE,
                               "position": (finished[OBJECTIVE] - lo) / span if hi > lo else 0.5,
                               "value": finished[OBJECTIVE].map(lambda v: f"{v:.3f}")}))
    ends.append((OBJECTIVE, f"{lo:.3f}" if len(finished) else "", f"{hi:.3f}" if len(finished) else ""))
    long = pd.concat(parts, ignore_index=True).join(done.set_index("trial")[[OBJECTIVE, "outcome"]], on="trial")
    long.attrs["ends"] = ends
    return long


def parallel_coordinates(trials: pd.DataFrame, space: list[dict], *, objective_title: str, width: int = 640,
                         height: int = 300) -> alt.LayerChart:
    """One line per trial across one vertical axis per searched setting and one for the objective, each axis
    normalised to [0, 1] (its ends labelled with the real values; log-scaled settings on a log axis); finished trials
    coloured by their objective, trials stopped early grey and dashed, ending before the objective axis."""
    long = axes_table(trials, space)
    axes = [d["name"] for d in space] + [OBJECTIVE]
    x = alt.X("axis:N", sort=axes, title=None, axis=alt.Axis(labelAngle=0, orient="top", labelFontWeight="bold"))
    y = alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[0, 1]))
    tooltip = ["trial:N", "axis:N", "value:N", alt.Tooltip(f"{OBJECTIVE}:Q", format=".3f"), "outcome:N"]
    base = alt.Chart(long).encode(x=x, y=y, detail="trial:N", tooltip=tooltip)
    lines = base.transform_filter(alt.datum.outcome == "finished").mark_line(strokeWidth=2, opacity=0.9).encode(
        color=alt.Color(f"{OBJECTIVE}:Q", scale=alt.Scale(scheme=OBJECTIVE_SCHEME), title=objective_title))
    partial = base.transform_filter(alt.datum.outcome != "finished").mark_line(
        strokeWidth=1.5, strokeDash=[4, 3], color=PARTIAL_COLOR, opacity=0.9)
    ends = pd.DataFrame([{"axis": a, "position": p, "label": label}
                         for a, lo, hi in long.attrs.get("ends", []) for p, label in ((0.0, lo), (1.0, hi))])
    rules = alt.Chart(pd.DataFrame({"axis": axes})).mark_rule(color="#999").encode(x=alt.X("axis:N", sort=axes))
    labels = alt.Chart(ends).mark_text(align="left", dx=4, fontSize=10, color="#555").encode(
        x=alt.X("axis:N", sort=axes), y=y, text="label:N")
    return alt.layer(rules, partial, lines, labels).properties(
        width=width, height=height, autosize=_PAD,
        title="Parallel coordinates: one line per trial, every axis scaled to its range")


def objective_by_setting(trials: pd.DataFrame, space: list[dict], *, objective_title: str, best_trial: int | None,
                         width: int = 220, height: int = 200) -> alt.HConcatChart:
    """The objective against each searched setting (one panel each; log-scaled settings on a log axis), the chosen
    trial ringed, trials stopped early in grey (their objective so far covers fewer experiences)."""
    done = trials[trials[OBJECTIVE].notna()].assign(
        chosen=lambda d: d.trial == best_trial, trial_is=lambda d: d.outcome.map(lambda o: OUTCOME_LABELS.get(o, o)))
    shown = list(dict.fromkeys(done.trial_is))
    color = alt.Color("trial_is:N", title="trial", scale=alt.Scale(
        domain=shown, range=["#1f77b4" if s == "finished" else PARTIAL_COLOR for s in shown]))
    panels = []
    for d in space:
        numeric = d["type"] in ("int", "float")
        log = d["kind"] == "loguniform" or (numeric and d["kind"] == "choice" and min(d["values"]) > 0
                                            and max(d["values"]) / min(d["values"]) >= 100)
        x = (alt.X(f"{d['name']}:Q", scale=alt.Scale(type="log" if log else "linear", zero=False))
             if numeric else alt.X(f"{d['name']}:N", sort=[str(v) for v in d["values"]], axis=alt.Axis(labelAngle=0)))
        data = done if numeric else done.assign(**{d["name"]: done[d["name"]].map(str)})
        base = alt.Chart(data).encode(x=x, y=alt.Y(f"{OBJECTIVE}:Q", title=objective_title,
                                                   scale=alt.Scale(zero=False)))
        points = base.mark_circle(size=70).encode(
            color=color,
            tooltip=["trial:N", alt.Tooltip(f"{OBJECTIVE}:Q", format=".3f"), f"{d['name']}:N", "outcome:N"])
        ring = base.transform_filter(alt.datum.chosen).mark_point(size=260, color="black", strokeWidth=2)
        panels.append(alt.layer(points, ring).properties(width=width, height=height, title=d["name"]))
    return alt.hconcat(*panels).properties(title="The objective against each searched setting")
