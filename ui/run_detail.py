"""One run's page: its config, accuracy matrix, retention curves, training loss, timing and downloads."""
from __future__ import annotations

import io
import json

import streamlit as st

from bench.plots import charts
from bench.prompt.names import backbone_note
from bench.results import importers
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.status import RESULT_STATUSES, TERMINAL, Status
from ui import facts, resume
from ui.common import fmt_seconds, plain_error, show_chart


def show(s: Store, run_id: str, *, live: bool) -> None:
    """Everything about one run. While it is queued or running this is a fragment that redraws itself every
    few seconds, so the page follows the run without full-page reruns; when it has ended, one full rerun
    draws it as a still page (and stops the timer)."""
    row = s.run_row(run_id)
    cfg = json.loads(row["config_json"])

    st.title(f"{row['strategy']} on {row['benchmark']}, {row['scenario']}-incremental, seed {row['seed']}")
    st.caption(f"Status: {row['status']} · device: {row['device'] or 'not started'} · run {run_id} · "
               f"group {row['group_id']}")
    if note := backbone_note(cfg.get("params") or {}):
        st.info(note)
    if row["status"] == Status.FAILED or (row["status"] == Status.INTERRUPTED and row.get("error")):
        st.error(plain_error(row["error"]))
        with st.expander("Technical details"):
            st.code(row["error"], language=None)
    elif row["status"] not in TERMINAL:
        st.info(f"This run is {row['status']}; this page updates itself as it trains.")
    elif row["status"] == Status.IMPORTED:
        src = importers.sources(s, [run_id]).get(run_id, {})
        st.info(f"Imported from {src.get('source', 'an unknown source')} ({src.get('tool', '?')}); its steps count "
                f"{src.get('step_unit', '?')}s. The bench did not train it and never re-runs it.")
    elif row["status"] not in RESULT_STATUSES:
        st.info(f"This run is {row['status']}.")
    resume.section(s, row)

    mdf = q.run_metrics(s, [run_id])
    m = dict(zip(mdf.metric, mdf.value, strict=True)) if row["status"] in RESULT_STATUSES else {}
    cols = st.columns(7)
    for col, (name, title, fmt) in zip(cols, [("acc", "ACC", "{:.3f}"), ("bwt", "BWT", "{:.3f}"),
                                              ("forgetting", "Forgetting", "{:.3f}"), ("fwt", "FWT", "{:.3f}"),
                                              ("peak_memory_mb", "Peak RAM of the run", "{:.0f} MB"),
                                              ("method_memory_mb", "Memory: model + buffer", "{:.2f} MB"),
                                              ("param_count", "Parameters", "{:,.0f}")], strict=True):
        v = m.get(name)
        col.metric(title, "n/a" if v is None or v != v else fmt.format(v))
    st.caption(f"Time: {fmt_seconds(m.get('time_s'))} in all, {fmt_seconds(m.get('train_time_s'))} training · "
               f"{int(m.get('iterations', 0) or 0)} iterations, evaluated every {int(m.get('eval_every', 0) or 0)}"
               + (f" · keeps {m['prompt_params']:,.0f} prompt and key numbers, the size of {m['kept_samples']:,.0f} "
                  "stored samples" if m.get("prompt_params") else "")
               if m and row["status"] == Status.FINISHED else
               "Imported results carry no timing." if m else "Timing appears when the run finishes.")

    with st.expander("Configuration"):
        st.json(cfg)

    series = charts.series_table(q.groups(s, group_ids=[row["group_id"]])).assign(series=row["strategy"])
    bounds = q.boundaries(s, [run_id]).drop(columns="group_id")
    mats = q.matrices(s, [run_id])
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Accuracy matrix")
        if mats.empty:
            st.caption("No experience has finished yet.")
        else:
            show_chart(charts.matrix_chart(mats, series, columns=1), key="detail.matrix", name=f"{run_id}-matrix")
    with right:
        st.subheader("Retention per experience")
        curves = q.retention(s, [run_id], max_points=200).drop(columns="group_id")
        if curves.empty:
            st.caption("No evaluation yet.")
        else:
            show_chart(charts.run_retention_chart(curves, bounds, width=440), key="detail.retention",
                       name=f"{run_id}-retention")
    facts.section(s, [run_id] if row["status"] in RESULT_STATUSES else [], series, key="detail")
    st.subheader("Training loss")
    loss = q.train_curve(s, run_id)
    if loss.empty:
        st.caption("No training step yet.")
    else:
        show_chart(charts.loss_chart(loss, bounds, width=760), key="detail.loss", name=f"{run_id}-loss")

    st.subheader("Download this run's rows")
    table = st.selectbox("Table", q.ROW_EXPORT_TABLES, index=1, key="detail.table")
    buttons = st.container(horizontal=True)
    buttons.download_button("CSV", data=lambda: q.run_rows(s, run_id, table).to_csv(index=False),
                            file_name=f"{run_id}-{table}.csv", mime="text/csv", key="detail.csv", on_click="ignore")
    buttons.download_button("Parquet", data=lambda: _parquet(s, run_id, table), file_name=f"{run_id}-{table}.parquet",
                            mime="application/vnd.apache.parquet", key="detail.parquet", on_click="ignore")
    if live and row["status"] in TERMINAL:
        st.rerun()


def _parquet(s: Store, run_id: str, table: str) -> bytes:
    buf = io.BytesIO()
    q.run_rows(s, run_id, table).to_parquet(buf, index=False)
    return buf.getvalue()
