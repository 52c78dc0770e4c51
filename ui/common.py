"""What every page shares: the store handle, the sidebar, run labels, plain-language errors, chart output."""
from __future__ import annotations

import re
import urllib.parse

import altair as alt
import pandas as pd
import streamlit as st

from bench import charts, jobs
from bench.params import BadInput
from bench.store import Store, resolve_store_path

POLL_S = 1.0  # how often live views poll the store
_ROUTED = "ui.routed"  # set by app.py's sidebar: this session runs through the router


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def _require_router() -> None:
    """Until some session has run st.navigation, Streamlit serves a link straight to a page (e.g. /learn on a
    freshly started server) in its legacy pages/ mode: the page alone, without app.py. Leave that mode and
    rerun, so app.py routes to the same page (url_path == file stem, so the page hash is the same)."""
    from streamlit.runtime.pages_manager import PagesManager

    if not st.session_state.get(_ROUTED) and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def store() -> Store:
    """The results store the engine's rule picks ($BENCH_STORE, else results/bench.duckdb); stops the page
    with a one-line error when that path is unusable. Every page calls this first."""
    _require_router()
    path = resolve_store_path(None)
    try:
        return _store(str(path))
    except BadInput as exc:
        st.error(f"The results store cannot be used: {exc}")
        st.stop()


@st.cache_resource(show_spinner="Loading the engine (torch and Avalanche)…")
def engine() -> dict:
    """Import the registries once per server process (importing Avalanche takes a few seconds)."""
    import torch

    from bench.benchmarks import benchmarks
    from bench.strategies import strategies

    cuda = torch.cuda.is_available()
    device = f"CUDA ({torch.cuda.get_device_name(0)})" if cuda else "CPU (no CUDA device found)"
    return {"benchmarks": benchmarks(), "strategies": strategies(), "cuda": cuda, "device": device}


def sidebar() -> None:
    """The shared sidebar; app.py calls it on every run, before the page."""
    st.session_state[_ROUTED] = True
    s = store()
    info = engine()
    with st.sidebar:
        st.caption(f"Results store: `{s.path}`  \nSet $BENCH_STORE to use another file.")
        pool = jobs.pool_status(s)
        st.caption(f"Workers: {pool['workers']} running in the background" if pool
                   else "Workers: none yet (they start with your first run)")
        st.caption(f"Device for 'auto': {info['device']}")


def share_url(query: dict[str, str], *, at_root: bool = False) -> str | None:
    """An absolute link to the Compare page (the app's root) with `query`, valid from any page of the app;
    None outside a browser session (e.g. in AppTest)."""
    url = st.context.url
    if not url:
        return None
    if at_root and not url.endswith("/"):
        url += "/"
    return urllib.parse.urljoin(url, "./?" + urllib.parse.urlencode(query))


def run_label(row) -> str:
    """'replay · split-digits/class · seed 0 · finished · 1a2b3c4d5e6f' for a runs row."""
    return (f"{row['strategy']} · {row['benchmark']}/{row['scenario']} · seed {row['seed']} · "
            f"{row['status']} · {row['run_id']}")


def plain_error(error: str | None) -> str:
    """The first line of a stored error, without the exception class name, as a sentence."""
    if not isinstance(error, str) or not error.strip():
        return ""
    line = error.strip().splitlines()[0]
    line = re.sub(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Diverged|Cancelled|Input)|interrupted):\s*", "", line)
    if "out of memory" in line.lower():
        line = "the GPU ran out of memory; try a smaller batch size or the CPU"
    return line[:1].upper() + line[1:]


def fmt_seconds(s) -> str:
    if s is None or pd.isna(s):
        return ""
    s = float(s)
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def show_chart(chart: alt.TopLevelMixin, *, key: str, name: str, downloads: bool = True) -> None:
    """Draw a chart (its data is already aggregated) with PNG and SVG downloads rendered on demand."""
    st.altair_chart(chart, key=key, width="content")
    if downloads:
        row = st.container(horizontal=True)
        row.download_button("PNG", data=lambda: charts.to_png(chart), file_name=f"{name}.png", mime="image/png",
                             key=f"{key}.png", on_click="ignore")
        row.download_button("SVG", data=lambda: charts.to_svg(chart), file_name=f"{name}.svg",
                              mime="image/svg+xml", key=f"{key}.svg", on_click="ignore")
