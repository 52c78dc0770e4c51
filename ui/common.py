"""What every page shares: the store handle, the sidebar, run labels, plain-language errors, chart output."""
from __future__ import annotations

import re
import urllib.parse

import altair as alt
import pandas as pd
import streamlit as st

from bench.execute import jobs
from bench.plots import charts
from bench.results import queries as q
from bench.results.store import Store, resolve_store_path
from bench.spec.params import BadInput
from bench.spec.status import Status

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


@st.cache_resource(show_spinner=False)
def engine() -> dict:
    """The registries and the machine's CUDA devices, read once per server process. Cheap: the registries import
    neither torch nor Avalanche (the workers do, when they train), and the GPUs are counted from the driver."""
    from bench.registry import benchmarks, strategies

    gpus = jobs.gpu_count()
    device = f"CUDA ({gpus} GPU{'s' if gpus != 1 else ''})" if gpus else "CPU (no CUDA device found)"
    return {"benchmarks": benchmarks(), "strategies": strategies(), "cuda": bool(gpus), "device": device}


def sidebar() -> None:
    """The shared sidebar; app.py calls it on every run, before the page."""
    st.session_state[_ROUTED] = True
    s = store()
    with st.sidebar:
        st.caption(f"Results store: `{s.path}`  \nSet $BENCH_STORE to use another file.")
        _pool_controls()
        st.caption(f"Device for 'auto': {engine()['device']}")


EXECUTORS = {"local": "Local processes", "ray": "Ray"}


@st.cache_resource(show_spinner=False)
def _default_workers() -> int:
    return jobs.default_workers()


def pool_settings() -> dict:
    """The sidebar's worker settings, as keyword arguments of jobs.ensure_pool (defaults before the sidebar ran)."""
    ss = st.session_state
    executor = ss.get("sidebar.executor") or "local"
    address = (ss.get("sidebar.ray_address") or "").strip() if executor == "ray" else ""
    return {"workers": int(ss.get("sidebar.workers") or _default_workers()), "executor": executor,
            "ray_address": address or None}


def _describe(pool: dict) -> str:
    if pool.get("executor") == "ray":
        return "Ray tasks"
    n = pool["workers"]
    return f"{n} local process{'es' if n != 1 else ''}"


def _pool_controls() -> None:
    """Workers and executor for the background pool; the pool of a store keeps the settings it started with,
    so a running pool is shown with its own settings and can be restarted with the sidebar's."""
    st.number_input("Workers", min_value=1, max_value=256, value=_default_workers(), step=1, key="sidebar.workers",
                    help="How many runs train at the same time in the background (default: one per GPU, else one "
                         "per CPU core). With Ray, the cluster decides.")
    executor = st.radio("Executor", list(EXECUTORS), format_func=EXECUTORS.get, horizontal=True,
                        key="sidebar.executor", help="Where queued runs train: processes on this machine, or tasks "
                                                     "on a Ray cluster (results still land in this store).")
    if executor == "ray":
        st.text_input("Ray address", key="sidebar.ray_address", placeholder="empty: a local Ray instance",
                      help="Address of a running Ray cluster, e.g. auto or ray://head:10001; leave it empty to "
                           "start a local Ray instance.")
    _pool_state()


@st.fragment(run_every=3 * POLL_S)
def _pool_state() -> None:
    """The running pool and the restart button; polled, so that a pool started, restarted or killed elsewhere
    (another tab, the CLI, a crash) shows without a click."""
    s = store()
    pool = jobs.pool_status(s)
    if not pool:
        st.caption("Workers: none yet (they start with your first run, with these settings)")
        return
    st.caption(f"Workers: {_describe(pool)} running in the background (pid {pool['pid']})")
    want = pool_settings()
    same = pool.get("executor", "local") == want["executor"] and (
        want["executor"] == "ray" or pool["workers"] == want["workers"])
    if not same:
        st.caption("The settings above differ from the running pool's; they apply once the workers restart.")
    running = int(q.status_counts(s).get(Status.RUNNING, 0))
    if st.button("Restart workers with these settings", key="sidebar.restart", disabled=bool(running),
                 type="secondary" if same else "primary"):
        if q.status_counts(s).get(Status.RUNNING, 0):  # a worker claimed a run since this was drawn
            st.warning("A run started training meanwhile; the workers were not restarted.")
        else:
            jobs.stop_pool(s)
            jobs.ensure_pool(s, **pool_settings())
            st.rerun()
    if running:
        st.caption(f"{running} run{'s are' if running != 1 else ' is'} training now: restarting would interrupt "
                   f"{'them' if running != 1 else 'it'}. Restart once the running runs finish (or cancel them on "
                   "the Runs page); queued runs simply wait.")


def share_url(query: dict[str, str], *, at_root: bool = False) -> str | None:
    """An absolute link to the Compare page (the app's root) with `query`, valid from any page of the app;
    None outside a browser session (e.g. in AppTest)."""
    url = st.context.url
    if not url:
        return None
    if at_root and not url.endswith("/"):
        url += "/"
    return urllib.parse.urljoin(url, "./?" + urllib.parse.urlencode(query))


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
