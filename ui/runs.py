"""The live list of runs: progress of active ones, a table of all, cancel and delete."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from bench.execute import jobs
from bench.results import queries as q
from bench.spec.labels import run_label
from bench.spec.status import RESULT_STATUSES, STATUSES, TERMINAL, Status
from ui import resume
from ui.common import POLL_S, fmt_seconds, plain_error, pool_settings, store
from ui.compare import progress_text


def table(df: pd.DataFrame) -> pd.DataFrame:
    """The runs as the table shows them (plain words, seconds, one link per run)."""
    exp = [f"{int(c) + 1} of {int(n)}" if not (pd.isna(c) or pd.isna(n)) and c >= 0 else ""
           for c, n in zip(df.current_exp, df.n_experiences, strict=True)]
    return pd.DataFrame({
        "Strategy": df.strategy, "Stream": df.benchmark + " / " + df.scenario, "Seed": df.seed,
        "Status": df.status, "Progress": df.progress.fillna(0.0), "Experience": exp,
        "Elapsed": df.elapsed_s.map(fmt_seconds), "Remaining": df.eta_s.map(fmt_seconds),
        "ACC": df.acc, "Details": "run_detail?id=" + df.run_id, "Error": df.error.map(plain_error), "Run": df.run_id,
    })


COLUMNS = {
    "Progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0, format="percent"),
    "ACC": st.column_config.NumberColumn("ACC", format="%.3f", help="Mean final accuracy over experiences."),
    "Error": st.column_config.TextColumn("Error", width="large"),
    "Details": st.column_config.LinkColumn("Details", display_text="open", help="The run's detail page."),
}


@st.fragment(run_every=POLL_S)
def live() -> None:
    """Re-drawn every POLL_S seconds: marks runs whose process died as interrupted, then shows everything."""
    s = store()
    jobs.reap(s)
    df = q.run_overview(s)
    counts = df.status.value_counts()
    st.caption(" · ".join(f"{counts.get(k, 0)} {k}" for k in STATUSES if counts.get(k, 0)) or "No runs yet.")
    active = df[~df.status.isin(TERMINAL)]
    if not active.empty:
        st.subheader("In progress")
        if not jobs.pool_status(s):
            st.warning("No worker pool is running for this store, so queued runs wait. Start it below.")
            if st.button("Start the workers", key="runs.pool"):
                jobs.ensure_pool(s, **pool_settings())  # the sidebar's settings
        for r in active.sort_values("created_at").itertuples():
            bar, button = st.columns([6, 1], vertical_alignment="bottom")
            bar.progress(float(r.progress), text=progress_text(r))
            if r.cancel_requested:
                button.caption("cancelling…")
            elif button.button("Cancel", key=f"runs.cancel.{r.run_id}"):
                jobs.cancel(s, r.run_id)
                st.toast(f"Cancelling {r.strategy} · seed {r.seed}")  # the next poll shows its new status
    st.subheader("All runs")
    resume.interrupted(s, df)
    st.dataframe(table(df), hide_index=True, column_config=COLUMNS, key="runs.table")
    failed = df[df.status == Status.FAILED]
    if not failed.empty:
        with st.expander(f"What went wrong ({len(failed)} failed)"):
            for r in failed.itertuples():
                st.markdown(f"**{r.strategy}**, seed {r.seed} (`{r.run_id}`): {plain_error(r.error)}")


def manage(s) -> None:
    """Delete finished, failed, cancelled or interrupted runs (with their rows)."""
    df = q.run_overview(s)
    done = df[df.status.isin(TERMINAL)]
    if done.empty:
        return
    with st.expander("Delete runs"):
        labels = {r.run_id: run_label(r) for r in done.itertuples()}
        chosen = st.multiselect("Runs to delete", list(done.run_id), format_func=labels.get, key="runs.delete.pick")
        left, right = st.columns(2)
        if left.button(f"Delete {len(chosen)} selected", disabled=not chosen, key="runs.delete"):
            jobs.delete(s, chosen)
            st.rerun()
        bad = list(done.run_id[~done.status.isin(RESULT_STATUSES)])  # finished and imported runs are results
        if right.button(f"Delete all {len(bad)} failed, cancelled or interrupted", disabled=not bad,
                        key="runs.delete.bad"):
            jobs.delete(s, bad)
            st.rerun()
