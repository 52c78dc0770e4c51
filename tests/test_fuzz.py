"""Bad input found by a machine: whatever a user types or links, it ends in a valid value (or config, or page) or
in one BadInput line naming it, never in another exception."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.registry import benchmarks, strategies, validate
from bench.spec import sweeps
from bench.spec.config import RUN_PARAMS, SCENARIOS, RunConfig
from bench.spec.params import BadInput, ParamSpec

SPECS: list[tuple[str, ParamSpec]] = (
    [("run", p) for p in RUN_PARAMS]
    + [(s.name, p) for s in strategies() for p in s.params]
    + [(b.name, p) for b in benchmarks() for p in b.params]
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What a form field, a URL or a JSON file can hand a parser: text (often number-like), numbers, flags, nothing, and
# containers.
scalars = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "0", "-1", "1e309", "nan", "inf", "-inf", "1_000", "0x10", "true", "off", "1.5",
                     "1e-7", "٣", "²", " 12 ", "12abc"]),
    st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars, max_size=2))


def one_line(exc: BadInput) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, msg
    return msg


def check_value(spec: ParamSpec, value) -> None:
    """A parsed value has the spec's type and lies within its range or choices."""
    kind = {"int": int, "float": float, "str": str, "bool": bool}[spec.type]
    assert type(value) is kind, (spec.name, value)
    if spec.choices:
        assert value in spec.choices
    if spec.type in ("int", "float"):
        assert math.isfinite(value)
        assert spec.min is None or value >= spec.min
        assert spec.max is None or value <= spec.max


@FAST
@given(st.sampled_from(SPECS), values)
def test_every_param_spec_parses_or_refuses_in_one_line(owned, raw):
    owner, spec = owned
    try:
        value = spec.parse(raw, where=f"{owner}.")
    except BadInput as exc:
        assert spec.name in one_line(exc)
        return
    check_value(spec, value)


numeric = [(o, p) for o, p in SPECS if sweeps.sweepable(p)]
sweep_texts = st.one_of(
    st.text(alphabet="0123456789.,:-+e log", max_size=24),
    st.text(max_size=16),
    st.sampled_from(["log 1 10000 5", "1:10:3", "0.1:0.5:0.1", "1:100000", "log 0 1 3", "log 1 10 1", "5:1",
                     "1:2:0", ",", "1,,2", "log 1 1e400 3", "0, log 1 1000 4", "1e-7:1e-6:1e-7"]),
)


@FAST
@given(st.sampled_from(numeric), sweep_texts)
def test_the_sweep_grammar_gives_valid_values_or_one_line(owned, text):
    owner, spec = owned
    try:
        out = sweeps.parse_values(spec, text, where=f"{owner}.")
    except BadInput as exc:
        one_line(exc)
        return
    assert 1 <= len(out) <= sweeps.MAX_VALUES and len(set(out)) == len(out)
    for v in out:
        check_value(spec, v)


@FAST
@given(st.one_of(st.text(alphabet="0123456789-, x", max_size=16), st.text(max_size=8)))
def test_seeds_parse_to_a_sorted_unique_list_or_one_line(text):
    try:
        seeds = sweeps.parse_seeds(text)
    except BadInput as exc:
        assert one_line(exc).startswith("seeds: ")
        return
    assert seeds == sorted(set(seeds)) and 1 <= len(seeds) <= sweeps.MAX_SEEDS
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)


OFFLINE = [b.name for b in benchmarks() if b.offline]
config_dicts = st.fixed_dictionaries(
    {"benchmark": st.one_of(st.sampled_from(OFFLINE), scalars),
     "scenario": st.one_of(st.sampled_from(SCENARIOS), scalars),
     "strategy": st.one_of(st.sampled_from([s.name for s in strategies()]), scalars)},
    optional={"params": st.one_of(st.dictionaries(st.sampled_from(["mem_size", "ewc_lambda", "alpha", "top_k",
                                                                    "backbone", "nope"]), values, max_size=3), values),
              "benchmark_params": st.one_of(st.dictionaries(st.sampled_from(["n_experiences", "class_order", "x"]),
                                                            values, max_size=2), values),
              "epochs": values, "lr": values, "seed": values, "device": values, "optimizer": values,
              "eval_every": values, "fast": values, "data_dir": values, "batch_size": values, "grad_clip": values,
              "unknown_field": values})


@FAST
@given(st.one_of(config_dicts, values))
def test_a_run_config_file_validates_or_refuses_in_one_line(obj):
    """`python -m bench run --config FILE`: the file's JSON through RunConfig.from_json and validate()."""
    try:
        text = json.dumps(obj)
    except ValueError:  # NaN is valid for json.dumps; only recursion would fail
        return
    try:
        cfg = validate(RunConfig.from_json(text))
    except BadInput as exc:
        one_line(exc)
        return
    assert cfg.benchmark in OFFLINE and cfg.scenario in SCENARIOS
    RunConfig.from_json(cfg.to_json())  # a valid config round-trips


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A small store with one finished run, for the pages' links."""
    from bench.results.store import Store
    from bench.train.runner import run

    path = tmp_path_factory.mktemp("fuzz") / "seeded.duckdb"
    run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1,
                  benchmark_params={"n_experiences": 2}), store=Store(path))
    return path


link_values = st.one_of(st.text(max_size=30), st.sampled_from(["", ",", ",,,", "a,b", "%00", "' OR 1=1 --", "\n",
                                                                  "0" * 200, "forgetting", "<script>"]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(page=st.sampled_from([None, "pages/run_detail.py", "pages/learn.py"]),
       query=st.dictionaries(st.sampled_from(["groups", "runs", "id", "lesson", "metric", "x"]), link_values,
                             max_size=3))
def test_any_link_opens_its_page_without_an_exception(store_copy, fresh_streamlit, no_pool, page, query):
    from apphelp import open_app

    open_app(page, query=query)  # asserts that the page raised nothing
