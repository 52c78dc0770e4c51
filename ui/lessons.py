"""One guided lesson: its explanation, the runs it needs (reused when already in the store), its charts."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from bench import lessons
from bench.execute import jobs
from bench.plots import charts
from bench.results import queries as q
from bench.results.store import Store
from ui import compare
from ui.common import fmt_seconds, pool_settings, show_chart


def render(s: Store, lesson: lessons.Lesson) -> None:
    st.markdown(lesson.text)
    plan = lessons.plan(lesson, s)
    total, missing = len(lesson.configs), len(plan.missing)
    if missing:
        est = lesson.estimate_s(missing, pool_running=bool(jobs.pool_status(s)))
        reused = f"{total - missing} of its {total} runs are already in your store; " if total - missing else ""
        st.caption(f"{reused}{missing} run{'s' if missing != 1 else ''} to go, about {fmt_seconds(est)} on a laptop "
                   "CPU.")
        if st.button(f"Run this lesson ({missing} run{'s' if missing != 1 else ''})", type="primary",
                     key=f"lesson.{lesson.key}.start"):
            lessons.start(lesson, s, **pool_settings())
            st.rerun()
        if not plan.found:
            return
    else:
        st.caption(f"All {total} runs of this lesson are in your store (matched by their configuration).")
    waiting = compare.pending(s, plan.run_ids)
    if waiting:
        compare.progress(plan.run_ids)
    done = compare.finished(s, plan.run_ids)
    if not done:
        return
    views = {"compare": _compare, "scenarios": _scenarios, "replay": _replay, "facts": _facts, "stability": _stability}
    views[lesson.view](s, done, lesson)
    if lesson.takeaway and not waiting:
        st.success(lesson.takeaway)


def count_words(n: int) -> str:
    """'Six' for 6 (capitalised, for the start of a sentence); digits above twelve."""
    words = ("No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve")
    return words[n] if 0 <= n < len(words) else str(n)


def _compare(s: Store, ids: list[str], lesson: lessons.Lesson) -> None:
    compare.render(s, ids, key=f"lesson.{lesson.key}", sections=("summary", "retention", "matrices"))


def _stability(s: Store, ids: list[str], lesson: lessons.Lesson) -> None:
    # every point of the per-step curves: thinned to the usual 80 points a curve, the dips would be smoothed away
    compare.render(s, ids, key=f"lesson.{lesson.key}", sections=("summary", "retention"), max_points=400)


def _facts(s: Store, ids: list[str], lesson: lessons.Lesson) -> None:
    compare.render(s, ids, key=f"lesson.{lesson.key}", sections=("facts",))


def _metric_by_group(s: Store, ids: list[str]) -> pd.DataFrame:
    """summary rows joined with each group's strategy and scenario."""
    groups = q.groups(s, group_ids=sorted(set(q.resolve_selection(s, group_ids=[], run_ids=ids)[0].group_id)))
    return q.summary(s, ids).merge(groups[["group_id", "strategy", "scenario"]], on="group_id")


def _scenarios(s: Store, ids: list[str], lesson: lessons.Lesson) -> None:
    data = _metric_by_group(s, ids)
    left, right = st.columns(2)
    for col, metric, title in ((left, "acc", "Final accuracy (ACC)"),
                               (right, "forgetting", "Forgetting (best earlier − final)")):
        with col:
            st.subheader(title)
            chart = charts.metric_bars(data[data.metric == metric], x="scenario", x_title="Scenario (…-incremental)",
                                       x_sort=["task", "domain", "class"], metric_title=title, width=320)
            show_chart(chart, key=f"lesson.{lesson.key}.{metric}", name=f"lesson-{lesson.key}-{metric}")
    with st.expander("Retention curves in the class-incremental scenario"):
        runs = q.runs(s, run_ids=ids)
        compare.render(s, list(runs.run_id[runs.scenario == "class"]), key=f"lesson.{lesson.key}.class",
                       sections=("retention",))


def _replay(s: Store, ids: list[str], lesson: lessons.Lesson) -> None:
    data = _metric_by_group(s, ids)
    data = data[data.metric.isin(["acc", "forgetting"])]
    data = data.assign(metric=data.metric.map({"acc": "Final accuracy (ACC)",
                                               "forgetting": "Forgetting (best earlier − final)"}))
    mem = q.group_param(s, ids, "mem_size").rename(columns={"value": "mem"})
    data = data.merge(mem, on="group_id", how="left")
    replay = data[data.strategy == "replay"].rename(columns={"mem": "value"})
    base = data[data.strategy == "naive"][["metric", "mean"]]
    st.subheader("Buffer size against accuracy and forgetting")
    show_chart(charts.param_chart(replay[["value", "metric", "mean", "std"]], param="Replay buffer size (samples)",
                                  strategy="replay", baseline=base, baseline_label="naive (no buffer)"),
               key=f"lesson.{lesson.key}.param", name=f"lesson-{lesson.key}")
    compare.render(s, ids, key=f"lesson.{lesson.key}.cmp", sections=("summary", "forgetting"))
