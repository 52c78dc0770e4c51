"""Choosing settings on the validation split: the Compare section ranking a sweep's settings, the Launch advice."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from bench.plots import charts
from bench.results import queries as q
from bench.results.store import Store
from bench.train.metrics import LOWER_IS_BETTER
from ui.common import show_chart

RANK_METRICS = {"acc": "ACC", "wc_acc": "WC-ACC", "anytime_acc": "Anytime ACC", "forgetting": "Forgetting"}
NO_SPLIT = ("These settings have no validation split (val_fraction = 0), so nothing here can choose between them "
            "without looking at the test numbers, which would report a winner selected on the test sets. Run the "
            "sweep again with val_fraction > 0 (Launch, Advanced; or --val-fraction 0.1) to rank it on validation.")


def _fmt(mean, std) -> str:
    if pd.isna(mean):
        return "n/a"
    return f"{mean:.3f}" + ("" if pd.isna(std) else f" ± {std:.3f}")


def section(s: Store, ids: list[str], series: pd.DataFrame, *, key: str) -> None:
    """For every strategy shown with several settings: its settings ranked on the validation split (rank 1 is the
    one chosen), the test numbers to report beside them, and the metric against the one swept parameter."""
    swept = series.groupby("strategy").group_id.nunique()
    if not (swept > 1).any():
        return
    st.subheader("Choosing settings on validation")
    metric = st.selectbox("Rank settings by", list(RANK_METRICS), format_func=RANK_METRICS.get,
                          key=f"{key}.rank_metric")
    ranked = q.rank_on_validation(s, ids, metric=metric)
    ranked = ranked[ranked.strategy.isin(swept[swept > 1].index)]
    if ranked.empty:
        st.caption(NO_SPLIT)
        return
    name = RANK_METRICS[metric]
    labels = dict(zip(series.group_id, series.series, strict=True))
    table = pd.DataFrame({
        "Setting": ranked.group_id.map(labels), "Rank (on validation)": ranked["rank"].astype(int),
        f"{name} (val)": [_fmt(m, d) for m, d in zip(ranked.val_mean, ranked.val_std, strict=True)],
        f"{name} (test, reported)": [_fmt(m, d) for m, d in zip(ranked.test_mean, ranked.test_std, strict=True)],
        "Seeds": ranked.n.astype(int)})
    st.dataframe(table, hide_index=True)
    better = "lowest" if metric in LOWER_IS_BETTER else "highest"
    st.caption(f"Within each strategy (same stream, scenario and stream settings), rank 1 is the setting with the "
               f"{better} mean {name} on the validation split held out of the training data: the one to choose. "
               "Report its test numbers. Settings without a validation split are not ranked.")
    _param_charts(s, ids, ranked, metric=metric, key=key)


def _swept_param(configs: list[dict]) -> str | None:
    """The one numeric strategy parameter that differs between these configs, if there is exactly one."""
    params = [c.get("params") or {} for c in configs]
    keys = {k for p in params for k in p}
    differ = [k for k in sorted(keys) if len({repr(p.get(k)) for p in params}) > 1]
    if len(differ) != 1 or not all(isinstance(p.get(differ[0]), (int, float)) for p in params):
        return None
    return differ[0]


def _param_charts(s: Store, ids: list[str], ranked: pd.DataFrame, *, metric: str, key: str) -> None:
    groups = q.groups(s, group_ids=list(ranked.group_id)).set_index("group_id")
    for strategy, d in ranked.groupby("strategy"):
        if len(d) < 2:
            continue
        param = _swept_param([json.loads(groups.loc[g, "config_json"]) for g in d.group_id])
        if param is None:
            continue
        value = q.group_param(s, ids, param).set_index("group_id").value
        name = RANK_METRICS[metric]
        data = pd.concat([
            pd.DataFrame({"value": d.group_id.map(value), "metric": f"{name} (validation: choose)",
                          "mean": d.val_mean, "std": d.val_std}),
            pd.DataFrame({"value": d.group_id.map(value), "metric": f"{name} (test: report)",
                          "mean": d.test_mean, "std": d.test_std})], ignore_index=True)
        data = data[data.value > 0]  # a log axis
        if data.value.nunique() > 1:
            show_chart(charts.param_chart(data, param=param, strategy=strategy), key=f"{key}.param.{strategy}",
                       name=f"{strategy}-{param}-validation")


def launch_advice(grids: dict[str, list[dict]], *, val_fraction: float) -> tuple[str, str] | None:
    """What the Launch page says about choosing a sweep's settings: ('warning', text) for a sweep without a
    validation split, ('caption', text) for one with it, None when nothing is swept."""
    if not any(len(g) > 1 for g in grids.values()):
        return None
    if val_fraction > 0:
        return ("caption", f"Each run holds out {val_fraction:g} of every experience's training data for validation: "
                           "Compare ranks this sweep's settings on it (Choosing settings on validation) and shows "
                           "the test numbers to report beside them.")
    return ("warning", "This sweep has no validation split (val_fraction = 0 under Advanced): Compare can then only "
                       "show the settings' test numbers, and choosing the best of them selects on the test sets. Set "
                       "val_fraction (e.g. 0.1) to hold out part of each experience's training data and rank the "
                       "settings on it.")
