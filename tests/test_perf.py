"""The performance harness runs end to end in its quick mode and reports what it promises. Its figures are printed
(in CI's log), never asserted against timings: this machine's load decides those."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _perf(*args: str) -> tuple[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "bench.perf", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    return "\n".join(lines[:-1]), json.loads(lines[-1])


@pytest.mark.slow
def test_quick_mode_prints_its_table_and_one_json_object(capsys):
    table, out = _perf("--quick", "--json")
    with capsys.disabled():  # the table goes to the CI log
        print("\n" + table)
    assert "plain PyTorch loop" in table and "Avalanche as shipped" in table and "bench runner" in table
    h = out["header"]
    assert h["cores"] >= 1 and h["torch"] and h["mode"] == "quick"
    ratios = out["ratios"]
    assert {"runner_vs_plain", "avalanche_vs_plain"} <= set(ratios)
    assert all(isinstance(v, float) and v > 0 for v in ratios.values())
    (w,) = out["workloads"]
    assert w["workload"] == "split-digits" and w["iterations"] > 0 and w["eval_every"] >= 1
    for way in ("plain", "avalanche", "runner", "plain_eval", "avalanche_eval", "recorder_eval"):
        assert w["ways"][way]["ms"] > 0, way
    # the same work three ways: the same dense evaluations in the plain loop and the runner
    assert w["ways"]["plain"]["evals"] == w["ways"]["runner"]["evals"] > 0
    assert w["ways"]["runner"]["store_io_calls"] >= 1
    st = out["store"]
    assert st["n_runs"] == 50 and st["rows"]["evaluations"] > 0
    sel = st["selections"]["default"]
    assert sel["n_runs"] > 0 and sel["chart_bytes_total"] > 0
    assert all(v["p95"] >= v["p50"] > 0 for v in sel["queries_ms"].values())
    assert set(out["targets"]) and all(isinstance(t["met"], bool) for t in out["targets"].values())


@pytest.mark.slow
def test_cnn_workload_runs_on_the_cpu_when_asked():
    """The GPU workload (CIFAR-shaped synthetic tensors, a CNN) at a token size, so its code runs without a GPU."""
    _, out = _perf("--quick", "--json", "--workloads", "cifar-synthetic", "--device", "cpu", "--reps", "1",
                   "--warmup", "0", "--store-runs", "0")
    (w,) = out["workloads"]
    assert w["workload"] == "cifar-synthetic" and w["batch_size"] == 128
    assert w["ways"]["runner"]["images_per_s"] > 0 and out["ratios"]["runner_vs_plain"] > 0
    assert "store" not in out


@pytest.mark.slow
def test_resnet18_workload_with_augmentation_runs_on_the_cpu_at_a_token_size(capsys):
    """The ResNet-18 workload (CIFAR-shaped synthetic tensors, crop+flip, CIFAR-10 normalisation), timed three ways
    in images/s, at a size a CPU runs in CI; `--device cuda` runs it at FULL_SIZE."""
    table, out = _perf("--quick", "--json", "--workloads", "resnet18-cifar", "--device", "cpu", "--reps", "1",
                       "--warmup", "0", "--store-runs", "0", "--size", "80,40")
    with capsys.disabled():
        print("\n" + table)
    (w,) = out["workloads"]
    assert w["workload"] == "resnet18-cifar" and w["train_samples"] == 80 and w["test_samples"] == 40
    assert (w["model"], w["augment"], w["normalize"]) == ("resnet18", "crop_flip", "mean_std")
    assert w["param_count"] == 11_173_962
    for way in ("plain", "avalanche", "runner"):
        assert w["ways"][way]["images_per_s"] > 0, way
    assert w["ways"]["plain"]["evals"] == w["ways"]["runner"]["evals"] > 0
    assert "augment crop_flip" in table and "img/s" in table


@pytest.mark.slow
def test_bf16_needs_a_gpu_and_a_bad_size_is_refused():
    for args, message in ((("--bf16", "--device", "cpu"), "--bf16 needs a CUDA device"),
                          (("--size", "40"), "--size '40' is not valid: expected N_TRAIN,N_TEST")):
        proc = subprocess.run([sys.executable, "-m", "bench.perf", "--workloads", "none", "--store-runs", "0",
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-500:]
