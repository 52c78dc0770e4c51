"""Runs: every run with its status, live progress, cancel and delete. Refreshes itself."""
import streamlit as st

from bench.results import queries as q
from ui import runs
from ui.common import store
from ui.compare import welcome

s = store()
if not q.status_counts(s):
    welcome(s)
    st.stop()
st.title("Runs")
runs.live()
runs.manage(s)
