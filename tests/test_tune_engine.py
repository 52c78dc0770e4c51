"""`python -m bench tune` against a real local Ray instance: trials are ordinary runs written by the one writer, the
choice is made on validation only, the first-experiences protocol reports the whole-stream test ACC apart, ASHA's
stopped trials are cancelled runs never averaged with finished ones, TPE runs, and cancelling a trial stops the
search. One test is in the quick tier; the rest are slow."""
from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from bench.cli import main
from bench.execute import jobs
from bench.results import queries as q
from bench.results import tunes as T
from bench.results.store import Store
from bench.spec.status import TERMINAL, Status

ray = pytest.importorskip("ray")
DIGITS = ["--benchmark", "split-digits", "--scenario", "class", "--epochs", "1"]


@pytest.fixture(scope="module")
def local_ray():
    from bench.execute.ray_cluster import init

    init(num_cpus=2)
    yield
    ray.shutdown()


def tune(capsys, store, *args) -> list[dict]:
    code = main(["tune", *DIGITS, *args, "--store", str(store), "--json"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert code == 0, out
    return out


@pytest.mark.slow  # a local Ray instance and three trials: the slow tier (the engine has AppTests and unit tests)
def test_a_validation_search_chooses_on_validation_and_every_trial_is_a_finished_run(local_ray, tmp_path, capsys):
    store_path = tmp_path / "s.duckdb"
    # lr up to 0.03: with momentum 0.9 the default range's top (0.1) can diverge, and this test wants three finished
    # trials (a diverged trial is a failed run, tests/test_tune_runner.py); ewc_lambda: the registry's range
    (r,) = tune(capsys, store_path, "--strategy", "ewc", "--trials", "3", "--protocol", "validation",
                "--search", "lr=log 0.001 0.03 4", "--search", "ewc_lambda")
    store = Store(store_path)
    assert (r["status"], r["protocol"], r["objective"]) == (
        "finished", "validation", "validation ACC over the whole stream (5 experiences)")
    assert set(r["space"]) == {"lr", "ewc_lambda"} and len(r["trial_run_ids"]) == 3
    runs = q.runs(store, run_ids=r["trial_run_ids"])
    assert set(runs.status) == {Status.FINISHED} and set(runs.sweep_id) == {r["tune_id"]}
    scores = q.validation_scores(store, r["trial_run_ids"]).set_index("run_id")
    for t in r["trials"]:
        assert t["outcome"] == "finished" and t["experiences"] == 5
        assert t["objective"] == pytest.approx(scores.val[t["run_id"]])  # what Tune saw is the stored val ACC
        cfg = json.loads(runs.set_index("run_id").config_json[t["run_id"]])
        assert (cfg["val_fraction"], cfg["first_experiences"], cfg["seed"], cfg["epochs"]) == (0.1, 0, 0, 1)
        assert 0.001 <= cfg["lr"] <= 0.03 and 10 <= cfg["params"]["ewc_lambda"] <= 1000  # default 100
        assert {"lr": cfg["lr"], "ewc_lambda": cfg["params"]["ewc_lambda"]} == t["setting"]
    best = r["best"]
    assert best["run_id"] == scores.val.idxmax() and best["objective"] == pytest.approx(scores.val.max())
    assert best["test_acc"] == pytest.approx(scores.test[best["run_id"]])  # reported beside, not chosen on
    row = T.tune_row(store, r["tune_id"])
    assert row["best_run_id"] == best["run_id"] and row["trials"] == 3 and row["protocol"] == "validation"
    assert r["final"] is None  # validation: no whole-stream rerun unless --final-seeds asks


@pytest.mark.slow
def test_first_experiences_tunes_on_k_and_reports_the_whole_stream_apart(local_ray, tmp_path, capsys):
    store_path = tmp_path / "s.duckdb"
    (r,) = tune(capsys, store_path, "--strategy", "naive", "--trials", "2", "--protocol", "first-experiences",
                "--first", "2", "--final-seeds", "1")
    store = Store(store_path)
    assert r["objective"] == "validation ACC over the first 2 of 5 experiences"
    for run_id in r["trial_run_ids"]:
        assert np.array(q.accuracy_matrix(store, run_id)).shape == (2, 2)  # the trials saw two experiences
    scores = q.validation_scores(store, r["trial_run_ids"]).set_index("run_id")
    assert r["best"]["objective"] == pytest.approx(scores.val.max()) and "test_acc" not in r["best"]
    final = r["final"]
    assert final["seeds"] == [1] and final["n_finished"] == 1 and final["experiences"] == 5
    (whole,) = q.run_results(store, final["run_ids"])
    assert np.array(whole["accuracy_matrix"]).shape == (5, 5) and whole["seed"] == 1
    assert final["test_acc"] == pytest.approx(whole["metrics"]["acc"])  # the number to report, apart
    assert whole["params"] == {} and json.loads(store.run_row(whole["run_id"])["config_json"])["lr"] == \
        pytest.approx(r["best"]["setting"]["lr"])


@pytest.mark.slow
def test_asha_stops_a_bad_trial_at_an_experience_boundary_as_a_cancelled_run(local_ray, tmp_path, capsys):
    store_path = tmp_path / "s.duckdb"
    (r,) = tune(capsys, store_path, "--strategy", "naive", "--algorithm", "grid", "--search", "lr=0.1,0.00001",
                "--scheduler", "asha", "--asha-grace", "1", "--concurrency", "1")
    store = Store(store_path)
    good, bad = r["trials"]  # the grid in order, one at a time: the second meets the first at the rung
    # experiences: 1 when Tune passed the trial's report on before it stopped the trial (0 when it ended it first)
    assert (good["outcome"], bad["outcome"]) == ("finished", "stopped_early") and bad["experiences"] <= 1
    row = store.run_row(bad["run_id"])
    assert row["status"] == Status.CANCELLED
    assert re.match(r"stopped early by ASHA after experience [01] of 5", row["error"]), row["error"]
    ends = q.end_evaluations(store, [bad["run_id"]])
    # its first experience's rows, where they reached the store: a trial Tune stops through the cancel flag can be
    # ended before its last rows are relayed (the reason is still written, by the driver)
    assert set(ends[ends.kind == "end"].trained_exp) <= {0}
    assert q.with_results(store, r["trial_run_ids"]) == [good["run_id"]]  # never charted nor averaged
    assert r["best"]["run_id"] == good["run_id"] and r["budget"]["asha_rungs"] == [1, 2, 4]


@pytest.mark.slow
def test_tpe_with_asha_runs_through_ray_tunes_optuna_integration(local_ray, tmp_path, capsys):
    (r,) = tune(capsys, tmp_path / "s.duckdb", "--strategy", "ewc", "--algorithm", "tpe", "--trials", "4",
                "--scheduler", "asha")
    row = T.tune_row(Store(tmp_path / "s.duckdb"), r["tune_id"])
    assert row["algorithm"] == "tpe" and r["status"] == "finished" and len(r["trials"]) == 4
    assert all(t["outcome"] in ("finished", "stopped_early") for t in r["trials"])


@pytest.mark.slow
def test_cancelling_one_trial_stops_the_whole_search(tmp_path):
    """A search queued as the app queues it (a detached process), on trials long enough to cancel one midway."""
    from bench.execute.tune.request import make_request

    store = Store(tmp_path / "s.duckdb")
    req = make_request(benchmark="split-mnist-lite", scenario="class", strategy="naive", search={}, trials=6,
                       run={"epochs": 40}, concurrency=1)
    (tune_id,) = background_queue(store, req)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        trials = T.trials(store, tune_id)
        running = trials[(trials.status == Status.RUNNING)]
        if not running.empty and (store.run_row(running.run_id.iloc[0])["iteration"] or 0) > 0:
            assert jobs.cancel(store, running.run_id.iloc[0]) == Status.RUNNING
            break
        time.sleep(0.5)
    else:
        pytest.fail("no trial started training")
    wait_until_ended(store, tune_id, timeout=180)
    row, trials = T.tune_row(store, tune_id), T.trials(store, tune_id)
    assert row["status"] == Status.CANCELLED and row["best_run_id"] is None
    assert len(trials) < 6 and set(trials.status) <= set(TERMINAL)
    assert Status.CANCELLED in set(trials.status)


def background_queue(store, req) -> list[str]:
    from bench.execute.tune import background

    return background.queue(store, [req], workers=2)


def wait_until_ended(store, tune_id: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while T.tune_row(store, tune_id)["status"] in (Status.QUEUED, Status.RUNNING):
        assert time.monotonic() < deadline, "the search did not end"
        time.sleep(0.5)
