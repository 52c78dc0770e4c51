"""Altair charts from the tidy, already-aggregated DataFrames of bench.results.queries (no Streamlit here).

Colours come from bench.plots.palette: every strategy owns one colour, and several groups of one strategy (e.g.
replay with different buffer sizes) get lighter and darker shades of it.
"""
from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd

from bench.plots.palette import UNKNOWN_COLOR, shade, strategy_color, strategy_order
from bench.spec.config import without_later_defaults
from bench.spec.labels import device_kinds

ACCURACY_SCHEME = "blues"
# width/height are the plot's own size (Streamlit's theme would otherwise squeeze legends and axes into them)
_PAD = alt.AutoSizeParams(type="pad")
# Run-config fields that never tell two groups apart in a label (seeds are aggregated; the rest is not science).
_NOT_IN_LABELS = ("strategy", "seed", "device", "data_dir", "params", "benchmark_params", "imported")
# Run settings whose default is the strategy's own (auto, resolved per strategy when a run is validated): like a
# strategy parameter, they tell apart only groups of the same strategy.
_PER_STRATEGY = ("reset_optimizer",)


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _flat(cfg: dict) -> dict:
    # a setting added after a run was stored, at its old value or auto, does not tell groups apart
    cfg = without_later_defaults(dict(cfg))
    out = {k: v for k, v in cfg.items() if k not in _NOT_IN_LABELS and k not in _PER_STRATEGY}
    out.update({f"run.{k}": cfg[k] for k in _PER_STRATEGY if k in cfg})
    out.update({f"bench.{k}": v for k, v in (cfg.get("benchmark_params") or {}).items()})
    out.update({f"param.{k}": v for k, v in (cfg.get("params") or {}).items()})
    return out


def _part(key: str, value) -> str:
    if key in ("benchmark", "scenario"):
        return str(value)
    if key == "on":
        return f"on {value}"
    return f"{key.split('.', 1)[-1]}={value}"


def series_table(groups: pd.DataFrame) -> pd.DataFrame:
    """Name and colour every group: (group_id, series, strategy, color), sorted for legends.

    A label is the strategy plus whatever tells the group apart from the others shown with it: stream,
    scenario or run settings that differ across the selection, and parameters that differ between groups
    of the same strategy. Input: bench.queries.groups() rows (group_id, strategy, config_json)."""
    if groups.empty:
        return pd.DataFrame(columns=["group_id", "series", "strategy", "color"])
    flat = {g: _flat(json.loads(c)) for g, c in zip(groups.group_id, groups.config_json, strict=True)}
    if "devices" in groups:  # where the runs ran: named when a group mixes devices or the groups differ in it
        for g, devices in zip(groups.group_id, groups.devices, strict=True):
            if kinds := device_kinds(devices):
                flat[g]["on"] = "+".join(kinds)
    strategy = dict(zip(groups.group_id, groups.strategy, strict=True))
    keys = sorted({k for f in flat.values() for k in f})
    # An imported run's config has no run settings (epochs, lr, ...): its missing keys do not make them vary.
    imported = {g for g, c in zip(groups.group_id, groups.config_json, strict=True) if json.loads(c).get("imported")}
    varying = {k for k in keys if not k.startswith(("param.", "run.")) and len(
        {repr(f.get(k)) for g, f in flat.items() if k in f or g not in imported}) > 1}
    varying |= {"on"} if any("+" in str(f.get("on", "")) for f in flat.values()) else set()
    rows = []
    for g, f in flat.items():
        same = [flat[h] for h in flat if strategy[h] == strategy[g]]
        own = {k for k in keys
               if k.startswith(("param.", "bench.", "run.")) and len({repr(s.get(k)) for s in same}) > 1}
        parts = [_part(k, f[k]) for k in keys if (k in varying or k in own) and f.get(k) is not None]
        parts = ["imported"] + parts if g in imported else parts  # results made elsewhere: say so on every chart
        label = strategy[g] + (f" ({', '.join(parts)})" if parts else "")
        rows.append({"group_id": g, "series": label, "strategy": strategy[g]})
    seen: dict[str, int] = {}
    for r in rows:
        seen[r["series"]] = seen.get(r["series"], 0) + 1
    for r in rows:
        if seen[r["series"]] > 1:
            r["series"] += f" [{r['group_id'][:6]}]"
    order = strategy_order()
    rows.sort(key=lambda r: (order.index(r["strategy"]) if r["strategy"] in order else len(order),
                             _natural(r["series"])))
    shades: dict[str, int] = {}
    for r in rows:
        k = shades[r["strategy"]] = shades.get(r["strategy"], -1) + 1
        r["color"] = shade(strategy_color(r["strategy"]), k)
    return pd.DataFrame(rows, columns=["group_id", "series", "strategy", "color"])


def series_scale(series: pd.DataFrame) -> alt.Scale:
    return alt.Scale(domain=list(series.series), range=list(series.color))


def strategy_scale(names: list[str]) -> alt.Scale:
    order = strategy_order()
    names = sorted(set(names), key=lambda n: order.index(n) if n in order else len(order))
    return alt.Scale(domain=names, range=[strategy_color(n) for n in names])


def _exp_axis(title: str) -> alt.Axis:
    return alt.Axis(title=title, labelExpr="datum.value + 1", labelAngle=0)


def _with_series(df: pd.DataFrame, series: pd.DataFrame) -> pd.DataFrame:
    return df.merge(series[["group_id", "series"]], on="group_id").drop(columns="group_id")


def retention_chart(curves: pd.DataFrame, bounds: pd.DataFrame, series: pd.DataFrame, *,
                    columns: int = 3, width: int = 260, height: int = 180) -> alt.FacetChart:
    """Accuracy on each experience's test set (one panel each) against training iterations; one colour per
    series with a +/- std band over seeds; dashed rules where training moves to the next experience.
    Clicking a legend entry highlights that series. Input: queries.retention and queries.boundaries."""
    d = _with_series(curves, series).assign(
        lo=lambda x: (x["mean"] - x["std"]).clip(0, 1), hi=lambda x: (x["mean"] + x["std"]).clip(0, 1),
        layer="curve", shared=False)
    exps = sorted(curves.test_exp.unique())
    b = _with_series(bounds, series)
    # A boundary every series shares is drawn once, in grey; the others in their series' colour.
    shared = b.groupby("iteration").series.transform("nunique") == b.series.nunique()
    b = pd.concat([b[~shared].assign(shared=False),
                   b[shared].drop_duplicates("iteration").assign(series="", shared=True)])
    b = b.merge(pd.DataFrame({"test_exp": exps}), how="cross").assign(layer="boundary")
    data = pd.concat([d, b[["series", "test_exp", "iteration", "layer", "shared"]]], ignore_index=True).round(4)
    pick = alt.selection_point(fields=["series"], bind="legend")
    color = alt.Color("series:N", scale=series_scale(series), title="Strategy (click to highlight)",
                      legend=alt.Legend(orient="bottom", columns=3, labelLimit=320, symbolOpacity=1))
    base = alt.Chart().encode(x=alt.X("iteration:Q", title="Training iteration"))
    curve = base.transform_filter(alt.datum.layer == "curve")
    y = alt.Y("mean:Q", title="Test accuracy", scale=alt.Scale(domain=[0, 1]))
    band = curve.mark_area().encode(y=alt.Y("lo:Q", title="Test accuracy", scale=alt.Scale(domain=[0, 1])),
                                    y2="hi:Q", color=color,
                                    opacity=alt.condition(pick, alt.value(0.18), alt.value(0.03)))
    line = curve.mark_line(strokeWidth=2).encode(
        y=y, color=color, opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("iteration:Q"),
                 alt.Tooltip("mean:Q", title="accuracy", format=".3f"), alt.Tooltip("std:Q", format=".3f"),
                 alt.Tooltip("n:Q", title="seeds")],
    ).add_params(pick)
    rules = base.transform_filter(alt.datum.layer == "boundary").mark_rule(strokeDash=[4, 3]).encode(
        color=alt.condition("datum.shared", alt.value("#888888"), color),
        opacity=alt.condition(pick, alt.value(0.6), alt.value(0.1)))
    header = alt.Header(labelExpr="'Test set of experience ' + (datum.value + 1)", title=None, labelFontSize=12)
    return (alt.layer(band, line, rules, data=data).properties(width=width, height=height)
            .facet(facet=alt.Facet("test_exp:O", header=header), columns=columns))


def matrix_chart(mats: pd.DataFrame, series: pd.DataFrame, *, columns: int = 3, cell: int = 40) -> alt.FacetChart:
    """Accuracy matrices as annotated heatmaps, one per series, all on one colour scale [0, 1]. Rows: after
    training experience i; columns: tested on experience j. Input: queries.matrices."""
    d = _with_series(mats, series).round(4)
    n = int(max(mats.test_exp.max(), mats.trained_exp.max()) + 1) if not mats.empty else 1
    base = alt.Chart().encode(x=alt.X("test_exp:O", axis=_exp_axis("Tested on experience")),
                              y=alt.Y("trained_exp:O", axis=_exp_axis("After training experience")))
    rect = base.mark_rect().encode(
        color=alt.Color("mean:Q", scale=alt.Scale(domain=[0, 1], scheme=ACCURACY_SCHEME), title="Accuracy"),
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("mean:Q", title="accuracy", format=".3f"),
                 alt.Tooltip("std:Q", format=".3f"), alt.Tooltip("n:Q", title="seeds")])
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("mean:Q", format=".2f"),
        color=alt.condition(alt.datum.mean > 0.55, alt.value("white"), alt.value("#222222")))
    return (alt.layer(rect, text, data=d).properties(width=cell * n, height=cell * n)
            .facet(facet=alt.Facet("series:N", sort=list(series.series), title=None,
                                   header=alt.Header(labelFontSize=12, labelLimit=300)), columns=columns))


def forgetting_chart(forg: pd.DataFrame, series: pd.DataFrame, *, title: str = "Forgetting", width: int = 520,
                     height: int = 240) -> alt.LayerChart:
    """Forgetting per experience as grouped bars with +/- std over seeds; `title` names the definition (the y
    axis). Input: queries.forgetting_by_experience (either definition)."""
    d = _with_series(forg, series).assign(lo=lambda x: x["mean"] - x["std"], hi=lambda x: x["mean"] + x["std"])
    shown = series[series.series.isin(d.series)]
    color = alt.Color("series:N", scale=series_scale(shown), title="Strategy",
                      legend=alt.Legend(orient="bottom", columns=3, labelLimit=320))
    base = alt.Chart().encode(x=alt.X("test_exp:O", axis=_exp_axis("Experience")),
                              xOffset=alt.XOffset("series:N", sort=list(shown.series)))
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title=title), color=color,
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("mean:Q", title="forgetting", format=".3f"),
                 alt.Tooltip("std:Q", format=".3f"), alt.Tooltip("n:Q", title="seeds")])
    err = base.mark_rule(color="#333333").encode(y="lo:Q", y2="hi:Q")
    return alt.layer(bars, err, data=d.round(4)).properties(width=width, height=height, autosize=_PAD)


def class_recall_chart(recall: pd.DataFrame, series: pd.DataFrame, *, columns: int = 3,
                       cell: int = 26) -> alt.FacetChart:
    """Per-class recall across the stream: class x evaluation point (untrained, then after each experience),
    one heatmap per series; classes ordered by the experience that brings them. Input: queries.class_recall."""
    d = _with_series(recall, series).round(4)
    n_points = int(recall.trained_exp.nunique()) if not recall.empty else 1
    n_classes = int(recall.class_id.nunique()) if not recall.empty else 1
    x = alt.X("trained_exp:O", axis=alt.Axis(title="Evaluated after experience", labelAngle=0,
                                             labelExpr="datum.value < 0 ? 'start' : datum.value + 1"))
    y = alt.Y("class_id:O", title="Class", sort=alt.EncodingSortField("exp_of_class", op="mean"))
    rect = alt.Chart().mark_rect().encode(
        x=x, y=y, color=alt.Color("recall:Q", scale=alt.Scale(domain=[0, 1], scheme=ACCURACY_SCHEME), title="Recall"),
        tooltip=[alt.Tooltip("series:N", title="strategy"), alt.Tooltip("class_id:O", title="class"),
                 alt.Tooltip("recall:Q", format=".3f"), alt.Tooltip("n:Q", title="seeds")])
    return (alt.layer(rect, data=d).properties(width=cell * n_points + 20, height=cell * n_classes * 0.7)
            .facet(facet=alt.Facet("series:N", sort=list(series.series), title=None,
                                   header=alt.Header(labelFontSize=12, labelLimit=300)), columns=columns))


def metric_bars(values: pd.DataFrame, *, x: str, x_title: str, metric_title: str, x_sort: list | None = None,
                width: int = 420, height: int = 240) -> alt.LayerChart:
    """Grouped bars of one metric (mean +/- std over seeds) by `x` (e.g. scenario), one bar per strategy in
    the strategy's colour. Input columns: strategy, `x`, mean, std."""
    d = values.assign(lo=lambda v: v["mean"] - v["std"].fillna(0), hi=lambda v: v["mean"] + v["std"].fillna(0))
    scale = strategy_scale(list(d.strategy))
    base = alt.Chart().encode(x=alt.X(f"{x}:N", title=x_title, sort=x_sort, axis=alt.Axis(labelAngle=0)),
                              xOffset=alt.XOffset("strategy:N", sort=list(scale.domain)))
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title=metric_title), color=alt.Color("strategy:N", scale=scale, title="Strategy"),
        tooltip=["strategy:N", f"{x}:N", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("std:Q", format=".3f")])
    err = base.mark_rule(color="#333333").encode(y="lo:Q", y2="hi:Q")
    return alt.layer(bars, err, data=d.round(4)).properties(width=width, height=height, autosize=_PAD)


def param_chart(values: pd.DataFrame, *, param: str, strategy: str, baseline: pd.DataFrame | None = None,
                baseline_label: str = "", width: int = 300, height: int = 220) -> alt.FacetChart:
    """Metric(s) against one strategy parameter on a log axis (mean +/- std over seeds), one panel per
    metric; an optional dashed baseline per metric. Input columns: value, metric, mean, std; baseline:
    metric, mean."""
    d = values.assign(lo=lambda v: v["mean"] - v["std"].fillna(0), hi=lambda v: v["mean"] + v["std"].fillna(0),
                      layer="curve")
    if baseline is not None and not baseline.empty:
        d = pd.concat([d, baseline.assign(layer="baseline")], ignore_index=True)
    col = strategy_color(strategy)
    base = alt.Chart().encode(x=alt.X("value:Q", title=param, scale=alt.Scale(type="log")))
    curve = base.transform_filter(alt.datum.layer == "curve")
    line = curve.mark_line(point=True, color=col).encode(
        y=alt.Y("mean:Q", title=None),
        tooltip=[alt.Tooltip("value:Q", title=param), alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("std:Q", format=".3f")])
    err = curve.mark_rule(color=col).encode(y="lo:Q", y2="hi:Q")
    rule = alt.Chart().transform_filter(alt.datum.layer == "baseline").mark_rule(
        strokeDash=[5, 4], color=strategy_color(baseline_label.split(" ")[0]) if baseline_label else UNKNOWN_COLOR
    ).encode(y="mean:Q", tooltip=[alt.Tooltip("mean:Q", title=baseline_label or "baseline", format=".3f")])
    return (alt.layer(line, err, rule, data=d.round(4)).properties(width=width, height=height)
            .facet(facet=alt.Facet("metric:N", title=None, header=alt.Header(labelFontSize=12)), columns=2)
            .resolve_scale(y="independent"))


def run_retention_chart(curves: pd.DataFrame, bounds: pd.DataFrame, *, width: int = 620,
                        height: int = 260) -> alt.LayerChart:
    """One run: accuracy on every experience's test set against iterations, one colour per experience,
    dashed rules at experience boundaries. Input: queries.retention / boundaries of a single run."""
    d = curves.assign(experience=lambda x: (x.test_exp + 1).astype(str), layer="curve")
    d = pd.concat([d, bounds.assign(layer="boundary")], ignore_index=True).round(4)
    pick = alt.selection_point(fields=["experience"], bind="legend")
    base = alt.Chart().encode(x=alt.X("iteration:Q", title="Training iteration"))
    line = base.transform_filter(alt.datum.layer == "curve").mark_line(strokeWidth=2).encode(
        y=alt.Y("mean:Q", title="Test accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("experience:N", title="Test set of experience", scale=alt.Scale(scheme="viridis"),
                        sort=alt.EncodingSortField("test_exp"),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
        tooltip=["experience:N", "iteration:Q", alt.Tooltip("mean:Q", title="accuracy", format=".3f")],
    ).add_params(pick)
    rules = base.transform_filter(alt.datum.layer == "boundary").mark_rule(strokeDash=[4, 3], color="#888888")
    return alt.layer(line, rules, data=d).properties(width=width, height=height, autosize=_PAD)


def loss_chart(curve: pd.DataFrame, bounds: pd.DataFrame, *, width: int = 620, height: int = 220) -> alt.LayerChart:
    """One run's training loss against iterations, with the experience boundaries. Input: queries.train_curve."""
    d = pd.concat([curve[["iteration", "loss", "accuracy", "trained_exp"]].assign(layer="curve"),
                   bounds.assign(layer="boundary")], ignore_index=True).round(4)
    base = alt.Chart().encode(x=alt.X("iteration:Q", title="Training iteration"))
    line = base.transform_filter(alt.datum.layer == "curve").mark_line(color="#444444").encode(
        y=alt.Y("loss:Q", title="Training loss"),
        tooltip=["iteration:Q", alt.Tooltip("loss:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")])
    rules = base.transform_filter(alt.datum.layer == "boundary").mark_rule(strokeDash=[4, 3], color="#888888")
    return alt.layer(line, rules, data=d).properties(width=width, height=height, autosize=_PAD)


def _spec(chart: alt.TopLevelMixin) -> dict:
    with alt.data_transformers.enable("default", max_rows=None):  # our data is aggregated already
        return chart.to_dict()


def to_png(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    import vl_convert

    return vl_convert.vegalite_to_png(_spec(chart), scale=scale)


def to_svg(chart: alt.TopLevelMixin) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(_spec(chart))
