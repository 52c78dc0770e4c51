"""Sweep texts -> typed value lists, and the grid of one strategy's parameter combinations."""
from __future__ import annotations

import pytest

from bench.spec import sweeps
from bench.spec.params import BadInput, ParamSpec
from bench.strategies import get_strategy

MEM = ParamSpec(name="mem_size", type="int", default=200, min=1, max=100_000, log=True)
LAM = ParamSpec(name="ewc_lambda", type="float", default=1000.0, min=0.0, max=1e7, log=True)
MODE = ParamSpec(name="mode", type="str", default="separate", choices=("separate", "online"))
FLAG = ParamSpec(name="flip", type="bool", default=False)


@pytest.mark.parametrize("spec,text,expected", [
    (MEM, "50,100,200,500", [50, 100, 200, 500]),
    (MEM, " 50 , 100 ", [50, 100]),
    (MEM, "200", [200]),
    (MEM, "1:4", [1, 2, 3, 4]),
    (MEM, "1:10:3", [1, 4, 7, 10]),
    (MEM, "1:9:3", [1, 4, 7]),  # stop is included only when a step lands on it
    (MEM, "50,100,50,1:2", [50, 100, 1, 2]),  # duplicates dropped, order kept
    (MEM, "log 10 1000 3", [10, 100, 1000]),
    (MEM, "log 1 100 4", [1, 5, 22, 100]),  # rounded to integers
    (MEM, "log 1 4 5", [1, 2, 3, 4]),  # 1, 1.41, 2, 2.83, 4: rounded, then deduplicated
    (LAM, "0.5", [0.5]),
    (LAM, "1e3,1e4", [1000.0, 10000.0]),
    (LAM, "0.1:0.5:0.1", [0.1, 0.2, 0.3, 0.4, 0.5]),
    (LAM, "0:1", [0.0, 1.0]),
    (LAM, "log 1 10000 5", [1.0, 10.0, 100.0, 1000.0, 10000.0]),
    (LAM, "LOG 1e-3 1e3 7", [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]),
    (LAM, "log 1 100 3", [1.0, 10.0, 100.0]),
    (LAM, "0, log 1 1000 4", [0.0, 1.0, 10.0, 100.0, 1000.0]),
    (MODE, "separate,online", ["separate", "online"]),
    (FLAG, "true,false", [True, False]),
])
def test_sweep_texts(spec, text, expected):
    values = sweeps.parse_values(spec, text)
    assert values == expected
    assert all(type(v) is type(expected[0]) for v in values)


def test_log_range_values_are_evenly_spaced_on_a_log_scale():
    values = sweeps.parse_values(LAM, "log 0.01 100 5")
    assert values == [0.01, 0.1, 1.0, 10.0, 100.0]
    assert sweeps.parse_values(LAM, "log 1 2 3") == [1.0, 1.41421356237, 2.0]


@pytest.mark.parametrize("spec,text,needle", [
    (MEM, "abc", "replay.mem_size: 'abc' is not valid"),
    (MEM, "", "is empty"),
    (MEM, "50,,100", "has an empty part"),
    (MEM, "1:", "'1:' is not valid"),
    (MEM, "1:2:3:4", "'1:2:3:4' is not valid"),
    (MEM, "1.5:3", "'1.5:3' is not valid"),  # an integer parameter takes integer ranges
    (MEM, "5:1", "'5:1' is not a range"),
    (MEM, "1:5:0", "'1:5:0' is not a range"),
    (MEM, "log 1 10", "'log 1 10' is not valid"),
    (MEM, "log 0 10 3", "is not a log range"),
    (MEM, "log 10 1 3", "is not a log range"),
    (MEM, "log 1 10 1", "is not a log range"),
    (MEM, "1:100000", "gives 100000 values, more than 100"),
    (LAM, "1,nope", "replay.ewc_lambda: 'nope' is not valid"),
    (LAM, "nan", "'nan' is not valid"),
])
def test_bad_sweep_texts_name_the_bad_part_and_the_syntax(spec, text, needle):
    with pytest.raises(BadInput) as exc:
        sweeps.parse_values(spec, text, where="replay.")
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg
    if "is not valid" in needle or "range" in needle:
        assert "log 1 10000 5" in msg and "1:10:3" in msg


@pytest.mark.parametrize("spec,text,needle", [
    (MEM, "0,50", "replay.mem_size='0' is out of range: expected an integer in [1, 100000]"),
    (MEM, "0:4", "replay.mem_size=0 is out of range"),
    (MEM, "2.5", "replay.mem_size='2.5' is not valid: expected an integer"),
    (LAM, "log 1 1e8 3", "replay.ewc_lambda=100000000.0 is out of range"),
    (MODE, "separate,both", "replay.mode='both' is not allowed: expected one of separate, online"),
])
def test_values_outside_the_parameter_range_are_refused_by_its_spec(spec, text, needle):
    with pytest.raises(BadInput) as exc:
        sweeps.parse_values(spec, text, where="replay.")
    assert needle in str(exc.value)


def test_ranges_are_for_numbers_only():
    with pytest.raises(BadInput, match="'a:b' is not allowed"):
        sweeps.parse_values(MODE, "a:b")
    assert sweeps.sweepable(MEM) and sweeps.sweepable(LAM) and not sweeps.sweepable(MODE)
    assert not sweeps.sweepable(FLAG)


def test_grid_is_the_product_in_declared_order():
    order = [p.name for p in get_strategy("ewc").params]
    assert order.index("ewc_lambda") < order.index("mode")
    assert sweeps.grid(get_strategy("ewc"), {"mode": ["separate", "online"], "ewc_lambda": [1.0, 10.0]}) == [
        {"ewc_lambda": 1.0, "mode": "separate"}, {"ewc_lambda": 1.0, "mode": "online"},
        {"ewc_lambda": 10.0, "mode": "separate"}, {"ewc_lambda": 10.0, "mode": "online"}]
    assert sweeps.grid(get_strategy("replay"), {"mem_size": [50, 100]}) == [{"mem_size": 50}, {"mem_size": 100}]
    assert sweeps.grid(get_strategy("naive"), {}) == [{}]


def test_grid_refuses_unknown_or_empty_parameters():
    with pytest.raises(BadInput, match="unknown parameter 'lambda' for replay"):
        sweeps.grid(get_strategy("replay"), {"lambda": [1]})
    with pytest.raises(BadInput, match="replay.mem_size has no values"):
        sweeps.grid(get_strategy("replay"), {"mem_size": []})
    with pytest.raises(BadInput, match="unknown strategy"):
        get_strategy("nope")


def test_the_cli_sweep_uses_the_same_syntax():
    from bench.cli import build_parser
    from bench.cli.runs import sweep_configs

    def _parser():
        return build_parser()[0]

    args = _parser().parse_args(["sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies",
                                 "naive,replay", "--param", "mem_size=log 10 1000 3", "--seeds", "0,1",
                                 "--epochs", "1"])
    configs = sweep_configs(args)
    assert sorted((c.strategy, c.params.get("mem_size"), c.seed) for c in configs) == sorted(
        [("naive", None, 0), ("naive", None, 1)] + [("replay", m, s) for m in (10, 100, 1000) for s in (0, 1)])
    bad = _parser().parse_args(["sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies",
                                "replay", "--param", "mem_size=50,lots"])
    with pytest.raises(BadInput, match="replay.mem_size: 'lots' is not valid"):
        sweep_configs(bad)
