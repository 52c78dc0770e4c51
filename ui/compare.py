"""The comparison view shared by Compare, Learn and the demo: selection in the URL, live progress, charts."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from bench import lessons
from bench.execute import jobs
from bench.plots import charts
from bench.plots.summary import FORGETTING_TITLES, summary_caption, summary_table
from bench.prompt.names import PRETRAIN_TIME, is_micro, micro_cached
from bench.results import importers
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.labels import group_label, run_label
from bench.spec.status import TERMINAL, Status
from bench.train.metrics import FORGETTING
from ui import facts, reproduce, validation
from ui.common import POLL_S, fmt_seconds, pool_settings, share_url, show_chart, store

STABILITY_GAP = (
    "**The stability gap** (De Lange, van de Ven & Tuytelaars, ICLR 2023): evaluated after every few training "
    "steps instead of only at the end of each experience, the accuracy on old experiences often drops sharply as "
    "soon as a new experience starts, then partly recovers, even with replay. Accuracy matrices and ACC only see "
    "the recovered end points. **min-ACC** averages each old experience's lowest accuracy after it was learned; "
    "**WC-ACC** (worst-case accuracy) weighs the last experience's accuracy by 1/T against min-ACC by (T-1)/T; "
    "**Anytime ACC** averages, over every evaluation point, the accuracy on the experiences seen so far. All three "
    "come from the dense curves (every `eval_every` iterations; eval_every=1 is the paper's per-iteration "
    "protocol, a sparser curve can miss part of a dip).")


# -- selection ---------------------------------------------------------------------------------------------
def _ids_from_url(name: str) -> list[str] | None:
    if name not in st.query_params:
        return None
    return list(dict.fromkeys(x.strip() for v in st.query_params.get_all(name) for x in v.split(",") if x.strip()))


def _write_url(name: str, key: str) -> None:
    st.query_params[name] = ",".join(st.session_state.get(key, []))


def select(s: Store, *, key: str = "cmp") -> list[str]:
    """Group and run pickers synced with ?groups=...&runs=... ; returns the selected run ids (any status).
    Without a selection in the URL, the most recent comparison is selected. Unknown ids are dropped with a
    one-line warning."""
    groups = q.groups(s)
    runs = q.run_overview(s)
    url_groups, url_runs = _ids_from_url("groups"), _ids_from_url("runs")
    if url_groups is None and url_runs is None:
        url_groups, url_runs = q.latest_comparison(s), []
        st.query_params["groups"] = ",".join(url_groups)
    url_groups, url_runs = url_groups or [], url_runs or []
    known_g, known_r = set(groups.group_id), set(runs.run_id)
    unknown = [g for g in url_groups if g not in known_g] + [r for r in url_runs if r not in known_r]
    url_groups, url_runs = [g for g in url_groups if g in known_g], [r for r in url_runs if r in known_r]
    if unknown:
        st.warning(f"Ignored {len(unknown)} unknown id(s) from the link: {', '.join(unknown[:5])[:120]}")
        if not url_groups and not url_runs:  # nothing usable left: show the most recent comparison instead
            url_groups = q.latest_comparison(s)
            st.query_params["groups"] = ",".join(url_groups)
            st.query_params.pop("runs", None)
    st.session_state[f"{key}.groups"] = url_groups
    st.session_state[f"{key}.runs"] = url_runs
    g_labels = {r["group_id"]: group_label(r) for _, r in groups.iterrows()}
    st.multiselect("Groups (same stream, scenario, strategy and parameters; seeds averaged)",
                   list(groups.group_id), format_func=g_labels.get, key=f"{key}.groups", on_change=_write_url,
                   args=("groups", f"{key}.groups"))
    with st.expander("Or pick single runs"):
        r_labels = {r.run_id: run_label(r) for r in runs.itertuples()}
        st.multiselect("Runs", list(runs.run_id), format_func=r_labels.get, key=f"{key}.runs",
                       on_change=_write_url, args=("runs", f"{key}.runs"))
    query = {k: ",".join(st.session_state[f"{key}.{k}"]) for k in ("groups", "runs") if st.session_state[f"{key}.{k}"]}
    link = share_url(query, at_root=True) if query else None
    if link:
        st.caption(f"Link to this comparison: [{link}]({link})")
    sel, _ = q.resolve_selection(s, group_ids=st.session_state[f"{key}.groups"],
                                 run_ids=st.session_state[f"{key}.runs"])
    return list(sel.run_id)


# -- live progress -----------------------------------------------------------------------------------------
def pending(s: Store, run_ids: list[str]) -> list[str]:
    df = q.resolve_selection(s, group_ids=[], run_ids=run_ids)[0]
    return list(df.run_id[~df.status.isin(TERMINAL)])


@st.fragment(run_every=POLL_S)
def progress(run_ids: list[str]) -> None:
    """Progress bars of the queued and running runs among `run_ids`; reruns the whole page when none is left."""
    s = store()
    jobs.reap(s)
    df = q.run_overview(s)
    df = df[df.run_id.isin(run_ids)]
    active = df[~df.status.isin(TERMINAL)]
    if active.empty:
        st.rerun()
    done = len(df) - len(active)
    st.info(f"{done} of {len(df)} runs done; the charts update when the rest finish. "
            "You can close this tab: the runs go on in the background.")
    if not jobs.pool_status(s):
        st.warning("No workers are running for this store, so these runs wait: start them on the Runs page.")
    for r in active.sort_values("created_at").itertuples():
        st.progress(float(r.progress), text=progress_text(r))


def progress_text(r) -> str:
    """'replay · seed 0: experience 3 of 5 · 4 s elapsed, about 3 s left' for a run_overview row."""
    if r.status == Status.QUEUED:
        return f"{r.strategy} · seed {r.seed}: queued"
    known = not pd.isna(r.n_experiences) and not pd.isna(r.current_exp) and r.current_exp >= 0
    exp = f"experience {int(r.current_exp) + 1} of {int(r.n_experiences)}" if known else (
        f"pretraining {r.backbone}, once for this machine ({PRETRAIN_TIME.get(r.backbone, 'a minute or two')})"
        if is_micro(getattr(r, "backbone", None)) and not micro_cached(r.backbone) else "starting")
    eta = "" if pd.isna(r.eta_s) else f", about {fmt_seconds(r.eta_s)} left"
    cancelling = " (cancelling)" if r.cancel_requested else ""
    return f"{r.strategy} · seed {r.seed}: {exp} · {fmt_seconds(r.elapsed_s)} elapsed{eta}{cancelling}"


# -- results -----------------------------------------------------------------------------------------------
def finished(s: Store, run_ids: list[str]) -> list[str]:
    """The runs among `run_ids` that have results (finished or imported)."""
    return q.with_results(s, run_ids)


def series_for(s: Store, run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    groups = q.selected_groups(s, run_ids)
    return charts.series_table(groups), groups


def forgetting_choice(key: str) -> str:
    """The forgetting definition the summary table and the per-experience chart show (a radio, kept per view)."""
    return st.radio("Forgetting", list(FORGETTING), format_func=FORGETTING.get, horizontal=True,
                    key=f"{key}.forgetting_def",
                    help="Two definitions are common. Chaudhry et al. 2018 (RWalk; also Mammoth): the best accuracy "
                         "an experience had after it was learned, minus its final accuracy. Avalanche: the accuracy "
                         "just after learning it, minus its final accuracy (equal to -BWT). They differ where an "
                         "experience's accuracy rose after it was learned.")


def render(s: Store, run_ids: list[str], *, key: str,
           sections: tuple[str, ...] = ("summary", "report", "validation", "facts", "retention", "matrices",
                                        "forgetting", "recall"), max_points: int = 80) -> None:
    """Summary table and charts of the finished runs among `run_ids`, grouped by config, seeds averaged;
    `max_points`: the retention curves' points each (dense points thinned to about that many)."""
    ids = finished(s, run_ids)
    if not ids:
        st.info("None of the selected runs has finished yet.")
        return
    series, groups = series_for(s, ids)
    definition = "forgetting"
    if "summary" in sections:
        st.subheader("Summary (mean ± std over seeds)")
        definition = forgetting_choice(key)  # the summary's and the per-experience chart's
        val = q.summary(s, ids, split=q.VAL)
        table = summary_table(q.summary(s, ids), series, groups, forgetting=definition, val=val)
        st.dataframe(reproduce.with_published(s, table, series, groups), hide_index=True)
        st.caption(summary_caption(groups, forgetting=definition, has_val=not val.empty))
        reproduce.published_marker(s, ids, series, groups, key=key)
        with st.expander("The stability gap: what WC-ACC, min-ACC and Anytime ACC measure"):
            st.markdown(STABILITY_GAP)
    if "report" in sections:
        report_buttons(s, ids, key=key)
    if "validation" in sections:
        validation.section(s, ids, series, key=key)
    if "facts" in sections:
        facts.section(s, ids, series, key=key)
    if "retention" in sections:
        st.subheader("Retention: accuracy on each experience during training")
        curves = q.retention(s, ids, max_points=max_points)
        if _has(curves):
            st.caption("Dashed lines: training moves to the next experience (grey when every strategy switches at "
                       "the same iteration). Band: ± std over seeds. Click a legend entry to highlight a strategy.")
            units = sorted({v["step_unit"] for v in importers.sources(s, ids).values()} - {"iteration"})
            if units:
                st.caption(f"Imported runs are drawn against what their files count ({', '.join(units)}), not "
                           "training iterations.")
            show_chart(charts.retention_chart(curves, q.boundaries(s, ids), series), key=f"{key}.retention",
                       name="retention")
    if "matrices" in sections:
        st.subheader("Accuracy matrices")
        mats = q.matrices(s, ids)
        if _has(mats):
            show_chart(charts.matrix_chart(mats, series), key=f"{key}.matrices", name="accuracy-matrices")
    if "forgetting" in sections:
        if "summary" not in sections:
            definition = forgetting_choice(key)
        forg = q.forgetting_by_experience(s, ids, definition=definition)
        st.subheader(f"Forgetting per experience: {FORGETTING[definition]}")
        if forg.empty:
            st.caption("Nothing to show: forgetting needs a sequence of at least two experiences (joint training "
                       "has none).")
        else:
            show_chart(charts.forgetting_chart(forg, series, title=FORGETTING_TITLES[definition]),
                       key=f"{key}.forgetting", name="forgetting")
    if "recall" in sections:
        st.subheader("Per-class recall across the stream")
        recall = q.class_recall(s, ids)
        if _has(recall):
            show_chart(charts.class_recall_chart(recall, series), key=f"{key}.recall", name="class-recall")


def report_buttons(s: Store, run_ids: list[str], *, key: str) -> None:
    """This comparison to take away (built on demand): a self-contained HTML report, the table as LaTeX or
    Markdown."""
    from bench.plots import report

    row = st.container(horizontal=True)
    row.download_button("Report (HTML)", data=lambda: report.html_report(s, run_ids), file_name="bench-report.html",
                        mime="text/html", key=f"{key}.report.html", on_click="ignore")
    row.download_button("Table (LaTeX)", data=lambda: report.latex(s, run_ids), file_name="bench-summary.tex",
                        mime="text/x-tex", key=f"{key}.report.tex", on_click="ignore")
    row.download_button("Table (Markdown)", data=lambda: report.markdown(s, run_ids), file_name="bench-summary.md",
                        mime="text/markdown", key=f"{key}.report.md", on_click="ignore")


def _has(df: pd.DataFrame) -> bool:
    if df.empty:
        st.caption("These runs stored no rows for this chart.")
    return not df.empty


# -- first visit -------------------------------------------------------------------------------------------
def welcome(s: Store) -> None:
    st.title("Continual-learning bench")
    st.markdown(
        "Neural networks trained on one task after another forget the earlier ones. This bench lets you "
        "**see** that forgetting and compare the strategies that fight it, on small datasets that run on a laptop.")
    demo = lessons.DEMO
    est = demo.estimate_s(len(demo.configs), pool_running=bool(jobs.pool_status(s)))
    st.markdown(f"Your results store is empty. Start with the demo: {demo.summary.lower()} "
                f"({len(demo.configs)} runs, about {fmt_seconds(est)}).")
    if st.button("Run the one-minute demo", type="primary", key="demo.start"):
        run_ids = lessons.start(demo, s, **pool_settings())
        groups = q.resolve_selection(s, group_ids=[], run_ids=run_ids)[0].group_id
        st.switch_page("pages/compare.py", query_params={"groups": ",".join(dict.fromkeys(groups))})
    st.caption("Or build your own comparison on the Launch page, or follow a lesson on the Learn page.")
