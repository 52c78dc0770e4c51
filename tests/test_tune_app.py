"""AppTest of the Tune page (a search seeded with real trial runs, tests/tune_helpers.py) and of the Launch page's
Tune section: the charts, the trials, the chosen setting and its 'launch best' button, cancel, and the searches the
form queues."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from apphelp import charts, open_app
from tune_helpers import LRS, STOPPED_LR, seed_search

from bench.execute.tune import background
from bench.results import queries as q
from bench.results import tunes as T
from bench.results.store import Store
from bench.spec.status import Status

pytestmark = pytest.mark.usefixtures("fresh_streamlit", "no_pool")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tune-app") / "seeded.duckdb"
    seed_search(Store(path))
    return path


def _tune(store: Store) -> dict:
    return T.tunes(store).iloc[0].to_dict()


def test_the_tune_page_without_a_search_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "empty.duckdb"))
    at = open_app("pages/tune.py")
    assert "No search yet" in at.info[0].value


def test_the_tune_page_draws_the_search(store_copy):
    tune = _tune(store_copy)
    at = open_app("pages/tune.py", {"tune": tune["tune_id"]})
    assert [t.value for t in at.title] == ["Tune"] and not at.error
    specs = charts(at)
    assert specs[0]["title"].startswith("Parallel coordinates")
    line = next(layer for layer in specs[0]["layer"] if layer["mark"]["type"] == "line")
    assert line["encoding"]["x"]["sort"] == ["lr", "ewc_lambda", "objective"]
    assert [p["title"] for p in specs[1]["hconcat"]] == ["lr", "ewc_lambda"]
    table = at.dataframe[0].value
    assert list(table.trial) == [1, 2, 3, 4] and list(table.lr) == [*LRS, STOPPED_LR]
    assert list(table.outcome) == ["finished"] * 3 + ["stopped early (ASHA)"]
    trials = T.trials(store_copy, tune["tune_id"])
    best = trials[trials.outcome == "finished"].sort_values("val_acc").iloc[-1]  # chosen on validation
    assert tune["best_run_id"] == best.run_id
    lr = json.loads(best.setting_json)["lr"]
    assert any(f"lr={lr:.4g}" in m.value and "objective" in m.value for m in at.markdown)
    assert any("Test ACC of that trial" in c.value for c in at.caption)


def test_launch_best_queues_the_chosen_setting_on_the_whole_stream_with_n_seeds(store_copy, no_pool):
    tune = _tune(store_copy)
    before = set(q.runs(store_copy).run_id)
    at = open_app("pages/tune.py", {"tune": tune["tune_id"]})
    button = next(b for b in at.button if b.label.startswith("Launch best"))
    assert button.label == "Launch best with 3 seeds"
    button.click().run()
    new = q.runs(store_copy)
    new = new[~new.run_id.isin(before)]
    assert sorted(new.seed) == [1, 2, 3] and set(new.status) == {Status.QUEUED}
    setting = json.loads(tune["best_setting_json"])
    for c in map(json.loads, new.config_json):
        assert c["lr"] == setting["lr"] and c["params"]["ewc_lambda"] == setting["ewc_lambda"]
        assert c["first_experiences"] == 0 and c["val_fraction"] == 0.1 and c["epochs"] == 1
    assert new.group_id.nunique() == 1 and new.sweep_id.nunique() == 1  # one ordinary comparison group
    assert no_pool == [store_copy.path]
    assert any("Queued 3 runs" in s.value for s in at.success)


def test_a_running_search_can_be_cancelled_from_its_page(store_copy):
    tune = _tune(store_copy)
    T.update_tune(store_copy, tune["tune_id"], status=Status.RUNNING)
    at = open_app("pages/tune.py", {"tune": tune["tune_id"]})
    next(b for b in at.button if b.label == "Cancel the search").click().run()
    assert T.cancel_requested(store_copy, tune["tune_id"])
    assert background.cancel(store_copy, "unknown") is None


def test_the_launch_pages_tune_section_queues_one_search_per_strategy_on_the_same_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "s.duckdb"))
    queued: list = []
    monkeypatch.setattr(background, "queue", lambda s, reqs, **kw: queued.extend(reqs) or ["t1", "t2"])
    at = open_app("pages/launch.py")
    assert not at.multiselect  # the section checks nothing until it is turned on
    at.toggle(key="tune.on").set_value(True).run()
    assert [m.label for m in at.multiselect] == ["naive: settings to search", "replay: settings to search"]
    assert at.multiselect[0].value == ["lr"] and at.multiselect[1].value == ["lr"]  # mem_size is a budget
    next(b for b in at.button if b.label == "Start 2 searches").click().run()
    assert [r.strategy for r in queued] == ["naive", "replay"]
    for r in queued:
        assert (r.protocol, r.trials, r.algorithm, r.scheduler) == ("validation", 8, "random", "none")
        assert [d.name for d in r.space] == ["lr"] and r.run == {"val_fraction": 0.1} and r.params == {}
    at.selectbox(key="tune.protocol").select("first-experiences").run()
    at.number_input(key="tune.first").set_value(5).run()
    assert any("Cannot tune: naive: --first 5 is out of range" in e.value for e in at.error)
