"""The Launch form's part for your own data: where it may live, and a preview of the stream (classes, experiences
with their sample counts, one image per class) before anything starts."""
from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from bench.benchmarks import arrays, image_folder
from bench.benchmarks.own_files import ROOTS_ENV, data_roots
from bench.spec.params import BadInput

PREVIEWS = {image_folder.NAME: image_folder.preview, arrays.NAME: arrays.preview}
WHAT = {image_folder.NAME: "folder of class folders", arrays.NAME: ".npz file"}


def is_own_data(benchmark: str) -> bool:
    return benchmark in PREVIEWS


def preview(benchmark: str, params: dict) -> str | None:
    """Show the preview of an own-data stream; returns the one-line problem shown instead, if any (so that the page
    does not repeat it), else None. Other streams show nothing."""
    if not is_own_data(benchmark):
        return None
    roots = os.pathsep.join(str(r) for r in data_roots())
    st.markdown("**Preview of your data**")
    st.caption(f"The path is a {WHAT[benchmark]} inside the allowed data roots: {roots} (set ${ROOTS_ENV} to change "
               f"them). Nothing starts until you press Start.")
    try:
        with st.spinner("Reading your data (every image is decoded once, then cached for later runs)…"):
            pv = PREVIEWS[benchmark](params, seed=0)
    except BadInput as exc:
        (st.info if not str(params.get("path", "")).strip() else st.error)(str(exc))
        return str(exc)
    st.markdown(f"{pv.title}. Classes: {', '.join(pv.class_names[:40])}{' …' if len(pv.class_names) > 40 else ''}")
    st.dataframe(pd.DataFrame(pv.experiences), hide_index=True)
    if pv.samples:
        st.image([img for _, img in pv.samples], caption=[name for name, _ in pv.samples], width=64)
    for note in pv.notes:
        st.caption(note)
    return None
