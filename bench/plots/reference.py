"""The published result beside the bench's: ACC bars (mean ± std over seeds) with a marker at each matching
preset's published value (no Streamlit, no torch)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from bench.plots.charts import series_scale

MARKER_COLOR = "#d62728"


def acc_reference_chart(acc: pd.DataFrame, refs: pd.DataFrame, series: pd.DataFrame, *, width: int = 420,
                        height: int = 240) -> alt.LayerChart:
    """One bar per series (its ACC, mean ± std over seeds) and a red diamond at the published value of each preset
    the series matches, with the preset and its source in the tooltip. Inputs: acc (series, mean, std) from
    queries.summary; refs (series, published, preset, source, exact) from results.references.published_for_groups,
    published as a fraction like ACC; series from charts.series_table."""
    shown = series[series.series.isin(acc.series)]
    order = list(shown.series)
    bars = acc.assign(lo=lambda d: d["mean"] - d["std"].fillna(0), hi=lambda d: d["mean"] + d["std"].fillna(0),
                      layer="bench")
    marks = refs.assign(layer="published", match=refs.exact.map({True: "same recipe", False: "same protocol"}))
    data = pd.concat([bars, marks], ignore_index=True).round(4)
    x = alt.X("series:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelLimit=200))
    y = alt.Y("mean:Q", title="ACC", scale=alt.Scale(domain=[0, 1]))
    base = alt.Chart().encode(x=x)
    bar = base.transform_filter(alt.datum.layer == "bench").mark_bar().encode(
        y=y, color=alt.Color("series:N", scale=series_scale(shown), legend=None),
        tooltip=[alt.Tooltip("series:N", title="group"), alt.Tooltip("mean:Q", title="bench ACC", format=".3f"),
                 alt.Tooltip("std:Q", format=".3f")])
    err = base.transform_filter(alt.datum.layer == "bench").mark_rule(color="#333333").encode(y="lo:Q", y2="hi:Q")
    marker = base.transform_filter(alt.datum.layer == "published").mark_point(
        shape="diamond", size=140, filled=True, color=MARKER_COLOR).encode(
        y=alt.Y("published:Q"),
        tooltip=[alt.Tooltip("preset:N"), alt.Tooltip("published:Q", title="published ACC", format=".4f"),
                 alt.Tooltip("source:N"), alt.Tooltip("match:N")])
    return alt.layer(bar, err, marker, data=data).properties(
        width=width, height=height, title="ACC against the published result (red diamond)")
