"""AppTest of the facts section (Compare, Run detail) and lesson 4, against a store seeded with real facts runs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from apphelp import open_app
from streamlit.testing.v1 import AppTest

from bench import lessons
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run
from ui.facts import TITLE

pytestmark = pytest.mark.usefixtures("fresh_streamlit", "no_pool")

SMALL = {"n_experiences": 3, "entities_per_exp": 20}


def _cfg(strategy: str, seed: int = 0) -> RunConfig:
    return RunConfig(benchmark="facts", scenario="domain", strategy=strategy, seed=seed, benchmark_params=SMALL)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("facts") / "s.duckdb"
    store = Store(path)
    for strategy in ("naive", "replay"):
        assert run(_cfg(strategy), store=store)["status"] == "finished"
    return path


def facts_specs(at: AppTest) -> dict[str, dict]:
    """The three facts charts, told apart by what they encode."""
    out = {}
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        layers = spec.get("layer") or spec.get("spec", {}).get("layer") or []
        fields = {k: v.get("field") for layer in layers for k, v in layer.get("encoding", {}).items()
                  if isinstance(v, dict)}
        if fields.get("y") == "recall_mean":
            out["curves"] = spec
        elif fields.get("opacity") == "measure":
            out["recognition"] = spec
        elif fields.get("y") == "retained":
            out["retention"] = spec
    return out


def check_facts_charts(specs: dict[str, dict], strategies: list[str], *, log_x: bool = False) -> None:
    assert set(specs) == {"curves", "recognition", "retention"}
    curves = specs["curves"]
    assert curves["facet"]["field"] == "test_exp"
    line = curves["spec"]["layer"][1]
    assert line["mark"]["type"] == "line" and line["encoding"]["y"]["field"] == "recall_mean"
    assert line["encoding"]["x"]["scale"]["type"] == ("symlog" if log_x else "linear")
    assert line["encoding"]["color"]["scale"]["domain"] == strategies
    bars = specs["recognition"]["layer"][0]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["opacity"]["field"] == "measure"
    dots, fit = specs["retention"]["layer"]
    assert dots["mark"]["type"] == "circle" and fit["mark"]["type"] == "line"
    assert fit["encoding"]["x"]["scale"]["type"] == "log" and fit["encoding"]["y"]["scale"]["type"] == "log"
    labels = fit["encoding"]["color"]["scale"]["domain"]
    assert [lab.split(":")[0] for lab in labels] == strategies and all("exponent" in lab for lab in labels)


def test_compare_of_facts_runs_shows_the_facts_section(store_copy):
    groups = ",".join(q.groups(store_copy).group_id)
    at = open_app(query={"groups": groups})
    assert TITLE in [h.value for h in at.subheader]
    table = next(d.value for d in at.dataframe if "Power-law exponent" in d.value.columns)
    assert list(table.Strategy) == ["naive", "replay"]
    assert {"Recall, exp. 1", "Recognition, exp. 1", "Hallucination", "Plateau (iterations)", "Fit r²"} <= set(
        table.columns)
    check_facts_charts(facts_specs(at), ["naive", "replay"])
    at.toggle(key="cmp.facts.logx").set_value(True).run()
    check_facts_charts(facts_specs(at), ["naive", "replay"], log_x=True)


def test_run_detail_of_a_facts_run_shows_the_facts_section(store_copy):
    rid = q.runs(store_copy).query("strategy == 'naive'").run_id.iloc[0]
    at = open_app("pages/run_detail.py", {"id": rid})
    assert TITLE in [h.value for h in at.subheader]
    check_facts_charts(facts_specs(at), ["naive"])
    assert at.toggle(key="detail.facts.logx").value is False


def test_learn_lists_the_facts_lesson_and_shows_its_charts(store_copy, monkeypatch):
    four = lessons.LESSONS[3]
    assert four.title == "4. Forgetting of facts" and four.view == "facts"
    assert {c.benchmark for c in four.configs} == {"facts"} and len(four.configs) == 6
    assert {c.strategy for c in four.configs} == {"naive", "replay", "ewc"}
    at = open_app("pages/learn.py")
    assert at.radio(key="learn.lesson").options[3] == "4. Forgetting of facts"
    mini = lessons.Lesson(key="facts", title=four.title, summary="s", text=four.text, view="facts",
                          takeaway="Facts fade.", configs=(_cfg("naive"), _cfg("replay")))
    monkeypatch.setattr(lessons, "LESSONS", (*lessons.LESSONS[:3], mini))
    at = open_app("pages/learn.py", {"lesson": "facts"})
    assert at.header[0].value == "4. Forgetting of facts"
    check_facts_charts(facts_specs(at), ["naive", "replay"])
    assert at.success[0].value == "Facts fade."
