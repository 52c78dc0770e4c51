"""Our accuracy matrix and metrics against Avalanche's own metrics on the same run."""
import numpy as np
import pytest

from bench.results.avalanche_names import parse_metric_name, tidy
from bench.results.queries import accuracy_matrix
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train import metrics
from bench.train.runner import run


def test_parse_metric_name():
    assert parse_metric_name("Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp003") == {
        "metric": "Top1_Acc_Exp", "phase": "eval", "stream": "test", "task": 0, "exp": 3}
    assert parse_metric_name("StreamBWT/eval_phase/test_stream") == {
        "metric": "StreamBWT", "phase": "eval", "stream": "test", "task": None, "exp": None}
    assert parse_metric_name("Top1_Acc_Stream/eval_phase/test_stream/Task012")["task"] == 12
    with pytest.raises(ValueError):
        parse_metric_name("Top1_Acc_Exp/Task000")


@pytest.mark.parametrize("strategy,scenario", [("naive", "class"), ("replay", "class"), ("ewc", "task")])
def test_matrix_acc_and_bwt_equal_avalanche(tmp_path, strategy, scenario):
    store = Store(tmp_path / "s.duckdb")
    cfg = RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy, epochs=2,
                    benchmark_params={"n_experiences": 4})
    result = run(cfg, store=store, avalanche_eval=True)
    assert result["status"] == "finished"
    R = accuracy_matrix(store, result["run_id"])  # what the store holds, not the in-memory copy
    assert R.shape == (4, 4)
    for i, evaluation in enumerate(result["avalanche"]):
        rows = [r for r in tidy(evaluation) if r["metric"] == "Top1_Acc_Exp"]
        ref = np.array([r["value"] for r in sorted(rows, key=lambda r: r["exp"])])
        np.testing.assert_allclose(R[i], ref, atol=1e-12)
    final = {r["metric"]: r["value"] for r in tidy(result["avalanche"][-1]) if r["exp"] is None}
    assert metrics.backward_transfer(R) == pytest.approx(final["StreamBWT"], abs=1e-12)
    # forgetting_initial is Avalanche's definition (accuracy just after learning minus final); ours, Chaudhry's, is not
    assert metrics.forgetting_initial(R) == pytest.approx(final["StreamForgetting"], abs=1e-12)
    assert result["metrics"]["forgetting_initial"] == pytest.approx(final["StreamForgetting"], abs=1e-12)
    assert metrics.average_accuracy(R) == pytest.approx(np.mean(ref), abs=1e-12)
    # Avalanche's stream accuracy weights experiences by test-set size: rebuild it from our stored counts.
    n = store.query("SELECT test_exp, n FROM evaluations WHERE run_id = ? AND kind = 'end' AND trained_exp = 3 "
                    "ORDER BY test_exp", [result["run_id"]])["n"].to_numpy()
    weighted = float((R[-1] * n).sum() / n.sum())
    stream_acc = [r["value"] for r in tidy(result["avalanche"][-1]) if r["metric"] == "Top1_Acc_Stream"]
    assert weighted == pytest.approx(np.mean(stream_acc) if scenario == "class" else weighted, abs=1e-12)
    assert result["metrics"]["bwt"] == pytest.approx(final["StreamBWT"], abs=1e-12)
