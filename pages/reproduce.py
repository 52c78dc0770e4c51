"""Reproduce: the field's published results as presets, beside the bench's latest result for each, and a start form."""
import streamlit as st

from bench.reproduce.presets import presets
from ui import reproduce
from ui.common import engine, pool_settings, store

s = store()
st.title("Reproduce published results")
st.markdown("Each preset is one published number with the recipe behind it (stream, backbone, epochs, batch, "
            "optimizer, buffer) and where it was read (repository, file and commit). The bench's result is the mean ± "
            "std over seeds of the finished runs that carry the preset's recipe, wherever they were started.")
reproduce.overview(s)
ids = [p.id for p in presets()]
wanted = st.query_params.get("preset")
if wanted in ids:
    st.session_state["reproduce.preset"] = wanted
pick = st.selectbox("Preset", ids, key="reproduce.preset",
                    on_change=lambda: st.query_params.update(preset=st.session_state["reproduce.preset"]))
preset = next(p for p in presets() if p.id == pick)
reproduce.detail(preset)
if not reproduce.missing(preset):
    reproduce.start_form(s, preset, cuda=engine()["cuda"], pool=pool_settings())
