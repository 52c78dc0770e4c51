"""Streamlit entry point: the page router and the shared sidebar. No logic lives here.

url_path = the page file's stem, so that a link straight to a page works even on a freshly started server
(see ui.common._require_router)."""
import streamlit as st

from ui.common import sidebar

st.set_page_config(page_title="Continual-learning bench", layout="wide")
nav = st.navigation([
    st.Page("pages/compare.py", title="Compare", default=True),
    st.Page("pages/launch.py", title="Launch", url_path="launch"),
    st.Page("pages/runs.py", title="Runs", url_path="runs"),
    st.Page("pages/run_detail.py", title="Run detail", url_path="run_detail"),
    st.Page("pages/learn.py", title="Learn", url_path="learn"),
    st.Page("pages/reproduce.py", title="Reproduce", url_path="reproduce"),
    st.Page("pages/tune.py", title="Tune", url_path="tune"),
])
sidebar()
nav.run()
