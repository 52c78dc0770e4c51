"""Compare: runs or whole groups side by side; the selection lives in the URL so it can be shared."""
import streamlit as st

from bench.results import queries as q
from ui import compare
from ui.common import store

s = store()
if not q.status_counts(s):
    compare.welcome(s)
    st.stop()

st.title("Compare")
run_ids = compare.select(s)
if not run_ids:
    st.info("Pick groups or runs above to compare them.")
    st.stop()
if compare.pending(s, run_ids):
    compare.progress(run_ids)
compare.render(s, run_ids, key="cmp")
