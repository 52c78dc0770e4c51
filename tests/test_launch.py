"""What a launch queues (bench/launch.py), shared by the Launch page and `python -m bench sweep`: the product, its
validation, duplicates merged, and the runs the store already has."""
from __future__ import annotations

from bench import launch
from bench.execute import jobs
from bench.results.store import Store


def test_the_product_is_strategies_times_settings_times_seeds_in_order():
    cfgs = launch.product(benchmark="split-digits", scenario="class", seeds=[0, 1],
                          grids={"naive": [{}], "replay": [{"mem_size": 50}, {"mem_size": 100}]}, run={"epochs": 1})
    assert [(c.strategy, c.params.get("mem_size"), c.seed) for c in cfgs] == [
        ("naive", None, 0), ("naive", None, 1), ("replay", 50, 0), ("replay", 50, 1), ("replay", 100, 0),
        ("replay", 100, 1)]
    assert {c.epochs for c in cfgs} == {1}


def test_settings_that_normalise_to_the_same_run_are_one_run():
    # mem_size=200 is replay's default: {} and {"mem_size": 200} are the same run
    p = launch.plan(launch.product(benchmark="split-digits", scenario="class", seeds=[0],
                                   grids={"replay": [{}, {"mem_size": 200}, {"mem_size": 20}]}))
    assert p.ok and [c.params["mem_size"] for c in p.configs] == [200, 20]


def test_each_distinct_error_is_listed_once_and_nothing_can_start():
    p = launch.plan(launch.product(benchmark="split-digits", scenario="class", seeds=[0, 1, 2],
                                   grids={"replay": [{"mem_size": 0}], "naive": [{}]}))
    assert p.errors == ["replay.mem_size=0 is out of range: expected an integer in [1, 100000]"]
    assert not p.ok
    too_many = launch.plan(launch.product(benchmark="split-digits", scenario="class", seeds=list(range(50)),
                                          grids={"replay": [{"mem_size": m} for m in range(1, 12)]}))
    assert too_many.errors == ["550 runs is too many for one start: expected at most 500"] and not too_many.configs


def test_runs_already_in_the_store_are_counted(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    cfgs = launch.product(benchmark="split-digits", scenario="class", seeds=[0, 1], grids={"naive": [{}]})
    jobs.submit(cfgs[:1], store=store)  # queued runs count as present
    assert launch.plan(cfgs, store=store).existing == 1
