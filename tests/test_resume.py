"""Interrupted runs resume: a worker SIGKILLed in the middle of a multi-experience run (local pool, `python -m bench
run`, a lost Ray task) is queued again and resumes from its last checkpoint, and its stored rows end equal to an
uninterrupted run's; the store tells the story honestly (statuses, the resume log, what was restored)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from apphelp import open_app

from bench.execute import jobs, resume
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.spec.status import Status
from bench.train.runner import run

# Long enough to be killed mid-experience (about a second per experience here), dense rows every 10 iterations.
LONG = RunConfig(benchmark="split-digits", scenario="class", strategy="replay", epochs=40, eval_every=10)
ROW_ORDER = {"evaluations": "point, split, test_exp", "class_recall": "point, split, test_exp, class_id",
             "train_curve": "iteration", "probes": "point, test_exp, measure"}


def _rows(store: Store, run_id: str) -> dict:
    return {t: store.query(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? ORDER BY {o}", [run_id])
            for t, o in ROW_ORDER.items()}


def _assert_same_rows(store: Store, resumed: str, reference: str) -> None:
    mine, theirs = _rows(store, resumed), _rows(store, reference)
    for table in ROW_ORDER:
        assert len(mine[table]) == len(theirs[table]), table  # nothing of the partly trained experience twice
        assert mine[table].equals(theirs[table]), table
    assert q.accuracy_matrix(store, resumed).tolist() == q.accuracy_matrix(store, reference).tolist()
    a, b = (q.run_result(store, r)["metrics"] for r in (resumed, reference))
    measured = {"time_s", "train_time_s", "peak_memory_mb"}
    assert {k: v for k, v in a.items() if k not in measured} == {k: v for k, v in b.items() if k not in measured}


def _kill_mid_experience(store: Store, run_id: str, pid_of, timeout: float = 300) -> int:
    """Wait until the run has a checkpoint and has written rows of a later experience, then SIGKILL its process;
    returns the experience of the checkpoint it had."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exp = store.checkpoint_sink(run_id).latest_exp()
        if exp is not None:
            later = store.query("SELECT count(*) AS n FROM evaluations WHERE run_id = ? AND trained_exp > ?",
                                [run_id, exp]).n[0]
            if later:
                os.kill(pid_of(), signal.SIGKILL)
                return exp
        time.sleep(0.05)
    raise AssertionError("the run never got a checkpoint and rows after it")


# -- the store's story ---------------------------------------------------------------------------------------
def _one_run(store: Store, cfg: RunConfig = LONG) -> str:
    (run_id,) = jobs.submit([cfg], store=store)
    return run_id


def test_truncate_deletes_exactly_the_rows_after_the_cut(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    rid = _one_run(store)
    store.write(rid, {
        "evaluations": [{"point": p, "kind": "dense", "trained_exp": 0, "iteration": 10 * p, "test_exp": 0,
                         "accuracy": 0.5, "loss": 1.0, "n": 3, "split": "test"} for p in range(6)],
        "class_recall": [{"point": p, "test_exp": 0, "class_id": 1, "correct": 1, "total": 2, "split": "test"}
                         for p in range(6)],
        "train_curve": [{"iteration": i, "trained_exp": 0, "epoch": 0, "loss": 1.0, "accuracy": 0.5, "n": 8}
                        for i in (5, 10, 15, 20, 25)]})
    store.truncate_run(rid, point=3, iteration=20)
    assert list(store.query("SELECT point FROM evaluations ORDER BY point").point) == [0, 1, 2]
    assert list(store.query("SELECT point FROM class_recall ORDER BY point").point) == [0, 1, 2]
    assert list(store.query("SELECT iteration FROM train_curve ORDER BY iteration").iteration) == [5, 10, 15]


def test_a_crashed_run_is_queued_again_within_its_max_resumes_a_stopped_one_waits(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    rid = _one_run(store, replace(LONG, max_resumes=1))
    with pytest.raises(BadInput, match="only an interrupted run resumes"):
        resume.request(store, rid)  # queued: already on its way
    store.claim_next(host="h", pid=1)
    assert resume.interrupt(store, rid, "the worker process died (exit code -9)", crashed=True) == 2
    row = store.run_row(rid)
    assert row["status"] == Status.QUEUED and row["error"] is None
    log = q.run_resumes(store, [rid])
    assert log[["attempt", "requested_by", "reason"]].values.tolist() == [
        [2, "auto", "the worker process died (exit code -9)"]]
    assert log.checkpoint_exp.isna().all()  # it had none
    store.claim_next(host="h", pid=2)
    assert resume.interrupt(store, rid, "the worker process died (exit code -9)", crashed=True) is None  # 1 used
    assert store.run_row(rid)["status"] == Status.INTERRUPTED
    assert resume.request(store, rid) == 3  # by hand it still can
    assert q.run_resumes(store, [rid]).requested_by.tolist() == ["auto", "user"]
    job = store.claim_next(host="h", pid=3)
    assert job["run_id"] == rid and job["resume"] is True  # the worker knows to resume it
    assert resume.interrupt(store, rid, "the worker pool was stopped", crashed=False) is None
    assert store.run_row(rid)["status"] == Status.INTERRUPTED  # stopped, not crashed: it waits to be asked
    store.update_run(rid, status=Status.FINISHED)
    with pytest.raises(BadInput, match="is finished: only an interrupted run resumes"):
        resume.request(store, rid)


def test_reap_queues_a_run_whose_process_vanished(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    rid = _one_run(store)
    store.claim_next(host=os.uname().nodename, pid=2**22 + 4321)  # a process that does not exist
    assert jobs.reap(store) == 1
    assert store.run_row(rid)["status"] == Status.QUEUED
    assert q.run_resumes(store, [rid]).requested_by.tolist() == ["auto"]


def test_a_run_without_a_checkpoint_resumes_by_starting_over_with_its_old_rows_gone(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1)
    rid = _one_run(store, cfg)
    store.claim_next(host="h", pid=1)
    store.write(rid, {"evaluations": [{"point": 0, "kind": "initial", "trained_exp": -1, "iteration": 0,
                                       "test_exp": 0, "accuracy": 0.123, "loss": 9.0, "n": 1, "split": "test"}]})
    resume.interrupt(store, rid, "the worker process died (exit code -9)", crashed=True)
    job = store.claim_next(host="h", pid=2)
    run(RunConfig.from_dict(job["config"]), store=store, run_id=rid, resume=job["resume"])
    reference = run(cfg, store=store)["run_id"]
    _assert_same_rows(store, rid, reference)
    assert store.run_row(rid)["resumed_from_exp"] == -1


# -- killed for real ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_worker_killed_mid_run_is_resumed_and_its_rows_equal_an_uninterrupted_run(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    rid = _one_run(store)
    ended: list = []
    sweep = threading.Thread(target=lambda: ended.extend(jobs.run_local(store, [rid], workers=1)))
    sweep.start()
    exp = _kill_mid_experience(store, rid, lambda: int(store.run_row(rid)["worker_pid"]))
    sweep.join(600)
    assert ended == [rid] and store.run_row(rid)["status"] == Status.FINISHED
    log = q.run_resumes(store, [rid])
    assert log.requested_by.tolist() == ["auto"] and "died (exit code -9)" in log.reason[0]
    restored = store.run_row(rid)["resumed_from_exp"]
    assert restored == log.checkpoint_exp[0] >= exp  # it went on from the checkpoint it had when it was killed
    reference = run(LONG, store=store)["run_id"]
    _assert_same_rows(store, rid, reference)
    assert not store.checkpoint_sink(rid).dir.exists()  # keep_checkpoints=none: pruned when it finished


@pytest.mark.slow
def test_a_killed_cli_run_resumes_with_python_m_bench_resume(tmp_path, capsys):
    from bench.cli import main

    path = tmp_path / "s.duckdb"
    store = Store(path)
    argv = ["--benchmark", "split-digits", "--scenario", "class", "--strategy", "ewc", "--epochs", "40",
            "--eval-every", "10", "--keep-checkpoints", "last", "--store", str(path), "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while store.query("SELECT count(*) AS n FROM runs").n[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    rid = store.query("SELECT run_id FROM runs").run_id[0]
    _kill_mid_experience(store, rid, lambda: proc.pid)
    proc.wait()
    assert main(["resume", rid, "--store", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["run_id"] == rid and out["status"] == Status.FINISHED and out["resumed_from_exp"] >= 0
    assert main(["resume", rid, "--store", str(path)]) == 2  # finished: nothing to resume
    cfg = RunConfig.from_json(store.run_row(rid)["config_json"])
    reference = run(cfg, store=store)["run_id"]
    _assert_same_rows(store, rid, reference)
    assert [k for k, _ in store.checkpoint_sink(rid).files()] == [4]  # keep_checkpoints=last


@pytest.mark.slow
def test_a_lost_ray_task_is_resumed_from_its_checkpoint(tmp_path):
    ray = pytest.importorskip("ray")
    from bench.execute.ray_cluster import RayDriver, init

    init(num_cpus=2)
    try:
        store = Store(tmp_path / "ray.duckdb")
        rid = _one_run(store)
        driver = RayDriver(store)
        assert driver.submit(rid)
        ended, deadline, exp = [], time.monotonic() + 600, None
        while time.monotonic() < deadline and not ended:
            ended += driver.step()
            if exp is None and store.checkpoint_sink(rid).latest_exp() is not None:
                later = store.query("SELECT count(*) AS n FROM evaluations WHERE run_id = ? AND trained_exp > ?",
                                    [rid, store.checkpoint_sink(rid).latest_exp()]).n[0]
                if later:  # the task's worker process is killed, as on a lost node
                    exp = store.checkpoint_sink(rid).latest_exp()
                    ray.cancel(next(iter(driver.refs)), force=True)
            if exp is not None and not driver.refs:
                for queued in store.queued([rid]):  # what run_ray and the pool daemon do with a lost task
                    driver.submit(queued)
        driver.close()
        assert ended == [rid] and store.run_row(rid)["status"] == Status.FINISHED
        log = q.run_resumes(store, [rid])
        assert log.requested_by.tolist() == ["auto"] and "Ray task was lost" in log.reason[0]
        assert store.run_row(rid)["resumed_from_exp"] >= exp
        reference = run(LONG, store=store)["run_id"]
        _assert_same_rows(store, rid, reference)
    finally:
        ray.shutdown()


# -- the pages -----------------------------------------------------------------------------------------------
@pytest.fixture
def interrupted_store(tmp_path, monkeypatch):
    """A finished run that kept its last checkpoint and a run interrupted after experience 2 (its checkpoint copied
    from the finished one's), selected as the app's store."""
    path = tmp_path / "s.duckdb"
    store = Store(path)
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1, keep_checkpoints="all")
    done = run(cfg, store=store)["run_id"]
    rid = _one_run(store, cfg)
    store.claim_next(host="h", pid=1)
    store.checkpoint_sink(rid).save(2, (store.checkpoint_sink(done).dir / "exp2.pt").read_bytes())
    resume.interrupt(store, rid, "the worker pool was stopped", crashed=False)
    monkeypatch.setenv("BENCH_STORE", str(path))
    return store, done, rid


@pytest.mark.usefixtures("fresh_streamlit")
def test_run_detail_shows_checkpoint_disk_use_and_resumes_an_interrupted_run(interrupted_store, no_pool):
    store, done, rid = interrupted_store
    at = open_app("pages/run_detail.py", {"id": done})
    size = resume.checkpoints(store, done)["bytes"]
    assert any(e.label.startswith("Checkpoints and resumes") and f"{size / 2**20:.1f} MB" in e.label
               for e in at.expander)
    assert any("after experience 5" in c.value for c in at.caption)
    assert any("keep_checkpoints = all: all are kept" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label == "Resume"]
    at = open_app("pages/run_detail.py", {"id": rid})
    assert any("Resuming goes on after experience 3" in c.value for c in at.caption)
    [button] = [b for b in at.button if b.label == "Resume"]
    button.click().run()
    assert store.run_row(rid)["status"] == Status.QUEUED and no_pool == [store.path]
    assert q.run_resumes(store, [rid]).requested_by.tolist() == ["user"]


@pytest.mark.usefixtures("fresh_streamlit")
def test_runs_page_offers_to_resume_the_interrupted_runs(interrupted_store, no_pool):
    store, _, rid = interrupted_store
    at = open_app("pages/runs.py")
    assert any("1 interrupted run can resume from its last checkpoint" in c.value for c in at.caption)
    [button] = [b for b in at.button if b.label == "Resume 1"]
    button.click().run()
    assert store.run_row(rid)["status"] == Status.QUEUED and no_pool == [store.path]
