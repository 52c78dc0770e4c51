"""Altair charts of the facts stream (no Streamlit here): recall curves, recall against recognition, and
retention against later updates with the fitted power law. Inputs are the thin, aggregated tables of
bench.knowledge_report; colours and labels come from bench.charts.series_table, so a strategy looks the same
here as on every other chart.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from bench.facts.stream import N_CANDIDATES
from bench.plots.charts import _PAD, _exp_axis, _with_series, series_scale

RECOGNITION_CHANCE = 1.0 / N_CANDIDATES


def iteration_scale(log_x: bool) -> alt.Scale:
    """Linear, or symmetric-log (iteration 0 exists, so a plain log scale cannot show it)."""
    return alt.Scale(type="symlog", constant=1) if log_x else alt.Scale(type="linear")


def log_ticks(max_value: float) -> list[int]:
    """0 and 1-2-5 steps up to `max_value`: symlog axes otherwise label only two or three ticks."""
    ticks, k = [0], 0
    while 10 ** k <= max(1.0, max_value):
        ticks += [m * 10 ** k for m in (1, 2, 5) if m * 10 ** k <= max_value]
        k += 1
    return ticks


def _legend(title: str = "Strategy") -> alt.Legend:
    return alt.Legend(orient="bottom", columns=3, labelLimit=360, titleLimit=400, title=title, symbolOpacity=1)


def recall_curves_chart(curves: pd.DataFrame, series: pd.DataFrame, bounds: pd.DataFrame | None = None, *,
                        log_x: bool = False, columns: int = 3, width: int = 240,
                        height: int = 170) -> alt.FacetChart:
    """Recall of each experience's facts (one panel each) against training iterations, one colour per series
    with a +/- std band over seeds; dashed grey rules where training moves to the next experience. With
    `log_x` the iteration axis is symmetric-log, which spreads out the plateau before recall appears.
    Input: knowledge_report.recall_curves; bounds: queries.boundaries."""
    d = _with_series(curves, series).assign(
        lo=lambda x: (x.recall_mean - x.recall_std).clip(0, 1), hi=lambda x: (x.recall_mean + x.recall_std).clip(0, 1),
        layer="curve")
    exps = pd.DataFrame({"test_exp": sorted(curves.test_exp.unique())})
    parts = [d]
    if bounds is not None and not bounds.empty:
        b = bounds[["iteration"]].drop_duplicates().merge(exps, how="cross").assign(layer="boundary")
        parts.append(b)
    data = pd.concat(parts, ignore_index=True).round(4)
    shown = series[series.series.isin(d.series)]
    color = alt.Color("series:N", scale=series_scale(shown), legend=_legend())
    x = alt.X("iteration:Q", title="Training iteration" + (" (symlog)" if log_x else ""),
              scale=iteration_scale(log_x),
              axis=alt.Axis(values=log_ticks(float(curves.iteration.max()))) if log_x else alt.Axis())
    curve = alt.Chart().transform_filter(alt.datum.layer == "curve").encode(x=x)
    y = alt.Y("recall_mean:Q", title="Recall", scale=alt.Scale(domain=[0, 1]))
    band = curve.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title="Recall", scale=alt.Scale(domain=[0, 1])),
                                                y2="hi:Q", color=color)
    line = curve.mark_line(strokeWidth=2).encode(
        y=y, color=color,
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("iteration:Q"),
                 alt.Tooltip("recall_mean:Q", title="recall", format=".3f"),
                 alt.Tooltip("recognition_mean:Q", title="recognition", format=".3f"),
                 alt.Tooltip("n:Q", title="seeds")])
    rules = alt.Chart().transform_filter(alt.datum.layer == "boundary").mark_rule(
        strokeDash=[4, 3], color="#888888").encode(x=x)
    header = alt.Header(labelExpr="'Facts of experience ' + (datum.value + 1)", title=None, labelFontSize=12)
    return (alt.layer(band, line, rules, data=data).properties(width=width, height=height)
            .facet(facet=alt.Facet("test_exp:O", header=header), columns=columns))


def recall_vs_recognition_chart(final: pd.DataFrame, series: pd.DataFrame, *, width: int = 420,
                                height: int = 220) -> alt.LayerChart:
    """Final recall and recognition of every experience, per series: a light bar for recognition (pick the
    true value among a few candidates) behind a solid bar for recall (produce it); the light part above a
    solid bar is what is still recognised but no longer recalled. Dotted rule: recognition by chance.
    Input: knowledge_report.final_recall_recognition."""
    d = _with_series(final, series)
    d = d.assign(measure=pd.Categorical(d.measure, ["recognition", "recall"])).sort_values(
        ["measure", "test_exp"]).assign(measure=lambda x: x.measure.astype(str), layer="bar")
    data = pd.concat([d, pd.DataFrame({"layer": ["chance"], "mean": [RECOGNITION_CHANCE]})],
                     ignore_index=True).round(4)
    shown = series[series.series.isin(d.series)]
    bars = alt.Chart().transform_filter(alt.datum.layer == "bar").mark_bar().encode(
        x=alt.X("test_exp:O", axis=_exp_axis("Facts of experience")),
        xOffset=alt.XOffset("series:N", sort=list(shown.series)),
        y=alt.Y("mean:Q", title="At the end of training", scale=alt.Scale(domain=[0, 1]), stack=None),
        color=alt.Color("series:N", scale=series_scale(shown), legend=_legend()),
        opacity=alt.Opacity("measure:N", scale=alt.Scale(domain=["recognition", "recall"], range=[0.3, 1.0]),
                            legend=alt.Legend(orient="bottom", title="Measure")),
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("measure:N"),
                 alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("std:Q", format=".3f"),
                 alt.Tooltip("n:Q", title="seeds")])
    chance = alt.Chart().transform_filter(alt.datum.layer == "chance").mark_rule(
        strokeDash=[2, 3], color="#555555").encode(
        y="mean:Q", tooltip=[alt.Tooltip("mean:Q", title="recognition by chance", format=".2f")])
    return alt.layer(bars, chance, data=data).properties(width=width, height=height, autosize=_PAD)


def fit_labels(fits: pd.DataFrame, series: pd.DataFrame) -> pd.DataFrame:
    """series rows with a legend label that carries the fit: 'naive: exponent 0.18 (r² 0.67)'."""
    f = series.merge(fits, on="group_id", how="left")
    label = [f"{s}: exponent {b:.2f} (r² {r2:.2f})" if pd.notna(b) else f"{s}: no fit"
             for s, b, r2 in zip(f.series, f.exponent, f.r2, strict=True)]
    return f.assign(label=label)


def retention_fit_chart(points: pd.DataFrame, line: pd.DataFrame, fits: pd.DataFrame, series: pd.DataFrame, *,
                        width: int = 420, height: int = 260) -> alt.LayerChart:
    """Retained recall of learned facts (1 = nothing forgotten) against 1 + later updates, both axes log:
    points averaged over seeds and experiences, and each group's fitted power law
    retained = a * (1 + updates) ^ -exponent as a line (straight on log-log axes); the exponent and r² are
    in the legend. Input: knowledge_report.retention_points, fitted_curve and power_law_fits."""
    labels = fit_labels(fits, series)
    names = labels.set_index("group_id")[["label", "exponent"]]
    pts = points.join(names, on="group_id").assign(x=lambda v: v.updates + 1, layer="points")
    fit = line.join(names, on="group_id").assign(x=lambda v: v.updates + 1, layer="fit")
    data = pd.concat([pts, fit], ignore_index=True).drop(columns="group_id").round(5)
    used = labels[labels.label.isin(data.label)]
    color = alt.Color("label:N", scale=alt.Scale(domain=list(used.label), range=list(used.color)),
                      legend=_legend("Strategy: exponent of the power law (larger = faster forgetting)"))
    x = alt.X("x:Q", title="1 + later training updates (log)", scale=alt.Scale(type="log", nice=False))
    y = alt.Y("retained:Q", title="Recall retained (log)", scale=alt.Scale(type="log", nice=False))
    dots = alt.Chart().transform_filter(alt.datum.layer == "points").mark_circle(size=28, opacity=0.55).encode(
        x=x, y=y, color=color,
        tooltip=[alt.Tooltip("label:N", title="strategy"), alt.Tooltip("updates:Q", title="later updates"),
                 alt.Tooltip("retained:Q", format=".3f"), alt.Tooltip("n:Q", title="points averaged")])
    curve = alt.Chart().transform_filter(alt.datum.layer == "fit").mark_line(strokeWidth=2.5).encode(
        x=x, y=y, color=color,
        tooltip=[alt.Tooltip("label:N", title="fit"), alt.Tooltip("exponent:Q", format=".3f"),
                 alt.Tooltip("updates:Q", title="later updates"), alt.Tooltip("retained:Q", format=".3f")])
    return alt.layer(dots, curve, data=data).properties(width=width, height=height, autosize=_PAD)
