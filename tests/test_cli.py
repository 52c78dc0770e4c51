"""The `python -m bench` contract: JSON shapes, exit codes, one-line errors, nothing written on bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.results.store import Store

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def test_list_json(capsys):
    assert main(["list", "strategies", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    by_name = {s["name"]: s for s in items}
    assert {"naive", "joint", "replay", "ewc", "si", "lwf"} <= set(by_name)
    ewc = {p["name"]: p for p in by_name["ewc"]["params"]}["ewc_lambda"]
    assert set(ewc) >= {"name", "type", "default", "min", "max", "choices", "help"}
    assert by_name["ewc"]["family"] == "regularization" and "class" in by_name["ewc"]["scenarios"]
    assert main(["list", "benchmarks", "--json"]) == 0
    names = {b["name"] for b in json.loads(capsys.readouterr().out)}
    assert {"split-digits", "permuted-digits", "rotated-digits", "split-mnist-lite", "split-cifar100"} <= names


@pytest.mark.parametrize("args,needle", [
    (["--benchmark", "nope", "--scenario", "class", "--strategy", "naive"], "unknown benchmark 'nope'"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "magic"], "unknown strategy 'magic'"),
    (["--benchmark", "split-digits", "--scenario", "sideways", "--strategy", "naive"], "scenario 'sideways'"),
    (["--benchmark", "split-digits", "--scenario", "task", "--strategy", "der"], "does not support the task"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "ewc", "--param", "ewc_lambda=abc"],
     "ewc.ewc_lambda='abc'"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "ewc", "--param", "lambda=3"],
     "unknown parameter 'lambda'"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "naive", "--epochs", "0"],
     "run.epochs"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "naive", "--lr", "nan"], "run.lr"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "naive", "--bench-param",
      "n_experiences=11"], "n_experiences"),
    (["--benchmark", "split-digits", "--scenario", "class"], "--strategy"),
    (["--benchmark", "split-digits", "--scenario", "task", "--strategy", "naive", "--bench-param",
      "n_experiences=10"], "n_experiences=10 leaves experiences of split-digits with 1 class"),
    (["--benchmark", "split-digits", "--scenario", "class", "--strategy", "naive", "--lr-schedule", "multistep"],
     "needs run.lr_milestones"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, needle):
    store = tmp_path / "s.duckdb"
    assert main(["run", *args, "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and err.startswith("error: ")
    assert not store.exists()


def test_run_json_shape_and_stored_rows(tmp_path):
    store = tmp_path / "s.duckdb"
    p = cli("run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "replay",
            "--param", "mem_size=100", "--epochs", "1", "--seed", "2", "--store", str(store), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert {"run_id", "status", "benchmark", "scenario", "strategy", "params", "seed", "device", "metrics",
            "accuracy_matrix"} <= set(out)
    assert out["status"] == "finished" and out["params"]["mem_size"] == 100 and out["seed"] == 2
    assert {"acc", "avg_incremental_acc", "bwt", "fwt", "forgetting", "time_s"} <= set(out["metrics"])
    R = out["accuracy_matrix"]
    assert len(R) == 5 and all(len(r) == 5 for r in R)
    assert out["metrics"]["acc"] == pytest.approx(sum(R[-1]) / 5)
    s = Store(store)
    stored = s.query("SELECT accuracy FROM evaluations WHERE run_id = ? AND kind = 'end' AND trained_exp = 4 "
                     "ORDER BY test_exp", [out["run_id"]]).accuracy.tolist()
    assert stored == pytest.approx(R[-1])


def test_failed_run_prints_json_and_exits_1(tmp_path, capsys):
    code = main(["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "ewc",
                 "--param", "ewc_lambda=1e7", "--epochs", "2", "--grad-clip", "0",
                 "--store", str(tmp_path / "s.duckdb"), "--json"])
    assert code == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "failed" and "loss became" in out["error"]


@pytest.mark.slow
def test_sweep_runs_every_combination_and_export(tmp_path):
    store = tmp_path / "s.duckdb"
    p = cli("sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies", "naive,replay",
            "--param", "mem_size=50,200", "--seeds", "0,1", "--epochs", "1", "--workers", "2",
            "--store", str(store), "--json")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.strip().splitlines()]
    combos = sorted((r["strategy"], r["params"].get("mem_size"), r["seed"]) for r in lines)
    assert combos == sorted([("naive", None, 0), ("naive", None, 1)] +
                            [("replay", m, s) for m in (50, 200) for s in (0, 1)])
    assert all(r["status"] == "finished" and len(r["accuracy_matrix"]) == 5 for r in lines)
    out = tmp_path / "export"
    assert main(["export", "--store", str(store), "--out", str(out), "--format", "parquet"]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 6
    evals = pd.read_parquet(out / "evaluations.parquet")
    assert set(evals.run_id) == {r["run_id"] for r in lines}
    assert main(["export", "--store", str(store), "--out", str(tmp_path / "csv"), "--format", "csv"]) == 0
    assert len(pd.read_csv(tmp_path / "csv" / "run_metrics.csv")) == len(pd.read_parquet(out / "run_metrics.parquet"))


def test_imported_config_is_validated_json(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"benchmark": "split-digits", "scenario": "class", "strategy": "naive", "epochs": "many"}')
    assert main(["run", "--config", str(bad), "--store", str(tmp_path / "s.duckdb")]) == 2
    assert "run.epochs='many'" in capsys.readouterr().err
    pickle_like = tmp_path / "evil.json"
    pickle_like.write_bytes(b"\x80\x04\x95cos\nsystem\n")
    assert main(["run", "--config", str(pickle_like)]) == 2
    assert "is not a JSON text file" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert not (tmp_path / "s.duckdb").exists()
