"""Runs: reproducible on CPU, failures recorded, replay beats fine-tuning in class-incremental digits."""
import numpy as np

from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run


def test_same_config_and_seed_give_same_numbers(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="replay", epochs=1, seed=3)
    a, b = run(cfg, store=store), run(cfg, store=store)
    np.testing.assert_array_equal(a["accuracy_matrix"], b["accuracy_matrix"])
    curves = [store.query("SELECT iteration, test_exp, accuracy FROM evaluations WHERE run_id = ? "
                          "ORDER BY point, test_exp", [r["run_id"]]) for r in (a, b)]
    assert curves[0].equals(curves[1])
    c = run(cfg.with_seed(4), store=store)
    assert not np.array_equal(a["accuracy_matrix"], c["accuracy_matrix"])


def test_diverging_run_is_marked_failed_with_its_error(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    # A huge EWC penalty without gradient clipping blows up once the second experience starts.
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="ewc", params={"ewc_lambda": 1e7}, epochs=2,
                    grad_clip=0.0)
    result = run(cfg, store=store)
    assert result["status"] == "failed"
    assert "loss became" in result["error"]
    row = store.run_row(result["run_id"])
    assert row["status"] == "failed" and row["error"].startswith("RunDiverged: training loss became")
    # rows written before the divergence stay
    assert store.query("SELECT count(*) AS n FROM evaluations WHERE run_id = ?", [result["run_id"]]).n[0] > 0


def test_replay_retains_more_than_naive_in_class_incremental(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    base = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=3)
    naive = [run(base.with_seed(s), store=store)["metrics"] for s in (0, 1)]
    replay = [run(RunConfig(**{**base.to_dict(), "strategy": "replay", "seed": s}), store=store)["metrics"]
              for s in (0, 1)]
    assert np.mean([m["acc"] for m in replay]) > np.mean([m["acc"] for m in naive]) + 0.3
    assert np.mean([m["forgetting"] for m in replay]) < np.mean([m["forgetting"] for m in naive]) - 0.3


def test_run_raising_inside_avalanche_is_marked_failed_and_the_next_run_goes_on(tmp_path, monkeypatch):
    """A strategy whose Avalanche plugin raises mid-training (a real SupervisedPlugin in the real loop)."""
    from avalanche.core import SupervisedPlugin
    from avalanche.training import Naive

    import bench.strategies as S
    from bench.strategies.base import ALL_SCENARIOS, StrategySpec

    class Boom(SupervisedPlugin):
        def after_training_iteration(self, strategy, **kwargs):
            if strategy.clock.train_iterations == 5:
                raise ValueError("boom at iteration 5")

    def build(ctx, p):
        kw = ctx.kwargs()
        kw["plugins"] = [*kw["plugins"], Boom()]
        return Naive(**kw)

    spec = StrategySpec(name="boom", family="baselines", params=(), scenarios=ALL_SCENARIOS, build=build,
                        description="raises inside Avalanche")
    monkeypatch.setitem(S._REGISTRY, "boom", spec)
    store = Store(tmp_path / "s.duckdb")
    failed = run(RunConfig(benchmark="split-digits", scenario="class", strategy="boom", epochs=1), store=store)
    assert failed["status"] == "failed" and failed["error"] == "ValueError: boom at iteration 5"
    row = store.run_row(failed["run_id"])
    assert row["status"] == "failed" and "Traceback" in row["error"] and row["finished_at"] is not None
    ok = run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1), store=store)
    assert ok["status"] == "finished"


def test_every_run_that_started_names_its_device_also_one_that_failed_before_training(tmp_path, monkeypatch):
    """runs.device is filled by the first training step's write; a run that fails earlier (its stream or model cannot
    be built) still records where it ran, as do runs that finish or are cancelled."""
    import torch

    import bench.models as models
    import bench.train.runner as runner

    def broken(*args, **kwargs):
        raise RuntimeError("no such backbone file")

    monkeypatch.setattr(runner, "build_model", broken)
    store = Store(tmp_path / "s.duckdb")
    failed = run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1), store=store)
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: no such backbone file"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert store.run_row(failed["run_id"])["device"] == failed["device"] == expected
    monkeypatch.setattr(runner, "build_model", models.build_model)
    ok = run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1), store=store)
    assert store.run_row(ok["run_id"])["device"] == expected
    assert runner.device_name("cpu") == "cpu" and runner.device_name("cuda") == "cuda"
