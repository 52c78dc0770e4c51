"""AppTest of the read-only views (Compare, Run detail, Learn) against a store seeded with real runs."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from apphelp import chart_rows, charts, open_app

from bench import lessons
from bench.execute import jobs
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

pytestmark = pytest.mark.usefixtures("fresh_streamlit", "no_pool")  # lessons may queue runs

CLASS = dict(benchmark="split-digits", scenario="class", epochs=1)
SEEDED = [("naive", 0, "task"), ("naive", 0, "class"), ("naive", 1, "class"), ("replay", 0, "class"),
          ("replay", 1, "class"), ("joint", 0, "class"), ("l2p", 0, "class")]  # the class-incremental ones last


def _cfg(strategy: str, seed: int, scenario: str = "class") -> RunConfig:
    # l2p on micro-vit with random weights: the same run and rows, without pretraining the backbone in the quick tier
    params = {"pretrained": False} if strategy == "l2p" else {}
    return RunConfig(**{**CLASS, "scenario": scenario}, strategy=strategy, seed=seed, params=params)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """Real runs (one epoch each), plus one failed run as the worker records it."""
    path = tmp_path_factory.mktemp("views") / "seeded.duckdb"
    store = Store(path)
    for strategy, seed, scenario in SEEDED:
        assert run(_cfg(strategy, seed, scenario), store=store)["status"] == "finished"
    store.insert_runs([{"run_id": "failedrun001", "group_id": "g-failed", "benchmark": "split-digits",
                        "scenario": "class", "strategy": "ewc", "seed": 0, "status": "failed",
                        "config_json": _cfg("ewc", 0).to_json(), "created_at": 0.0, "finished_at": 0.0,
                        "error": "RunDiverged: training loss became nan at iteration 3 (experience 0); try a smaller "
                                 "learning rate\n\nTraceback (most recent call last):\n  File ..."}])
    return path


def group_of(store: Store, strategy: str, scenario: str = "class") -> str:
    g = q.groups(store)
    return g[(g.strategy == strategy) & (g.scenario == scenario)].group_id.iloc[0]


# -- Compare ---------------------------------------------------------------------------------------------------
def test_compare_without_selection_shows_the_most_recent_comparison(store_copy):
    at = open_app()
    assert [t.value for t in at.title] == ["Compare"]
    shown = at.query_params["groups"].split(",")
    assert set(shown) == set(q.latest_comparison(store_copy))
    table = at.dataframe[0].value
    assert list(table.Strategy) == ["naive", "joint", "replay", "l2p"]  # registry order
    assert table.set_index("Strategy").loc["naive", "Seeds"] == 2
    assert "±" in table.set_index("Strategy").loc["naive", "ACC"]
    assert table.set_index("Strategy").loc["joint", "BWT"] == "n/a"
    specs = charts(at)
    assert len(specs) == 4
    retention, matrices, forgetting, recall = specs
    assert retention["facet"]["field"] == "test_exp"
    line = retention["spec"]["layer"][1]
    assert line["encoding"]["x"]["field"] == "iteration"
    assert line["encoding"]["color"]["scale"]["domain"] == ["naive", "joint", "replay", "l2p"]
    assert matrices["facet"]["field"] == "series"
    # joint has no forgetting
    assert forgetting["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["naive", "replay", "l2p"]
    assert recall["spec"]["layer"][0]["encoding"]["y"]["field"] == "class_id"
    assert chart_rows(at, 0) < 4 * 5 * 90  # aggregated and thinned before it reaches the browser


def test_compare_reads_groups_and_runs_from_the_url_and_ignores_garbage(store_copy):
    naive = group_of(store_copy, "naive")
    at = open_app(query={"groups": f"{naive},not-a-group"})
    assert "Ignored 1 unknown id" in at.warning[0].value
    assert list(at.dataframe[0].value.Strategy) == ["naive"]
    assert at.multiselect(key="cmp.groups").value == [naive]
    at = open_app(query={"groups": "zzz", "runs": "yyy"})  # nothing usable: the most recent comparison instead
    assert "Ignored 2 unknown id" in at.warning[0].value
    assert set(at.query_params["groups"].split(",")) == set(q.latest_comparison(store_copy))
    assert len(at.dataframe[0].value) == 4
    one = q.runs(store_copy).query("strategy == 'replay'").run_id.iloc[0]
    at = open_app(query={"runs": one})
    table = at.dataframe[0].value
    assert list(table.Strategy) == ["replay"] and table.Seeds.iloc[0] == 1


def test_compare_selection_changes_are_written_to_the_url(store_copy):
    naive, replay = group_of(store_copy, "naive"), group_of(store_copy, "replay")
    at = open_app(query={"groups": naive})
    at.multiselect(key="cmp.groups").select(replay).run()
    assert set(at.query_params["groups"].split(",")) == {naive, replay}
    assert list(at.dataframe[0].value.Strategy) == ["naive", "replay"]
    at.multiselect(key="cmp.groups").unselect(naive).unselect(replay).run()
    assert at.query_params["groups"] == ""
    assert "Pick groups or runs" in at.info[0].value and not at.get("vega_lite_chart")


def test_compare_shows_progress_while_selected_runs_are_queued(store_copy):
    ids = jobs.submit([_cfg("cumulative", 5)], store=store_copy)
    group = q.runs(store_copy, run_ids=ids).group_id.iloc[0]
    at = open_app(query={"groups": f"{group},{group_of(store_copy, 'naive')}"})
    assert [p.text for p in at.get("progress")] == ["cumulative · seed 5: queued"]
    assert at.info[0].value.startswith("2 of 3 runs done")
    assert list(at.dataframe[0].value.Strategy) == ["naive"]  # the finished ones are shown meanwhile
    assert "No workers are running" in at.warning[0].value  # (the pool is not started in these tests)
    at = open_app(query={"groups": group})
    assert "None of the selected runs has finished yet" in at.info[-1].value


def test_compare_of_scenarios_labels_series_by_scenario(store_copy):
    at = open_app(query={"groups": f"{group_of(store_copy, 'naive')},{group_of(store_copy, 'naive', 'task')}"})
    assert sorted(at.dataframe[0].value.Strategy) == ["naive (class)", "naive (task)"]


# -- Run detail --------------------------------------------------------------------------------------------
def test_run_detail_shows_one_run(store_copy):
    rid = q.runs(store_copy).query("strategy == 'replay' and seed == 1").run_id.iloc[0]
    at = open_app("pages/run_detail.py", {"id": rid})
    assert at.title[0].value == "replay on split-digits, class-incremental, seed 1"
    assert at.selectbox(key="detail.run").value == rid
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["ACC"]) == pytest.approx(q.run_result(store_copy, rid)["metrics"]["acc"], abs=1e-3)
    specs = charts(at)
    assert len(specs) == 3  # accuracy matrix, retention per experience, training loss
    assert specs[0]["facet"]["field"] == "series"
    assert specs[1]["layer"][0]["encoding"]["color"]["field"] == "experience"
    assert specs[2]["layer"][0]["encoding"]["y"]["field"] == "loss"
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("PNG") == 3 and labels.count("SVG") == 3 and "CSV" in labels and "Parquet" in labels


def test_run_detail_of_a_prompt_run_says_what_its_backbone_was_pretrained_on(store_copy):
    rid = q.runs(store_copy).query("strategy == 'l2p'").run_id.iloc[0]
    at = open_app("pages/run_detail.py", {"id": rid})
    assert any("micro-vit, randomly initialised" in i.value and "the ViT is frozen" in i.value for i in at.info)
    assert any("keeps 3,840 prompt and key numbers, the size of 60 stored samples" in c.value for c in at.caption)
    assert len(charts(at)) == 3


def test_compare_sets_prompts_against_replay_buffers_in_stored_samples(store_copy):
    groups = q.groups(store_copy)
    sel = list(groups[groups.strategy.isin(["l2p", "replay"]) & (groups.scenario == "class")].group_id)
    at = open_app("pages/compare.py", {"groups": ",".join(sel)})
    table = at.dataframe[0].value.set_index("Strategy")
    col = "Buffer + prompts (stored-sample equivalents)"
    assert table.loc["l2p", col] == "60" and table.loc["replay", col].startswith("200")


def test_run_detail_of_a_failed_run_says_why_in_plain_words(store_copy):
    at = open_app("pages/run_detail.py", {"id": "failedrun001"})
    assert at.error[0].value.startswith("Training loss became nan at iteration 3")
    assert "Traceback" not in at.error[0].value
    assert not at.get("vega_lite_chart")


def test_run_detail_ignores_an_unknown_id(store_copy):
    at = open_app("pages/run_detail.py", {"id": "nope"})
    assert "unknown run id" in at.warning[0].value
    assert at.selectbox(key="detail.run").value in set(q.runs(store_copy).run_id)


# -- Learn -------------------------------------------------------------------------------------------------
def _mini_lessons() -> tuple:
    """The three lesson views over configs the seeded store holds (one epoch instead of three)."""
    return (
        lessons.Lesson(key="forgetting", title="1. Forgetting", summary="s", text="Forgetting, explained.",
                       view="compare", takeaway="Naive forgets.",
                       configs=(_cfg("naive", 0), _cfg("naive", 1), _cfg("joint", 0))),
        lessons.Lesson(key="scenarios", title="2. Scenarios", summary="s", text="t", view="scenarios",
                       configs=(_cfg("naive", 0), _cfg("naive", 0, "task"))),
        lessons.Lesson(key="replay", title="3. Replay", summary="s", text="t", view="replay",
                       configs=(_cfg("naive", 0), _cfg("naive", 1), _cfg("replay", 0), _cfg("replay", 1))),
    )


def test_learn_reuses_finished_runs_and_shows_each_lessons_charts(store_copy, monkeypatch):
    monkeypatch.setattr(lessons, "LESSONS", _mini_lessons())
    at = open_app("pages/learn.py")
    assert any("All 3 runs of this lesson are in your store" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label.startswith("Run this lesson")]
    assert list(at.dataframe[0].value.Strategy) == ["naive", "joint"]
    assert len(charts(at)) == 2 and at.success[0].value == "Naive forgets."
    at.radio(key="learn.lesson").set_value("scenarios").run()
    assert at.query_params["lesson"] == "scenarios"
    bars = charts(at)[0]
    assert bars["layer"][0]["encoding"]["x"]["field"] == "scenario"
    at.radio(key="learn.lesson").set_value("replay").run()
    sweep = charts(at)[0]
    assert sweep["facet"]["field"] == "metric" and sweep["spec"]["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"


def test_learn_runs_only_what_is_missing(store_copy, monkeypatch):
    mini = _mini_lessons()
    extra = lessons.Lesson(key="forgetting", title="1. Forgetting", summary="s", text="t", view="compare",
                           configs=mini[0].configs + (_cfg("joint", 1),))
    monkeypatch.setattr(lessons, "LESSONS", (extra,))
    at = open_app("pages/learn.py")
    assert any("3 of its 4 runs are already in your store; 1 run to go" in c.value for c in at.caption)
    at.button(key="lesson.forgetting.start").click().run()
    assert q.status_counts(store_copy).get("queued") == 1
    queued = q.runs(store_copy).query("status == 'queued'")
    assert json.loads(queued.config_json.iloc[0])["strategy"] == "joint"
    assert [p.text for p in at.get("progress")] == ["joint · seed 1: queued"]


def test_learn_on_an_empty_store_offers_to_run_the_first_lesson(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "empty.duckdb"))
    t0 = time.time()
    at = open_app("pages/learn.py")
    assert at.header[0].value == lessons.LESSONS[0].title
    n = len(lessons.LESSONS[0].configs)
    assert at.button(key="lesson.forgetting.start").label == f"Run this lesson ({n} runs)"
    assert not at.get("vega_lite_chart") and time.time() - t0 < 60
