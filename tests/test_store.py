"""The DuckDB store: schema, writes, refusals, and many writers plus a polling reader losing nothing."""
import multiprocessing as mp
import os
import time

import duckdb
import pytest

from bench.results.store import SCHEMA_VERSION, Store, resolve_store_path
from bench.spec.params import BadInput


def _run_row(run_id, status="running"):
    return {"run_id": run_id, "benchmark": "split-digits", "scenario": "class", "strategy": "naive",
            "seed": 0, "config_json": "{}", "status": status, "created_at": time.time()}


def test_store_path_rule(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_STORE", raising=False)
    assert str(resolve_store_path(None)) == os.path.join("results", "bench.duckdb")
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "env.duckdb"))
    assert resolve_store_path(None) == tmp_path / "env.duckdb"
    assert resolve_store_path(tmp_path / "x.duckdb") == tmp_path / "x.duckdb"


def test_write_and_read_back(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    store.insert_runs([_run_row("r1")])
    store.write("r1", {"evaluations": [
        {"point": 0, "kind": "end", "trained_exp": 0, "iteration": 5, "test_exp": 0, "accuracy": 0.5, "loss": 1.0,
         "n": 10}]}, {"iteration": 5})
    df = store.query("SELECT run_id, accuracy FROM evaluations")
    assert df.to_dict("records") == [{"run_id": "r1", "accuracy": 0.5}]
    assert store.run_row("r1")["iteration"] == 5


def test_cancel_queued_and_running(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    store.insert_runs([_run_row("q", "queued"), _run_row("r", "running")])
    assert store.request_cancel("q") == "cancelled"
    assert store.request_cancel("r") == "running" and store.cancel_requested("r")
    assert store.request_cancel("missing") is None


def test_delete_keeps_running_runs(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    store.insert_runs([_run_row("done", "finished"), _run_row("live", "running")])
    store.write("done", {"run_metrics": [{"metric": "acc", "value": 1.0}]})
    store.delete_runs(["done", "live"])
    assert list(store.query("SELECT run_id FROM runs").run_id) == ["live"]
    assert store.query("SELECT count(*) AS n FROM run_metrics").n[0] == 0


def test_refuses_a_newer_or_an_invalid_schema_version(tmp_path):
    path = tmp_path / "new.duckdb"
    Store(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    newer = f"schema version {SCHEMA_VERSION + 1}, newer than .* \\(up to {SCHEMA_VERSION}\\)"
    with pytest.raises(BadInput, match=newer):
        Store(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(BadInput, match="no valid schema version"):
        Store(path)


def test_refuses_foreign_and_corrupt_files(tmp_path):
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(BadInput, match="not a results store"):
        Store(foreign)
    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BadInput, match="not a valid DuckDB database"):
        Store(corrupt)
    with pytest.raises(BadInput, match="does not exist"):
        Store(tmp_path / "missing-dir" / "s.duckdb")
    with pytest.raises(BadInput, match="is a directory"):
        Store(tmp_path)


# -- stress: several writer processes and a reader polling, on one file ---------------------------
N_WRITERS, BATCHES, ROWS = 4, 25, 40


def _writer(path: str, wid: int) -> None:
    store = Store(path)
    run_id = f"w{wid}"
    store.insert_runs([_run_row(run_id)])
    for b in range(BATCHES):
        rows = [{"point": b, "kind": "dense", "trained_exp": 0, "iteration": b, "test_exp": i, "accuracy": 0.5,
                 "loss": 0.1, "n": 1} for i in range(ROWS)]
        store.write(run_id, {"evaluations": rows}, {"iteration": b})
    store.update_run(run_id, status="finished")


def _reader(path: str, stop, out) -> None:
    store = Store(path)
    polls, errors, last = 0, 0, 0
    while not stop.is_set():
        try:
            n = int(store.query("SELECT count(*) AS n FROM evaluations").n[0])
            if n < last:  # rows never disappear
                errors += 1
            last = n
            polls += 1
        except Exception:
            errors += 1
        time.sleep(0.05)
    out.put((polls, errors))


@pytest.mark.slow
def test_concurrent_writers_and_reader_lose_nothing(tmp_path):
    path = str(tmp_path / "stress.duckdb")
    Store(path)
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_reader, args=(path, stop, out))
    reader.start()
    writers = [ctx.Process(target=_writer, args=(path, w)) for w in range(N_WRITERS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    stop.set()
    polls, errors = out.get(timeout=30)
    reader.join(10)
    store = Store(path)
    counts = store.query("SELECT run_id, count(*) AS n, count(DISTINCT point * 1000 + test_exp) AS u "
                         "FROM evaluations GROUP BY run_id ORDER BY run_id")
    assert list(counts.n) == [BATCHES * ROWS] * N_WRITERS  # no lost row
    assert list(counts.u) == [BATCHES * ROWS] * N_WRITERS  # no duplicated row
    assert set(store.query("SELECT status FROM runs").status) == {"finished"}
    assert errors == 0 and polls > 5
