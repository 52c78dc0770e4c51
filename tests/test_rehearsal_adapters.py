"""iCaRL and generative replay (bench.strategies.rehearsal_adapters) through the real runner on split-digits, on CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bench.strategies as S
from bench.benchmarks import get_benchmark
from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.strategies import rehearsal_adapters
from bench.strategies.adapters import UNSEEN_SCORE, ICaRLNet
from bench.train.runner import run

SEEDS = (0, 1)
N_EXP = 5  # split-digits default
SHORT = 3  # experiences in runs where only "it runs and records" matters
# Each method is compared with naive under one shared run config. Generative replay needs a solver that fits each
# experience (real data is only 1/(t+1) of a minibatch at experience t, and the replay is labelled by the previous
# solver); two epochs of plain SGD do not fit even the first experience, so its comparison trains longer.
RUN = {"icarl": dict(epochs=2), "generative_replay": dict(epochs=4, lr=0.2)}


@pytest.fixture(scope="module", autouse=True)
def registered():
    """Register the specs (until the registry lists the module) and run torch on one thread: these models are tiny,
    and extra threads only slow them down on a shared CPU."""
    added = {s.name: s for s in rehearsal_adapters.SPECS if s.name not in S._REGISTRY}
    S._REGISTRY.update(added)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    for name in added:
        S._REGISTRY.pop(name, None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs(strategy, scenario, seed=0, n_exp=5, run_cfg=dict(epochs=2), **params) -> result dict; each distinct
    config runs once per module, all in one store (runs.store)."""
    store = Store(tmp_path_factory.mktemp("rehearsal") / "s.duckdb")
    cache: dict = {}

    def go(strategy: str, scenario: str, seed: int = 0, n_exp: int = N_EXP, run_cfg: dict | None = None,
           **params) -> dict:
        run_cfg = run_cfg or dict(epochs=2)
        key = (strategy, scenario, seed, n_exp, tuple(sorted(run_cfg.items())), tuple(sorted(params.items())))
        if key not in cache:
            cfg = RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy, seed=seed, device="cpu",
                            params=params, benchmark_params={"n_experiences": n_exp}, **run_cfg)
            cache[key] = run(cfg, store=store)
        return cache[key]

    go.store = store
    return go


@pytest.mark.parametrize("strategy, scenario, n_exp, params", [
    ("icarl", "class", N_EXP, {}),
    pytest.param("generative_replay", "class", N_EXP, {}, marks=pytest.mark.slow),
    pytest.param("generative_replay", "domain", SHORT, {"generator_epochs": 5}, marks=pytest.mark.slow),
])
def test_runs_and_records_every_end_cell(runs, strategy, scenario, n_exp, params):
    res = runs(strategy, scenario, n_exp=n_exp, run_cfg=RUN[strategy], **params)
    assert res["status"] == "finished", res["error"]
    rid = res["run_id"]
    assert runs.store.query("SELECT count(*) FROM evaluations WHERE run_id = ?", [rid]).iloc[0, 0] > n_exp * n_exp
    cells = runs.store.query(
        "SELECT trained_exp, test_exp, count(*) AS n FROM evaluations WHERE run_id = ? AND kind = 'end' "
        "GROUP BY trained_exp, test_exp", [rid])
    assert len(cells) == n_exp * n_exp and (cells["n"] == 1).all()
    matrix = np.array(res["accuracy_matrix"])
    assert matrix.shape == (n_exp, n_exp) and np.isfinite(matrix).all()


@pytest.mark.parametrize("strategy", ["icarl", pytest.param("generative_replay", marks=pytest.mark.slow)])
def test_retains_the_first_experience_better_than_naive(runs, strategy):
    """Class-incremental: naive forgets the first experience entirely; both methods keep a good part of it."""
    res = {s: [runs(s, "class", seed, run_cfg=RUN[strategy]) for seed in SEEDS] for s in ("naive", strategy)}
    assert all(r["status"] == "finished" for rs in res.values() for r in rs)
    first = {s: np.mean([r["accuracy_matrix"][-1][0] for r in rs]) for s, rs in res.items()}
    acc = {s: np.mean([r["metrics"]["acc"] for r in rs]) for s, rs in res.items()}
    assert first[strategy] >= first["naive"] + 0.25, first
    assert acc[strategy] >= acc["naive"] + 0.15, acc


def test_memory_accounting(runs):
    assert runs("icarl", "class", run_cfg=RUN["icarl"])["metrics"]["buffer_size"] == 200
    gr = runs("generative_replay", "class", run_cfg=RUN["generative_replay"])
    assert gr["metrics"]["buffer_size"] == 0  # a generator, no stored samples


def test_icarl_eval_scores_are_nearest_mean_over_all_outputs():
    stream = get_benchmark("split-digits").build({"n_experiences": N_EXP, "class_order": "seeded"}, "class", seed=0)
    model = S.get_strategy("icarl").make_model(stream, {"backbone": "auto", "mem_size": 200, "flip_means": False})
    assert isinstance(model, ICaRLNet)
    x = stream.experiences[0].test_x[:16]
    model.eval()
    assert model(x).shape == (16, stream.n_outputs)  # no class means yet: the linear head
    feats = model.feature_extractor(x).detach()
    means = {3: torch.nn.functional.normalize(feats[:8].mean(0), dim=0),
             7: torch.nn.functional.normalize(feats[8:].mean(0), dim=0)}
    model.eval_classifier.replace_class_means_dict({**means, 5: torch.zeros(feats.shape[1])})  # zeros: no mean
    out = model(x)
    assert out.shape == (16, stream.n_outputs)
    assert set(out.argmax(1).tolist()) <= {3, 7}
    assert (out[:, [c for c in range(stream.n_outputs) if c not in means]] == UNSEEN_SCORE).all()
    model.train()
    assert torch.allclose(model(x), model.train_classifier(feats))


@pytest.mark.parametrize("strategy, scenario", [("icarl", "task"), ("icarl", "domain"),
                                                ("generative_replay", "task")])
def test_unsupported_scenarios_are_refused(strategy, scenario):
    with pytest.raises(BadInput, match="does not support"):
        validate(RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy))
