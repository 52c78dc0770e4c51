"""Imports of what Avalanche's own loggers wrote (CSVLogger, TensorboardLogger) on a small stream: the imported
accuracy matrix equals the one Avalanche computed, the curves come along, damage is refused."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from avalanche_logs import run_logged
from test_imports import fingerprint, run_cli

from bench.results import queries as q
from bench.results.store import Store
from bench.train import metrics


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Two real runs: evaluation after each experience only (and once before training), and the same with
    Avalanche's periodic evaluation of the test stream after every epoch."""
    root = tmp_path_factory.mktemp("avalanche-logs")
    return {"plain": run_logged(root / "plain", epochs=2), "periodic": run_logged(root / "periodic", epochs=2,
                                                                                   eval_every=1, seed=1)}


def test_csvlogger_folder_imports_as_avalanche_computed_it(logs, tmp_path):
    ref = logs["plain"]
    code, out, err = run_cli("import", "avalanche-csv", str(ref["csv"]), "--store", str(tmp_path / "s.duckdb"),
                             "--strategy", "naive", "--json")
    assert code == 0, err
    (line,) = [json.loads(x) for x in out.splitlines()]  # one JSON line per imported run
    assert line["status"] == "imported" and line["strategy"] == "naive"
    np.testing.assert_allclose(line["accuracy_matrix"], ref["matrix"], atol=5e-5)  # the logger's 4 decimals
    assert line["metrics"]["acc"] == pytest.approx(metrics.average_accuracy(ref["matrix"]), abs=5e-5)
    assert line["metrics"]["bwt"] == pytest.approx(metrics.backward_transfer(ref["matrix"]), abs=1e-4)
    assert line["metrics"]["fwt"] == pytest.approx(metrics.forward_transfer(ref["matrix"], ref["initial"]), abs=1e-4)
    store = Store(tmp_path / "s.duckdb")
    assert len(q.train_curve(store, line["run_id"])) == 3 * 2  # one row per epoch, from training_results.csv


def test_tensorboard_events_import_as_avalanche_computed_them(logs, tmp_path):
    ref = logs["plain"]
    code, out, err = run_cli("import", "tensorboard", str(ref["tb"]), "--store", str(tmp_path / "s.duckdb"),
                             "--strategy", "naive", "--seed", "4", "--json")
    assert code == 0, err
    (line,) = [json.loads(x) for x in out.splitlines()]
    np.testing.assert_allclose(line["accuracy_matrix"], ref["matrix"], atol=1e-6)  # float32 scalars
    assert line["seed"] == 4
    store = Store(tmp_path / "s.duckdb")
    ev = store.query("SELECT kind, trained_exp, iteration FROM evaluations WHERE run_id = ? AND test_exp = 0 "
                     "ORDER BY point", [line["run_id"]])
    assert list(ev.kind) == ["initial", "end", "end", "end"]
    assert list(ev.iteration) == [0, 8, 16, 24]  # 60 samples / batch 16 = 4 iterations an epoch, 2 epochs
    curve = q.train_curve(store, line["run_id"])
    assert list(curve.iteration) == [4, 8, 12, 16, 20, 24] and list(curve.trained_exp) == [0, 0, 1, 1, 2, 2]


def test_periodic_evaluation_becomes_the_dense_curves(logs, tmp_path):
    ref = logs["periodic"]
    store_path = tmp_path / "s.duckdb"
    for tool in ("tensorboard", "avalanche-csv"):
        assert run_cli("import", tool, str(ref["tb" if tool == "tensorboard" else "csv"]), "--store",
                       str(store_path))[0] == 0
    store = Store(store_path)
    runs = q.runs(store).set_index("strategy")
    tb_id, csv_id = runs.loc["tb", "run_id"], runs.loc["csv", "run_id"]
    np.testing.assert_allclose(q.accuracy_matrix(store, tb_id), ref["matrix"], atol=1e-6)
    np.testing.assert_allclose(q.accuracy_matrix(store, csv_id), ref["matrix"], atol=5e-5)
    ev = store.query("SELECT kind, trained_exp, iteration FROM evaluations WHERE run_id = ? AND test_exp = 0 "
                     "ORDER BY point", [tb_id])
    assert list(zip(ev.kind, ev.trained_exp, ev.iteration, strict=True)) == [
        ("initial", -1, 0), ("dense", 0, 4), ("end", 0, 8), ("dense", 1, 12), ("end", 1, 16), ("dense", 2, 20),
        ("end", 2, 24)]


def test_damaged_event_files_are_refused_and_change_nothing(logs, tmp_path):
    (event,) = list(logs["plain"]["tb"].glob("*tfevents*"))
    store = Store(tmp_path / "s.duckdb")
    before = fingerprint(store)
    data = event.read_bytes()
    for name, damaged, match in [("truncated", data[: len(data) - 30], "is truncated"),
                                 ("flipped", data[:200] + bytes([data[200] ^ 0xFF]) + data[201:], "is damaged"),
                                 ("garbage", b"not an event file at all" * 10, "is not a TensorBoard event file")]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / event.name).write_bytes(damaged)
        code, out, err = run_cli("import", "tensorboard", str(folder), "--store", str(store.path))
        assert code == 2 and match in err and err.count("\n") == 1, (name, err)
    assert fingerprint(store) == before


def test_a_folder_of_runs_imports_every_run_once(logs, tmp_path):
    for k, name in enumerate(("plain", "periodic")):
        shutil.copytree(logs[name]["tb"], tmp_path / "runs" / f"naive-seed{k}")
    store_path = tmp_path / "s.duckdb"
    code, out, _ = run_cli("import", "tensorboard", str(tmp_path / "runs"), "--store", str(store_path), "--json")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["strategy"], x["seed"]) for x in lines] == [("naive", 0), ("naive", 1)]
    assert len(q.groups(Store(store_path))) == 1  # seeds of one strategy: one group, averaged on Compare
    assert run_cli("import", "tensorboard", str(tmp_path / "runs"), "--store", str(store_path))[0] == 2
    assert len(Store(store_path).table("runs")) == 2
