"""The comparison view shared by Compare, Learn and the demo: selection in the URL, live progress, charts."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from bench import lessons
from bench.execute import jobs
from bench.plots import charts
from bench.prompt.names import PRETRAIN_TIME, is_micro, micro_cached
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.labels import group_label, run_label
from bench.spec.status import TERMINAL, Status
from ui import facts
from ui.common import POLL_S, fmt_seconds, pool_settings, share_url, show_chart, store

# Summary columns: metric -> (title, decimals)
SUMMARY_METRICS = {
    "acc": ("ACC", 3), "avg_incremental_acc": ("Avg incremental ACC", 3), "bwt": ("BWT", 3), "fwt": ("FWT", 3),
    "forgetting": ("Forgetting", 3), "time_s": ("Time (s)", 1), "method_memory_mb": ("Memory: model + buffer (MB)", 2),
    "kept_samples": ("Buffer + prompts (stored-sample equivalents)", 0),
}


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
def summary_table(summ: pd.DataFrame, series: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """One row per series: 'mean ± std' over seeds (just the mean for one seed; 'n/a' where undefined)."""
    seeds = dict(zip(groups.group_id, groups.n_finished, strict=True))
    rows = []
    for g, name in zip(series.group_id, series.series, strict=True):
        row = {"Strategy": name, "Seeds": int(seeds.get(g, 0))}
        for metric, (title, dec) in SUMMARY_METRICS.items():
            m = summ[(summ.group_id == g) & (summ.metric == metric)]
            if m.empty:
                row[title] = "n/a"
                continue
            mean, std = float(m["mean"].iloc[0]), m["std"].iloc[0]
            row[title] = f"{mean:.{dec}f}" + ("" if pd.isna(std) else f" ± {float(std):.{dec}f}")
        rows.append(row)
    return pd.DataFrame(rows)


def finished(s: Store, run_ids: list[str]) -> list[str]:
    df = q.resolve_selection(s, group_ids=[], run_ids=run_ids)[0]
    return list(df.run_id[df.status == Status.FINISHED])


def series_for(s: Store, run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    groups = q.selected_groups(s, run_ids)
    return charts.series_table(groups), groups


def render(s: Store, run_ids: list[str], *, key: str,
           sections: tuple[str, ...] = ("summary", "facts", "retention", "matrices", "forgetting", "recall")) -> None:
    """Summary table and charts of the finished runs among `run_ids`, grouped by config, seeds averaged."""
    ids = finished(s, run_ids)
    if not ids:
        st.info("None of the selected runs has finished yet.")
        return
    series, groups = series_for(s, ids)
    if "summary" in sections:
        st.subheader("Summary (mean ± std over seeds)")
        st.dataframe(summary_table(q.summary(s, ids), series, groups), hide_index=True)
        st.caption("ACC: mean final accuracy over experiences. BWT: how much training later experiences changed "
                   "accuracy on earlier ones (negative = forgetting). FWT: accuracy on an experience before "
                   "training it, above chance. Forgetting: best earlier accuracy minus final accuracy "
                   "(Chaudhry et al. 2018). Joint training has no sequence, so BWT, FWT and forgetting are n/a. "
                   "Buffer + prompts: the stored samples and the prompt and key numbers a method keeps, counted in "
                   "stored inputs, so that rehearsal-free methods can be set against replay at equal memory "
                   "(regularization methods' importance weights are not counted).")
    if "facts" in sections:
        facts.section(s, ids, series, key=key)
    if "retention" in sections:
        st.subheader("Retention: accuracy on each experience during training")
        curves = q.retention(s, ids)
        if _has(curves):
            st.caption("Dashed lines: training moves to the next experience (grey when every strategy switches at "
                       "the same iteration). Band: ± std over seeds. Click a legend entry to highlight a strategy.")
            show_chart(charts.retention_chart(curves, q.boundaries(s, ids), series), key=f"{key}.retention",
                       name="retention")
    if "matrices" in sections:
        st.subheader("Accuracy matrices")
        mats = q.matrices(s, ids)
        if _has(mats):
            show_chart(charts.matrix_chart(mats, series), key=f"{key}.matrices", name="accuracy-matrices")
    if "forgetting" in sections:
        forg = q.forgetting_by_experience(s, ids)
        st.subheader("Forgetting per experience")
        if forg.empty:
            st.caption("Nothing to show: forgetting needs a sequence of at least two experiences (joint training "
                       "has none).")
        else:
            show_chart(charts.forgetting_chart(forg, series), key=f"{key}.forgetting", name="forgetting")
    if "recall" in sections:
        st.subheader("Per-class recall across the stream")
        recall = q.class_recall(s, ids)
        if _has(recall):
            show_chart(charts.class_recall_chart(recall, series), key=f"{key}.recall", name="class-recall")


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
