"""Checkpoints and resuming on the Runs and Run detail pages: disk use, the resume history, the Resume buttons."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import streamlit as st

from bench.execute import jobs, resume
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.params import BadInput
from bench.spec.status import TERMINAL, Status
from ui.common import pool_settings


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _resume(s: Store, run_ids: list[str]) -> None:
    """Queue the runs again and make sure a worker pool takes them (the sidebar's settings)."""
    for run_id in run_ids:
        try:
            resume.request(s, run_id)
        except BadInput as exc:  # another tab resumed it first
            st.toast(str(exc))
    jobs.ensure_pool(s, **pool_settings())


def section(s: Store, row: dict) -> None:
    """Run detail: the checkpoints on disk, where a resume would start, the Resume button, and the history."""
    run_id = row["run_id"]
    keep = json.loads(row["config_json"]).get("keep_checkpoints", "none")
    info = resume.checkpoints(s, run_id)
    history = q.run_resumes(s, [run_id])
    if row["status"] == Status.INTERRUPTED:
        where = (f"after experience {info['files'][-1][0] + 1} (its last checkpoint)" if info["files"]
                 else "from the start: it has no checkpoint")
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption(f"Resuming goes on {where}; its rows end equal to an uninterrupted run's.")
        if right.button("Resume", key=f"detail.resume.{run_id}"):
            _resume(s, [run_id])
            st.rerun()
    resumed = row.get("resumed_from_exp")
    resumed = None if resumed is None or pd.isna(resumed) else int(resumed)
    if not info["files"] and history.empty and resumed is None:
        return
    with st.expander(f"Checkpoints and resumes · {fmt_bytes(info['bytes'])} on disk", expanded=False):
        if info["files"]:
            st.caption(f"In {info['dir']}: " + ", ".join(f"after experience {k + 1} ({fmt_bytes(b)})"
                                                        for k, b in info["files"]))
        fate = {"none": "deleted when the run ends", "last": "the last one is kept when the run ends",
                "all": "all are kept"}.get(keep, keep)
        st.caption(f"keep_checkpoints = {keep}: {fate}." + (" None are left." if not info["files"] and
                                                            row["status"] in TERMINAL else ""))
        if resumed is not None:
            st.caption("Its latest attempt started over from the beginning (no usable checkpoint)." if resumed < 0
                       else f"Its latest attempt resumed after experience {resumed + 1}.")
        if not history.empty:
            st.dataframe(pd.DataFrame({
                "Attempt": history.attempt, "Queued": history.requested_at.map(_when),
                "By": history.requested_by.map({"auto": "automatically", "user": "by hand"}),
                "Why it had stopped": history.reason,
                "Checkpoint then": history.checkpoint_exp.map(
                    lambda k: "none" if pd.isna(k) else f"after experience {int(k) + 1}"),
            }), hide_index=True, key=f"detail.resumes.{run_id}")


def interrupted(s: Store, df: pd.DataFrame) -> None:
    """Runs: the interrupted runs, with one button to resume them all."""
    stopped = df[df.status == Status.INTERRUPTED]
    if stopped.empty:
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(f"{len(stopped)} interrupted run{'s' if len(stopped) != 1 else ''} can resume from "
                 f"{'their' if len(stopped) != 1 else 'its'} last checkpoint (Run detail shows each one's).")
    if right.button(f"Resume {len(stopped)}", key="runs.resume"):
        _resume(s, list(stopped.run_id))


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t == t else ""
