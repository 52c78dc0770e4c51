"""What a trial needs of the runner: the run setting first_experiences (a trial of the first-experiences protocol is
the whole-stream run cut after K experiences) and the end-of-experience callback the objective is reported from."""
from __future__ import annotations

import numpy as np
import pytest

from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.recorder import RunCancelled
from bench.train.runner import run

CFG = dict(benchmark="split-digits", scenario="class", strategy="ewc", epochs=1, val_fraction=0.1, seed=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("first") / "s.duckdb")
    calls: list = []
    whole = run(RunConfig(**CFG), store=store)
    cut = run(RunConfig(**CFG, first_experiences=2), store=store,
              on_experience=lambda exp, accs: calls.append((exp, {k: list(v) for k, v in accs.items()})))
    assert whole["status"] == cut["status"] == "finished"
    return store, whole, cut, calls


def test_a_run_on_the_first_k_experiences_is_the_whole_run_cut_after_k(runs):
    store, whole, cut, _ = runs
    R, R_cut = np.array(whole["accuracy_matrix"]), np.array(cut["accuracy_matrix"])
    assert R.shape == (5, 5) and R_cut.shape == (2, 2)
    assert np.array_equal(R_cut, R[:2, :2])  # same data, order, split and training for the first two experiences
    assert np.array_equal(np.array(cut["val_accuracy_matrix"]), np.array(whole["val_accuracy_matrix"])[:2, :2])
    assert cut["val_metrics"]["acc"] == pytest.approx(np.mean(R_val := np.array(cut["val_accuracy_matrix"])[-1]))
    assert R_val.shape == (2,)
    row = store.run_row(cut["run_id"])
    assert row["n_experiences"] == 2 and row["group_id"] != store.run_row(whole["run_id"])["group_id"]
    assert q.curve(store, cut["run_id"]).test_exp.max() == 1  # nothing of the later experiences is evaluated


def test_the_callback_hears_every_end_of_experience_evaluation(runs):
    _, _, cut, calls = runs
    assert [c[0] for c in calls] == [0, 1]
    for exp, accs in calls:
        assert accs["test"] == cut["accuracy_matrix"][exp]
        assert accs["val"] == cut["val_accuracy_matrix"][exp]


def test_raising_run_cancelled_from_the_callback_cancels_the_run_and_keeps_its_rows(tmp_path):
    store = Store(tmp_path / "s.duckdb")

    def stop(exp, accs):
        raise RunCancelled("stopped")

    result = run(RunConfig(**CFG), store=store, on_experience=stop)
    assert result["status"] == "cancelled"
    ends = q.end_evaluations(store, [result["run_id"]])
    assert set(ends[ends.kind == "end"].trained_exp) == {0}  # the first experience's row was kept
