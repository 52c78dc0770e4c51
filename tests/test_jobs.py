"""The background job system: a detached warm pool, cancel, a worker killed mid-run, restart safety."""
import os
import signal
import time

import pytest

from bench.execute import jobs
from bench.results.store import Store
from bench.spec.config import RunConfig

pytestmark = pytest.mark.slow

# max_resumes=0: a killed worker's run stays interrupted here (tests/test_resume.py shows it resumed otherwise)
QUICK = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1, max_resumes=0)
LONG = RunConfig(benchmark="split-mnist-lite", scenario="class", strategy="naive", epochs=200, eval_every=500,
                 max_resumes=0)


def wait_status(store, run_id, wanted, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = store.run_row(run_id)
        if row["status"] in wanted:
            return row
        time.sleep(0.2)
    raise AssertionError(f"{run_id} stayed {row['status']}, wanted {wanted}")


@pytest.fixture
def pool_store(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    yield store
    jobs.stop_pool(store)


def test_pool_runs_queued_jobs_cancels_and_survives_a_killed_worker(pool_store):
    store = pool_store
    info = jobs.ensure_pool(store, workers=2)
    assert jobs.ensure_pool(store)["pid"] == info["pid"]  # one pool per store, shared
    long_a, long_b = jobs.submit([LONG, LONG.with_seed(1)], store=store)
    row_a = wait_status(store, long_a, {"running"})
    wait_status(store, long_b, {"running"})
    # cancel stops exactly that run
    assert jobs.cancel(store, long_a) == "running"
    assert wait_status(store, long_a, {"cancelled"})["status"] == "cancelled"
    # kill the worker that runs long_b: marked interrupted, its rows stay, the pool replaces the worker
    time.sleep(2.5)  # let it flush some rows
    pid_b = int(store.run_row(long_b)["worker_pid"])
    os.kill(pid_b, signal.SIGKILL)
    row_b = wait_status(store, long_b, {"interrupted"})
    assert "died" in row_b["error"]
    assert store.query("SELECT count(*) AS n FROM evaluations WHERE run_id = ?", [long_b]).n[0] > 0
    # the other work goes on: fresh runs finish on the (replaced) workers
    quick = jobs.submit([QUICK, QUICK.with_seed(1), QUICK.with_seed(2)], store=store)
    status = jobs.wait(store, quick, timeout=180)
    assert set(status.values()) == {"finished"}
    assert row_a["worker_pid"] != pid_b


def test_queued_runs_survive_without_a_pool_and_reap_marks_dead_runs(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    queued = jobs.submit([QUICK], store=store)
    assert jobs.cancel(store, queued[0]) == "cancelled"
    (rid,) = jobs.submit([QUICK.with_seed(5)], store=store)
    # a run claimed by a process that no longer exists is shown as interrupted, never running forever
    job = store.claim_next(host=os.uname().nodename, pid=2**22 + 12345)
    assert job["run_id"] == rid
    assert jobs.reap(store) == 1
    assert store.run_row(rid)["status"] == "interrupted"


def test_submit_is_all_or_nothing(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    bad = RunConfig(benchmark="split-digits", scenario="task", strategy="der")
    with pytest.raises(Exception, match="does not support"):
        jobs.submit([QUICK, bad], store=store)
    assert store.query("SELECT count(*) AS n FROM runs").n[0] == 0
