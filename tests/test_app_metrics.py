"""AppTest of what the Compare, Learn and Launch pages say about metrics and splits: the forgetting switch, FWT's
n/a with its reason, the validation columns and ranking, the stability gap, the lesson count."""
from __future__ import annotations

from pathlib import Path

import pytest
from apphelp import charts, open_app

from bench.lessons import LESSONS
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

pytestmark = pytest.mark.usefixtures("fresh_streamlit", "no_pool")

SMALL = dict(benchmark="split-digits", epochs=1, benchmark_params={"n_experiences": 3})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """Replay with two buffer sizes and a validation split, replay without one, naive task-incremental."""
    path = tmp_path_factory.mktemp("metrics") / "seeded.duckdb"
    store = Store(path)
    for cfg in (RunConfig(**SMALL, scenario="class", strategy="replay", params={"mem_size": 20}, val_fraction=0.2),
                RunConfig(**SMALL, scenario="class", strategy="replay", params={"mem_size": 200}, val_fraction=0.2),
                RunConfig(**SMALL, scenario="class", strategy="replay", params={"mem_size": 50}),
                RunConfig(**SMALL, scenario="class", strategy="replay", params={"mem_size": 100}),
                RunConfig(**SMALL, scenario="task", strategy="naive")):
        assert run(cfg, store=store)["status"] == "finished"
    return path


def _groups(store: Store, *, val: bool | None = None, scenario: str = "class") -> list[str]:
    runs = q.runs(store)
    runs = runs[runs.scenario == scenario]
    if val is not None:
        runs = runs[runs.config_json.str.contains('"val_fraction": 0.2') == val]
    return list(dict.fromkeys(runs.group_id))


def test_compare_marks_validation_columns_and_ranks_the_settings_on_them(store_copy):
    groups = _groups(store_copy, val=True)
    at = open_app(query={"groups": ",".join(groups)})
    table = at.dataframe[0].value.set_index("Strategy")
    assert "ACC (val)" in table.columns and "WC-ACC (val)" in table.columns
    assert table["FWT"].tolist() == ["n/a", "n/a"]  # class-incremental
    caption = next(c.value for c in at.caption if c.value.startswith("Every column"))
    assert "marked (val)" in caption and "FWT is n/a in the class-incremental scenario" in caption
    assert any(h.value == "Choosing settings on validation" for h in at.subheader)
    ranked = at.dataframe[1].value
    best = q.rank_on_validation(store_copy, list(q.runs(store_copy).run_id)).query("rank == 1 and strategy == "
                                                                                   "'replay'")
    assert ranked["Rank (on validation)"].tolist() == sorted(ranked["Rank (on validation)"])
    assert ranked["ACC (val)"].iloc[0] == f"{best.val_mean.iloc[0]:.3f}"
    assert "ACC (test, reported)" in ranked.columns
    specs = charts(at)
    param = [s for s in specs if s.get("facet", {}).get("field") == "metric"]
    assert len(param) == 1  # ACC on validation and on test against mem_size
    assert any("The stability gap" in e.label for e in at.expander)


def test_compare_says_why_a_sweep_without_a_validation_split_cannot_be_ranked(store_copy):
    at = open_app(query={"groups": ",".join(_groups(store_copy, val=False))})
    assert "ACC (val)" not in at.dataframe[0].value.columns
    assert any("no validation split (val_fraction = 0)" in c.value for c in at.caption)
    assert len(at.dataframe) == 1


def test_compare_names_the_forgetting_definition_and_switches_it(store_copy):
    groups = _groups(store_copy, val=False)
    at = open_app(query={"groups": ",".join(groups)})
    assert "Forgetting (best earlier − final)" in at.dataframe[0].value.columns
    assert any(h.value.startswith("Forgetting per experience: best earlier accuracy minus final") for h in at.subheader)
    forgetting = charts(at)[-2]
    assert forgetting["layer"][0]["encoding"]["y"]["title"] == "Forgetting (best earlier − final)"
    at.radio(key="cmp.forgetting_def").set_value("forgetting_initial").run()
    table = at.dataframe[0].value.set_index("Strategy")
    assert "Forgetting (just after learning − final)" in table.columns
    assert "Forgetting (best earlier − final)" not in table.columns
    expected = q.summary(store_copy, list(q.runs(store_copy).run_id)).query("metric == 'forgetting_initial'")
    assert set(table["Forgetting (just after learning − final)"].str.split(" ").str[0]) == {
        f"{m:.3f}" for m in expected[expected.group_id.isin(groups)]["mean"]}
    assert charts(at)[-2]["layer"][0]["encoding"]["y"]["title"] == "Forgetting (just after learning − final)"


def test_fwt_is_shown_where_it_measures_something(store_copy):
    at = open_app(query={"groups": ",".join(_groups(store_copy, scenario="task"))})
    assert at.dataframe[0].value["FWT"].iloc[0] != "n/a"
    assert not any("FWT is n/a" in c.value for c in at.caption)


def test_learn_counts_its_lessons_and_has_the_stability_gap(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "empty.duckdb"))
    at = open_app("pages/learn.py")
    words = {5: "Five", 6: "Six", 7: "Seven", 8: "Eight"}
    assert at.markdown[0].value.startswith(f"{words[len(LESSONS)]} short lessons")  # counted, not typed
    assert "6. The stability gap" in at.radio(key="learn.lesson").options
    stability = next(lesson for lesson in LESSONS if lesson.key == "stability")
    assert {c.eval_every for c in stability.configs} == {1}  # per-step evaluation, as the paper's protocol


def test_launch_warns_when_a_sweep_has_no_validation_split(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "launch.duckdb"))
    at = open_app("pages/launch.py")
    at.toggle(key="launch.sweep.replay").set_value(True).run()
    at.text_input(key="launch.sweep.replay.mem_size").set_value("50,100").run()
    assert any("This sweep has no validation split" in w.value for w in at.warning)
    at.text_input(key="launch.run.val_fraction").set_value("0.1").run()
    assert not any("This sweep has no validation split" in w.value for w in at.warning)
    assert any("Compare ranks this sweep's settings on it" in c.value for c in at.caption)


def test_the_stability_gap_lesson_shows_the_curve_metrics_and_dense_curves(store_copy, monkeypatch):
    from bench import lessons

    cfgs = tuple(RunConfig.from_json(c) for c in q.runs(store_copy).query("scenario == 'class'").config_json)
    mini = lessons.Lesson(key="stability", title="6. The stability gap", summary="s", text="t", view="stability",
                          takeaway="Replay dips.", configs=cfgs[:2])
    monkeypatch.setattr(lessons, "LESSONS", (mini,))
    at = open_app("pages/learn.py")
    assert at.markdown[0].value.startswith("One short lesson")
    table = at.dataframe[0].value
    assert {"WC-ACC", "min-ACC", "Anytime ACC"} <= set(table.columns)
    (retention,) = charts(at)
    assert retention["facet"]["field"] == "test_exp"
    assert at.success[0].value == "Replay dips."
