"""The facts section of Compare, Run detail and lesson 4: recall curves, recall against recognition, and
retention against later updates with the fitted power law, plus a small summary table."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from bench.facts import charts as kc
from bench.facts import queries as kr
from bench.results import queries as q
from bench.results.store import Store
from ui.common import show_chart

TITLE = "Facts: recall, recognition, retention"


def facts_runs(s: Store, run_ids: list[str]) -> list[str]:
    """The runs among `run_ids` that are on the facts stream."""
    runs = q.runs(s, run_ids=run_ids)
    return list(runs.run_id[runs.benchmark == "facts"])


def _pm(mean, std, dec: int) -> str:
    if mean is None or pd.isna(mean):
        return "n/a"
    return f"{mean:.{dec}f}" + ("" if std is None or pd.isna(std) else f" ± {std:.{dec}f}")


def summary_table(summ: pd.DataFrame, series: pd.DataFrame) -> pd.DataFrame:
    """One row per series of facts_summary, 'mean ± std' over seeds."""
    names = dict(zip(series.group_id, series.series, strict=True))
    order = {g: i for i, g in enumerate(series.group_id)}
    rows = []
    for r in sorted(summ.itertuples(), key=lambda r: order.get(r.group_id, len(order))):
        rows.append({"Strategy": names.get(r.group_id, r.strategy), "Seeds": int(r.recall_count),
                     "Recall, exp. 1": _pm(r.recall_mean, r.recall_std, 3),
                     "Recognition, exp. 1": _pm(r.recognition_mean, r.recognition_std, 3),
                     "Hallucination": _pm(r.hallucination_mean, r.hallucination_std, 3),
                     "Plateau (iterations)": _pm(r.plateau_mean, r.plateau_std, 0),
                     "Power-law exponent": _pm(r.exponent, None, 3), "Fit r²": _pm(r.r2, None, 2)})
    return pd.DataFrame(rows)


def section(s: Store, run_ids: list[str], series: pd.DataFrame, *, key: str) -> None:
    """The facts section for the finished facts runs among `run_ids` (nothing when there are none)."""
    ids = facts_runs(s, run_ids)
    if not ids:
        return
    st.subheader(TITLE)
    points = kr.recall_points(s, ids)
    if points.empty:
        st.caption("These runs stored no evaluation points.")
        return
    st.dataframe(summary_table(kr.facts_summary(s, ids), series), hide_index=True)
    st.caption("Recall: the model produces the right value for (entity, relation). Recognition: it ranks the "
               f"true value first among {kc.N_CANDIDATES} candidates. Hallucination: confident answers about "
               "never-trained entities. Plateau: iterations an experience trained before its recall passed 0.5. "
               "Exponent: retained recall ≈ a·(1 + later updates)^−exponent, fit over all seeds.")
    log_x = st.toggle("Log-scaled iterations", key=f"{key}.facts.logx",
                      help="Symmetric-log axis: spreads out the first iterations, where recall plateaus.")
    st.markdown("**Recall of each experience's facts during training**")
    show_chart(kc.recall_curves_chart(kr.recall_curves(points), series, q.boundaries(s, ids), log_x=log_x),
               key=f"{key}.facts.curves", name="facts-recall-curves")
    left, right = st.columns(2)
    with left:
        st.markdown("**Recall against recognition at the end**")
        show_chart(kc.recall_vs_recognition_chart(kr.final_recall_recognition(points), series, width=340),
                   key=f"{key}.facts.recognition", name="facts-recall-recognition")
        st.caption("Light bars: recognition; solid: recall. The light part is what the model still recognises "
                   "but can no longer recall. Dotted line: recognition by chance.")
    with right:
        st.markdown("**Retention against later updates**")
        retained = kr.retention_table(points)
        if retained.empty:
            st.caption("Retention needs at least two experiences.")
        else:
            fits = kr.power_law_fits(retained)
            line = kr.fitted_curve(fits, float(retained.updates.max()))
            show_chart(kc.retention_fit_chart(kr.retention_points(retained), line, fits, series, width=340),
                       key=f"{key}.facts.retention", name="facts-retention-fit")
            st.caption("Dots: recall retained after an experience was learned, averaged over seeds and "
                       "experiences. Lines: the fitted power law, straight on these log-log axes; a larger "
                       "exponent means faster forgetting.")
