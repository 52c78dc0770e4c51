"""AppTest of sweeps on the Launch page and of the sidebar's worker settings (real pool daemons, stopped after)."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import streamlit as st
from apphelp import APP, open_app
from streamlit.testing.v1 import AppTest

from bench.execute import jobs
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "sweeps.duckdb"
    monkeypatch.setenv("BENCH_STORE", str(path))
    st.cache_resource.clear()
    st.cache_data.clear()
    s = Store(path)
    yield s
    jobs.stop_pool(s)


def count_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "will start**" in m.value)


def sweep_replay(at: AppTest, text: str) -> None:
    at.checkbox(key="launch.strategy.naive").uncheck().run()
    at.toggle(key="launch.sweep.replay").set_value(True).run()
    at.text_input(key="launch.sweep.replay.mem_size").set_value(text).run()


def test_a_replay_sweep_counts_the_grid_and_queues_it(store):
    at = open_app("pages/launch.py", **{"sidebar.workers": 1})
    at.number_input(key="launch.run.epochs").set_value(1).run()
    sweep_replay(at, "50,100")
    at.text_input(key="launch.seeds").set_value("0,1").run()
    assert count_line(at) == "**4 runs will start**: 1 strategy × 2 seeds; replay sweeps 2 settings."
    assert at.button(key="launch.start").label == "Start 4 runs" and not at.button(key="launch.start").disabled
    at.button(key="launch.start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = q.runs(store)
    configs = [RunConfig.from_json(c) for c in runs.config_json]
    assert sorted((c.strategy, c.params["mem_size"], c.seed) for c in configs) == [
        ("replay", 50, 0), ("replay", 50, 1), ("replay", 100, 0), ("replay", 100, 1)]
    assert {c.epochs for c in configs} == {1} and runs.sweep_id.nunique() == 1
    assert set(runs.status) <= {"queued", "running", "finished"}
    assert "Queued 4 runs" in at.success[0].value
    pool = jobs.pool_status(store)  # started with the sidebar's settings
    assert pool and pool["workers"] == 1 and pool["executor"] == "local"


def test_a_bad_sweep_text_shows_its_error_and_queues_nothing(store):
    at = open_app("pages/launch.py")
    sweep_replay(at, "50,lots")
    assert [e.value for e in at.error] == [
        "replay.mem_size: 'lots' is not valid: expected an integer in [1, 100000]; values like 50,100,200, a range "
        "start:stop:step like 1:10:3, or a log range like log 1 10000 5"]
    assert at.button(key="launch.start").disabled
    assert any(c.value == "Fix the fields marked in red first." for c in at.caption)
    at.text_input(key="launch.sweep.replay.mem_size").set_value("0:2").run()
    assert [e.value for e in at.error] == ["replay.mem_size=0 is out of range: expected an integer in [1, 100000]"]
    assert at.button(key="launch.start").disabled
    assert q.status_counts(store) == {} and jobs.pool_status(store) is None


def test_sweep_fields_start_from_the_single_values_and_take_log_ranges(store):
    at = open_app("pages/launch.py")
    at.checkbox(key="launch.strategy.ewc").check().run()
    at.text_input(key="launch.param.ewc.ewc_lambda").set_value("250").run()
    at.toggle(key="launch.sweep.ewc").set_value(True).run()
    field = at.text_input(key="launch.sweep.ewc.ewc_lambda")
    assert field.value == "250" and "log 1 10000 5" in field.help
    field.set_value("log 1 10000 5").run()
    # naive 1 + replay 1 + ewc 5 settings, one seed
    assert count_line(at) == "**7 runs will start**: 3 strategies × 1 seed; ewc sweeps 5 settings."
    at.selectbox(key="launch.param.ewc.mode").set_value("online").run()  # choices stay single values
    assert count_line(at).startswith("**7 runs will start**")
    at.text_input(key="launch.seeds").set_value("0-99").run()
    assert any("too many" in e.value for e in at.error)  # 50 seeds at most
    at.text_input(key="launch.seeds").set_value("0-49").run()
    assert count_line(at).startswith("**350 runs")
    at.text_input(key="launch.sweep.ewc.ewc_lambda").set_value("log 1 10000 9, 0").run()
    assert count_line(at).startswith("**600 runs")
    assert any("600 runs is too many for one start" in e.value for e in at.error)
    assert at.button(key="launch.start").disabled


def _sidebar_only(root: str) -> None:
    import sys

    sys.path.insert(0, root)
    from ui.common import sidebar

    sidebar()


def test_the_sidebar_shows_the_running_pool_and_restarts_it_with_its_settings(store):
    # the sidebar alone: AppTest of app.py shows the sidebar on its first run only
    at = AppTest.from_function(_sidebar_only, args=(str(Path(APP).parent),), default_timeout=120)
    at.run()
    assert at.number_input(key="sidebar.workers").value == jobs.default_workers()
    assert at.radio(key="sidebar.executor").value == "local"
    at.radio(key="sidebar.executor").set_value("ray").run()
    assert at.text_input(key="sidebar.ray_address").placeholder == "empty: a local Ray instance"
    at.radio(key="sidebar.executor").set_value("local").run()
    jobs.ensure_pool(store, workers=1)
    at.number_input(key="sidebar.workers").set_value(1).run()
    captions = [c.value for c in at.sidebar.caption]
    assert any(c.startswith("Workers: 1 local process running in the background") for c in captions)
    assert not any("differ" in c for c in captions)
    at.number_input(key="sidebar.workers").set_value(2).run()
    assert any("differ from the running pool's" in c.value for c in at.sidebar.caption)
    old = jobs.pool_status(store)["pid"]
    at.button(key="sidebar.restart").click().run()
    pool = jobs.pool_status(store)
    assert pool["workers"] == 2 and pool["pid"] != old and not jobs.pid_alive(old)
    assert any(c.value.startswith("Workers: 2 local processes") for c in at.sidebar.caption)

    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive")  # a run training right now
    store.insert_runs([{"run_id": "running00001", "group_id": cfg.group_key(), "benchmark": cfg.benchmark,
                        "scenario": cfg.scenario, "strategy": cfg.strategy, "seed": 0, "config_json": cfg.to_json(),
                        "status": "running", "created_at": time.time(), "host": socket.gethostname(),
                        "worker_pid": os.getpid()}])
    at.run()
    assert at.button(key="sidebar.restart").disabled
    assert any("1 run is training now: restarting would interrupt it" in c.value for c in at.sidebar.caption)
