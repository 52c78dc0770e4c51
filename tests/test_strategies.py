"""Every registered strategy runs on split-digits in every scenario it declares; rows land in the store."""
import pytest
from cases import QUICK_STRATEGIES

from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.strategies import strategies
from bench.train.runner import run

N_EXP = 3
CASES = [(s.name, sc) for s in strategies() for sc in s.scenarios]
PARAMS = [pytest.param(n, sc, id=f"{n}-{sc}", marks=[] if n in QUICK_STRATEGIES else [pytest.mark.slow])
          for n, sc in CASES]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("strategies") / "s.duckdb")


@pytest.mark.parametrize("strategy,scenario", PARAMS)
def test_strategy_runs_and_records(store, strategy, scenario):
    cfg = RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy, epochs=1,
                    benchmark_params={"n_experiences": N_EXP}, seed=1)
    result = run(cfg, store=store)
    assert result["status"] == "finished", result["error"]
    rid = result["run_id"]
    ends = store.query("SELECT trained_exp, test_exp, accuracy FROM evaluations WHERE run_id = ? AND kind = 'end'",
                       [rid])
    rows = 1 if strategy == "joint" else N_EXP
    assert len(ends) == rows * N_EXP
    assert ends.accuracy.between(0, 1).all()
    assert len(store.query("SELECT 1 FROM evaluations WHERE run_id = ? AND kind = 'initial'", [rid])) == N_EXP
    assert len(store.query("SELECT 1 FROM evaluations WHERE run_id = ? AND kind = 'dense'", [rid])) > N_EXP
    recall = store.query("SELECT sum(total) AS t FROM class_recall WHERE run_id = ? AND point = 0", [rid])
    n_test = store.query("SELECT sum(n) AS n FROM evaluations WHERE run_id = ? AND point = 0", [rid])
    assert int(recall.t[0]) == int(n_test.n[0])  # per-class counts add up to the test sets
    assert len(store.query("SELECT 1 FROM train_curve WHERE run_id = ?", [rid])) > 0
    m = dict(store.query("SELECT metric, value FROM run_metrics WHERE run_id = ?", [rid]).values.tolist())
    assert 0 <= m["acc"] <= 1 and m["param_count"] > 0 and m["time_s"] > 0
    assert store.run_row(rid)["status"] == "finished"


def test_unsupported_scenario_is_refused_before_anything_is_written(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    unsupported = [(s.name, sc) for s in strategies() for sc in ("class", "task", "domain") if sc not in s.scenarios]
    assert unsupported, "expected at least one strategy with a restricted scenario list"
    name, sc = unsupported[0]
    with pytest.raises(BadInput, match=f"strategy '{name}' does not support the {sc}-incremental scenario"):
        run(RunConfig(benchmark="split-digits", scenario=sc, strategy=name), store=store)
    assert store.query("SELECT count(*) AS n FROM runs").n[0] == 0


def test_registry_declares_typed_params():
    for s in strategies():
        for p in s.params:
            assert p.help and p.parse(p.default) == p.default, (s.name, p.name)
        validate(RunConfig(benchmark="split-digits", scenario=s.scenarios[0], strategy=s.name))
