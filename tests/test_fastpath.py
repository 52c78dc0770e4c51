"""The fast training data path (bench/fastpath.py) does not change the science: for a fixed seed every strategy's
results with and without it are identical (same minibatches in the same order, same random stream), and it steps
aside where it cannot reproduce Avalanche's loader exactly."""
import pytest
import torch
from cases import SLOW_STRATEGIES

import bench.train.fastpath as fastpath
from bench.benchmarks import get_benchmark
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.strategies import strategies
from bench.train.runner import run, to_avalanche

N_EXP = 3


@pytest.fixture(scope="module")
def digits():
    stream = get_benchmark("split-digits").build({"n_experiences": N_EXP, "class_order": "seeded"}, "task", seed=0)
    return stream, to_avalanche(stream)


def _avalanche_loader(dataset, batch_size, drop_last=False):
    from avalanche.benchmarks.utils.data_loader import TaskBalancedDataLoader

    return TaskBalancedDataLoader(dataset, oversample_small_groups=True, batch_size=batch_size, shuffle=True,
                                  drop_last=drop_last, num_workers=0, pin_memory=False, persistent_workers=False)


@pytest.mark.parametrize("batch_size,drop_last,gather", [(32, False, True), (7, False, True), (32, True, True),
                                                         (1000, False, True), (32, False, False), (7, True, False)])
def test_same_minibatches_in_the_same_order_as_avalanche(digits, batch_size, drop_last, gather):
    _, bench = digits
    ds = bench.train_stream[1].dataset.train()
    slots = fastpath.resolve_tensors(ds)
    ours = fastpath.TensorBatches(slots, batch_size=batch_size, drop_last=drop_last,
                                  epoch_copy_bytes=fastpath.EPOCH_COPY_BYTES if gather else 0)
    assert ours.gather_epoch is gather
    theirs = _avalanche_loader(ds, batch_size, drop_last)
    assert len(ours) == len(theirs)
    for epoch in range(3):  # consecutive epochs: each draws its own permutation from the global generator
        torch.manual_seed(epoch)
        a = [[t.clone() for t in b] for b in theirs]
        state_a = torch.get_rng_state()
        torch.manual_seed(epoch)
        b = list(ours)
        assert torch.equal(state_a, torch.get_rng_state())  # the rest of the run draws the same numbers
        assert len(a) == len(b) == len(ours)
        for xa, xb in zip(a, b, strict=True):
            assert len(xa) == len(xb) == 3
            for ta, tb in zip(xa, xb, strict=True):
                assert ta.dtype == tb.dtype and torch.equal(ta, tb)


def test_concatenations_and_subsets_resolve_to_their_samples(digits):
    _, bench = digits
    d0, d1 = (e.dataset for e in bench.train_stream[:2])
    same_task = d0.concat(d0.subset([5, 1, 9, 2])).train()
    x, y, t = fastpath.resolve_tensors(same_task)
    assert len(x) == len(same_task)
    for i in (0, 3, len(same_task) - 4, len(same_task) - 1):
        xi, yi, ti = same_task[i]
        assert torch.equal(x[i], xi) and int(y[i]) == yi and int(t[i]) == ti
    assert fastpath.resolve_tensors(d0.concat(d1).train()) is None  # two task labels: Avalanche balances them


def test_transforms_keep_avalanches_path(digits):
    _, bench = digits
    ds = bench.train_stream[0].dataset.replace_current_transform_group(lambda x: x * 2).train()
    assert fastpath.resolve_tensors(ds) is None


def test_strategy_with_its_own_loader_is_not_patched():
    from avalanche.training.templates import SupervisedTemplate

    class OwnLoader(SupervisedTemplate):
        def make_train_dataloader(self, **kwargs):
            super().make_train_dataloader(**kwargs)

    model = torch.nn.Linear(4, 2)
    s = OwnLoader(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), device="cpu")
    assert fastpath.enable(s) is False and not fastpath.uses_fast_path(s)


def test_fast_flag_is_not_part_of_a_runs_identity():
    a = RunConfig(benchmark="split-digits", scenario="class", strategy="naive")
    b = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", fast=False)
    assert a.group_key() == b.group_key() and a.config_key() == b.config_key()
    assert RunConfig.from_json(b.to_json()).fast is False
    assert RunConfig.from_dict({"benchmark": "split-digits", "scenario": "class", "strategy": "naive"}).fast is True


# -- every strategy: identical with and without the fast path -------------------------------------------------------
# Which loader each experience trains on, where it is not the fast path for all of them.
EXPECTED = {
    ("replay", "class"): {"fast": 1, "replaced": N_EXP - 1},  # ReplayPlugin installs its ReplayDataLoader
    ("replay", "task"): {"fast": 1, "replaced": N_EXP - 1},
    ("joint", "class"): {"fast": 1},
    ("joint", "task"): {"avalanche": 1},  # all tasks at once: Avalanche's task-balanced loader
    ("cumulative", "task"): {"fast": 1, "avalanche": N_EXP - 1},
    ("gdumb", "task"): {"fast": 1, "avalanche": N_EXP - 1},
}
CASES = [(s.name, sc) for s in strategies() for sc in ("class", "task") if sc in s.scenarios]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("fastpath") / "s.duckdb")


def _rows(store, run_id):
    return {t: store.query(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? ORDER BY ALL", [run_id])
            for t in ("evaluations", "class_recall", "train_curve")}


@pytest.mark.parametrize("strategy,scenario", [
    pytest.param(n, sc, marks=[pytest.mark.slow]
                 if n in SLOW_STRATEGIES or (sc == "task" and (n, sc) not in EXPECTED) else [])
    for n, sc in CASES], ids=[f"{a}-{b}" for a, b in CASES])
def test_identical_results_with_and_without_the_fast_path(store, monkeypatch, strategy, scenario):
    patched = []
    enable = fastpath.enable

    def spy(s):
        ok = enable(s)
        patched.append((ok, s))
        return ok

    monkeypatch.setattr(fastpath, "enable", spy)
    cfg = RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy, epochs=2, seed=7, eval_every=4,
                    benchmark_params={"n_experiences": N_EXP})
    slow = run(RunConfig(**{**cfg.to_dict(), "fast": False}), store=store)
    assert not patched  # fast=False: Avalanche's loader, untouched
    fast = run(cfg, store=store)
    assert slow["status"] == fast["status"] == "finished", (slow["error"], fast["error"])
    assert fast["accuracy_matrix"] == slow["accuracy_matrix"]  # exactly, not approximately
    a, b = _rows(store, slow["run_id"]), _rows(store, fast["run_id"])
    for table in a:
        assert a[table].equals(b[table]), table
    (ok, strat), = patched
    assert ok
    used = {k: v for k, v in fastpath.report(strat).items() if v}
    n_train = 1 if strategy == "joint" else N_EXP
    assert used == EXPECTED.get((strategy, scenario), {"fast": n_train})
