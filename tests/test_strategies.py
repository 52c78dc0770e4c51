"""Every registered strategy runs on split-digits in every scenario it declares; rows land in the store; no strategy
silently trains like another (identical accuracy matrices at the same seed), and none ends far below fine-tuning in
the task-incremental scenario, where nothing should forget much."""
import itertools

import numpy as np
import pytest
from cases import SLOW_STRATEGIES

from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.strategies import get_strategy, strategies
from bench.strategies.base import QUICK_CLAIM
from bench.train.runner import run

N_EXP = QUICK_CLAIM["bench_params"]["n_experiences"]
EPOCHS = QUICK_CLAIM["run"]["epochs"]
SEED = 1
TASK_FLOOR = 0.05  # "far below": task-incremental ACC more than this under naive's
CASES = [(s.name, sc) for s in strategies() for sc in s.scenarios]
QUICK = [c for c in CASES if c[0] not in SLOW_STRATEGIES]
SLOW = [c for c in CASES if c[0] in SLOW_STRATEGIES]
PARAMS = [pytest.param(n, sc, id=f"{n}-{sc}", marks=[pytest.mark.slow] if n in SLOW_STRATEGIES else [])
          for n, sc in CASES]


@pytest.fixture(scope="module")
def store(shared_runs):
    return shared_runs.store


def _run_cases(shared_runs, cases) -> dict:
    """The effect tests' stream (3 experiences, 5 epochs), so that their class-incremental runs are these."""
    out = {}
    for name, sc in cases:
        cfg = RunConfig(benchmark="split-digits", scenario=sc, strategy=name, epochs=EPOCHS,
                        benchmark_params={"n_experiences": N_EXP}, seed=SEED)
        out[name, sc] = shared_runs.run(cfg)
    return out


@pytest.fixture(scope="module")
def quick_results(shared_runs):
    """Every strategy but the ViT and VAE ones, in every scenario it declares, one seed: one run each, shared."""
    return _run_cases(shared_runs, QUICK)


@pytest.fixture(scope="module")
def slow_results(shared_runs):
    return _run_cases(shared_runs, SLOW)


def _results(request, name: str) -> dict:
    return request.getfixturevalue("slow_results" if name in SLOW_STRATEGIES else "quick_results")


@pytest.mark.parametrize("strategy,scenario", PARAMS)
def test_strategy_runs_and_records(request, store, strategy, scenario):
    result = _results(request, strategy)[strategy, scenario]
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


def _stored_matrix(store, run_id: str) -> np.ndarray:
    rows = store.query("SELECT trained_exp, test_exp, accuracy FROM evaluations WHERE run_id = ? AND kind = 'end' "
                       "ORDER BY trained_exp, test_exp", [run_id])
    return rows.accuracy.to_numpy().reshape(-1, N_EXP)


def _check_distinct(store, results: dict, must_involve=None) -> None:
    for sc in ("class", "task", "domain"):
        here = {n: r for (n, s), r in results.items() if s == sc and r["status"] == "finished"}
        for (a, ra), (b, rb) in itertools.combinations(sorted(here.items()), 2):
            if must_involve and not {a, b} & must_involve:
                continue
            Ra, Rb = _stored_matrix(store, ra["run_id"]), _stored_matrix(store, rb["run_id"])
            assert Ra.shape != Rb.shape or not np.array_equal(Ra, Rb), \
                f"{a} and {b} stored identical accuracy matrices ({sc}-incremental, seed {SEED}): one does nothing"


def _floor_baseline(name: str) -> str:
    """What a strategy's task-incremental ACC is held against: naive fine-tuning of the same network. The prompt
    methods train a frozen ViT, whose fine-tuning baseline is vit_finetune (the MLP's naive measures the backbone)."""
    return "vit_finetune" if get_strategy(name).family == "prompt" else "naive"


# Named exceptions to the floor, each with its reason (README, "Prompt-based strategies"); they must still end well
# above the 0.5 of guessing within a two-class task.
BELOW_FLOOR = {"l2p": "L2P reads its answer off the selected prompt tokens, and on the 6-block micro ViT those learn "
                      "each experience slowly: 0.81 against vit_finetune's 0.91 here, as in the prompt table"}
ABOVE_CHANCE = 0.7


def _check_task_floor(results: dict) -> None:
    for (name, sc), r in results.items():
        base = _floor_baseline(name)
        if sc == "task" and name != base and (base, "task") in results:
            floor = ABOVE_CHANCE if name in BELOW_FLOOR else results[base, "task"]["metrics"]["acc"] - TASK_FLOOR
            assert r["metrics"]["acc"] >= floor, (
                f"{name} ends at ACC {r['metrics']['acc']:.3f} in task-incremental split digits, {base} at "
                f"{results[base, 'task']['metrics']['acc']:.3f}")


def test_no_two_strategies_store_identical_matrices(store, quick_results):
    _check_distinct(store, quick_results)


def test_none_ends_far_below_naive_in_the_task_incremental_scenario(quick_results):
    _check_task_floor(quick_results)


@pytest.mark.slow
def test_the_slow_strategies_too(store, quick_results, slow_results):
    both = {**quick_results, **slow_results}
    _check_distinct(store, both, must_involve=set(SLOW_STRATEGIES))
    _check_task_floor({k: v for k, v in both.items() if k[0] in SLOW_STRATEGIES or k[0] == "naive"})


def test_unsupported_scenario_is_refused_before_anything_is_written(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    unsupported = [(s.name, sc) for s in strategies() for sc in ("class", "task", "domain") if sc not in s.scenarios]
    assert unsupported, "expected at least one strategy with a restricted scenario list"
    name, sc = unsupported[0]
    with pytest.raises(BadInput, match=f"strategy '{name}' does not support the {sc}-incremental scenario"):
        run(RunConfig(benchmark="split-digits", scenario=sc, strategy=name), store=store)
    assert store.query("SELECT count(*) AS n FROM runs").n[0] == 0


@pytest.mark.parametrize("scenario,n_exp", [("task", 10), ("domain", 6), ("task", 6)])
def test_a_degenerate_stream_is_refused_before_anything_is_written(tmp_path, scenario, n_exp):
    """With 10 classes in 6 or more experiences some hold one class: in the task- and domain-incremental scenarios
    every model scores 1.0 on them."""
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(BadInput, match=f"n_experiences={n_exp} leaves experiences of split-digits with 1 class") as e:
        run(RunConfig(benchmark="split-digits", scenario=scenario, strategy="naive",
                      benchmark_params={"n_experiences": n_exp}), store=store)
    assert "\n" not in str(e.value)
    assert store.query("SELECT count(*) AS n FROM runs").n[0] == 0
    validate(RunConfig(benchmark="split-digits", scenario="class", strategy="naive",
                       benchmark_params={"n_experiences": 10}))  # one class per experience is fine there


def test_registry_declares_typed_params():
    for s in strategies():
        for p in s.params:
            assert p.help and p.parse(p.default) == p.default, (s.name, p.name)
        validate(RunConfig(benchmark="split-digits", scenario=s.scenarios[0], strategy=s.name))
