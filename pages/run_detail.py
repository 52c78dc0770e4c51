"""Run detail: one run's config, accuracy matrix, retention curves, training loss, timing and downloads."""

import streamlit as st

from bench.results import queries as q
from bench.spec.labels import run_label
from bench.spec.status import RESULT_STATUSES, TERMINAL
from ui import run_detail as detail
from ui.common import POLL_S, store
from ui.compare import welcome

LIVE_S = 2 * POLL_S  # the recorder writes progress every 2 s

s = store()
runs = q.run_overview(s)
if runs.empty:
    welcome(s)
    st.stop()

wanted = st.query_params.get("id")
if wanted and wanted not in set(runs.run_id):
    st.warning(f"Ignored the unknown run id {wanted[:40]!r} from the link.")
    wanted = None
finished = runs[runs.status.isin(RESULT_STATUSES)]
st.session_state["detail.run"] = wanted or (finished.run_id.iloc[0] if not finished.empty else runs.run_id.iloc[0])
labels = {r["run_id"]: run_label(r) for _, r in runs.iterrows()}
run_id = st.selectbox("Run", list(runs.run_id), format_func=labels.get, key="detail.run",
                      on_change=lambda: st.query_params.update(id=st.session_state["detail.run"]))

if runs.status[runs.run_id == run_id].iloc[0] not in TERMINAL:  # (read above; the fragment reads it afresh)
    st.fragment(detail.show, run_every=LIVE_S)(s, run_id, live=True)
else:
    detail.show(s, run_id, live=False)
