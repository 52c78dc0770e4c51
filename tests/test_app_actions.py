"""AppTest of the pages that act (Launch, Runs, the first-visit demo), on empty and hand-filled stores."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from apphelp import open_app
from streamlit.testing.v1 import AppTest

from bench import lessons
from bench.execute import jobs
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig

pytestmark = pytest.mark.usefixtures("fresh_streamlit")



@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    path = tmp_path / "actions.duckdb"
    monkeypatch.setenv("BENCH_STORE", str(path))
    return Store(path)


def start_button(at: AppTest):
    return at.button(key="launch.start")


# -- an empty store ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", [None, "pages/runs.py", "pages/run_detail.py"])
def test_an_empty_store_greets_with_the_demo_button(store, page):
    at = open_app(page)
    assert at.title[0].value == "Continual-learning bench"
    assert [b.label for b in at.button] == ["Run the one-minute demo"]
    assert not at.get("vega_lite_chart") and not at.dataframe
    if page is None:  # (AppTest drops the sidebar after switch_page; the browser test sees it on every page)
        assert "Workers: none yet" in " ".join(c.value for c in at.sidebar.caption)


def test_the_demo_button_queues_the_demo_and_opens_its_comparison(store, no_pool):
    at = open_app()
    at.button(key="demo.start").click().run()
    assert q.status_counts(store) == {"queued": len(lessons.DEMO.configs)}
    assert no_pool == [store.path]
    groups = set(q.runs(store).group_id)
    assert set(at.query_params["groups"].split(",")) == groups
    assert at.title[0].value == "Compare"
    assert len(at.get("progress")) == len(lessons.DEMO.configs)


# -- Launch ------------------------------------------------------------------------------------------------
def test_launch_counts_the_runs_and_submits_them_to_the_background(store, no_pool):
    at = open_app("pages/launch.py")
    assert at.selectbox(key="launch.benchmark").value == "split-digits"
    assert at.checkbox(key="launch.strategy.naive").value and at.checkbox(key="launch.strategy.replay").value
    assert any(m.value.startswith("**2 runs will start**") for m in at.markdown)
    at.text_input(key="launch.seeds").set_value("0-2").run()
    assert any(m.value.startswith("**6 runs will start**") for m in at.markdown)
    at.number_input(key="launch.run.epochs").set_value(1).run()
    start_button(at).click().run()
    runs = q.runs(store)
    assert len(runs) == 6 and set(runs.status) == {"queued"} and set(runs.strategy) == {"naive", "replay"}
    assert {RunConfig.from_json(c).epochs for c in runs.config_json} == {1}
    assert no_pool == [store.path]
    assert "Queued 6 runs" in at.success[0].value
    at.run()  # the same form again: the store now holds these configurations
    assert any(c.value.startswith("6 of these runs already exist") for c in at.caption)
    link = [p for p in at.get("page_link") if p.proto.label == "Open their comparison"][0]
    assert set(link.proto.query_string.replace("groups=", "").replace("%2C", ",").split(",")) == set(runs.group_id)


def test_launch_refuses_bad_input_inline(store):
    at = open_app("pages/launch.py")
    at.text_input(key="launch.seeds").set_value("0,x").run()
    assert any("seeds: 'x' is not valid" in e.value for e in at.error)
    assert start_button(at).disabled
    at.text_input(key="launch.seeds").set_value("0").run()
    at.checkbox(key="launch.strategy.ewc").check().run()
    at.text_input(key="launch.param.ewc.ewc_lambda").set_value("lots").run()
    assert [e.value for e in at.error] == ["ewc.ewc_lambda='lots' is not valid: expected a number in [0, 10000000]"]
    assert start_button(at).disabled
    at.text_input(key="launch.param.ewc.ewc_lambda").set_value("1e3").run()
    assert not at.error and not start_button(at).disabled


def test_launch_greys_out_strategies_the_scenario_does_not_support(store):
    at = open_app("pages/launch.py")
    assert not at.checkbox(key="launch.strategy.der").disabled
    at.selectbox(key="launch.scenario").set_value("task").run()
    off = at.checkbox(key="launch.strategy.der.off")
    assert off.disabled and not off.value and "supports class, domain" in off.help


def test_launch_refuses_cuda_without_a_gpu(store, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    at = open_app("pages/launch.py")
    at.selectbox(key="launch.run.device").set_value("cuda").run()
    assert any("not available on this machine" in e.value for e in at.error) and start_button(at).disabled


def test_launch_shows_the_engine_validation_message(store, monkeypatch):
    import dataclasses

    import bench.strategies as registry
    from bench.spec.params import BadInput

    def refuse(params, bench_params, bench):
        raise BadInput("replay.mem_size=3 is too small for 10 classes: expected at least 10")

    monkeypatch.setitem(registry._REGISTRY, "replay", dataclasses.replace(registry.get_strategy("replay"),
                                                                          check=refuse))
    at = open_app("pages/launch.py")
    assert [e.value for e in at.error] == ["Cannot start: replay.mem_size=3 is too small for 10 classes: expected "
                                           "at least 10"]
    assert start_button(at).disabled


# -- Runs --------------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _add(store: Store, run_id: str, status: str, **fields) -> None:
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy=fields.pop("strategy", "naive"),
                    seed=fields.pop("seed", 0), max_resumes=fields.pop("max_resumes", 2))
    store.insert_runs([{"run_id": run_id, "group_id": cfg.group_key(), "benchmark": cfg.benchmark,
                        "scenario": cfg.scenario, "strategy": cfg.strategy, "seed": cfg.seed,
                        "config_json": cfg.to_json(), "status": status, "created_at": time.time(),
                        "host": socket.gethostname(), **fields}])


@pytest.fixture
def busy(store) -> Store:
    now = time.time()
    _add(store, "finished0001", "finished", started_at=now - 5, finished_at=now, n_experiences=5, current_exp=4,
         iteration=50, est_iterations=50)
    store.write("finished0001", {"run_metrics": [{"metric": "acc", "value": 0.42}]})
    _add(store, "failed000001", "failed", strategy="ewc", started_at=now - 5, finished_at=now,
         error="RunDiverged: training loss became nan at iteration 3 (experience 0); try a smaller learning rate"
               "\n\nTraceback (most recent call last): ...")
    _add(store, "running00001", "running", strategy="replay", started_at=now - 4, n_experiences=5, current_exp=2,
         iteration=20, est_iterations=50, worker_pid=os.getpid())
    # max_resumes=0: reaped, it stays interrupted (tests/test_resume.py: otherwise it is queued again to resume)
    _add(store, "orphan000001", "running", strategy="lwf", started_at=now - 30, worker_pid=_dead_pid(), max_resumes=0)
    _add(store, "queued000001", "queued", strategy="gem")
    return store


def test_runs_lists_every_run_with_status_progress_and_plain_errors(busy):
    at = open_app("pages/runs.py")
    table = at.dataframe[0].value.set_index("Run")
    assert len(table) == 5
    assert table.loc["orphan000001", "Status"] == "interrupted"  # its worker is gone: reaped on poll
    assert q.runs(busy, run_ids=["orphan000001"]).status.iloc[0] == "interrupted"
    assert table.loc["failed000001", "Error"].startswith("Training loss became nan at iteration 3")
    assert "Traceback" not in table.loc["failed000001", "Error"]
    assert table.loc["running00001", "Progress"] == pytest.approx(0.4)
    assert table.loc["running00001", "Experience"] == "3 of 5"
    assert table.loc["finished0001", "ACC"] == pytest.approx(0.42)
    assert table.loc["finished0001", "Details"] == "run_detail?id=finished0001"
    bars = {p.text.split(":")[0]: p.value for p in at.get("progress")}
    assert bars == {"gem · seed 0": 0, "replay · seed 0": 40}
    assert "1 queued · 1 running · 1 finished · 1 failed · 1 interrupted" == at.caption[0].value
    assert any("No worker pool is running" in w.value for w in at.warning)


def test_runs_cancel_and_delete(busy, no_pool):
    at = open_app("pages/runs.py")
    at.button(key="runs.cancel.queued000001").click().run()
    at.button(key="runs.cancel.running00001").click().run()
    status = q.runs(busy).set_index("run_id")
    assert status.loc["queued000001", "status"] == "cancelled"
    assert bool(status.loc["running00001", "cancel_requested"]) and status.loc["running00001", "status"] == "running"
    at.button(key="runs.pool").click().run()
    assert no_pool == [busy.path]
    at.multiselect(key="runs.delete.pick").select("finished0001").run()
    at.button(key="runs.delete").click().run()
    assert "finished0001" not in set(q.runs(busy).run_id)
    at.button(key="runs.delete.bad").click().run()
    assert set(q.runs(busy).run_id) == {"running00001"}
    assert len(at.dataframe[0].value) == 1


def test_launch_offers_the_prompt_methods_with_their_backbone_and_says_when_a_gpu_is_wanted(store, no_pool,
                                                                                             monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    at = open_app("pages/launch.py")
    for name in ("l2p", "dualprompt", "coda_prompt"):
        assert not at.checkbox(key=f"launch.strategy.{name}").disabled
    assert not any(c.value == "none registered yet" for c in at.caption)
    at.checkbox(key="launch.strategy.naive").uncheck()
    at.checkbox(key="launch.strategy.replay").uncheck()
    at.checkbox(key="launch.strategy.l2p").check().run()
    assert at.selectbox(key="launch.param.l2p.backbone").value == "micro-vit-ssl"
    at.selectbox(key="launch.param.l2p.backbone").set_value("timm:vit_tiny_patch16_224.augreg_in21k").run()
    assert any("GPU is recommended" in w.value for w in at.warning)
    at.selectbox(key="launch.param.l2p.backbone").set_value("micro-vit-ssl").run()
    assert not any("GPU is recommended" in w.value for w in at.warning)
    at.number_input(key="launch.param.l2p.top_k").set_value(12).run()  # more than the pool holds
    assert any("top_k=12 is larger than pool_size=10" in e.value for e in at.error) and start_button(at).disabled
    at.number_input(key="launch.param.l2p.top_k").set_value(3).run()
    start_button(at).click().run()
    runs = q.runs(store)
    assert list(runs.strategy) == ["l2p"] and list(runs.family) == ["prompt"]
    assert RunConfig.from_json(runs.config_json[0]).params["top_k"] == 3


def test_the_demo_starts_the_workers_with_the_sidebars_settings(store, monkeypatch):
    asked: list[dict] = []
    monkeypatch.setattr(jobs, "ensure_pool", lambda s, **kw: asked.append(kw) or {"pid": 0, "workers": 1})
    at = open_app(**{"sidebar.workers": 1})
    at.button(key="demo.start").click().run()
    assert asked == [{"workers": 1, "executor": "local", "ray_address": None}]
