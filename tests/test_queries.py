"""The app's read queries (bench.queries) and lesson matching, on stores filled with hand-written rows."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from bench import lessons
from bench.execute import jobs
from bench.registry import validate
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train import metrics


def add_run(store: Store, *, run_id: str, R, strategy: str = "naive", seed: int = 0, sweep_id: str | None = None,
            status: str = "finished", scenario: str = "class", params: dict | None = None, epochs: int = 1,
            metrics_: dict | None = None, dense_every: int = 0, iters_per_exp: int = 10, finished_at=None) -> str:
    """A run whose 'end' rows are the matrix R (one row per trained experience; a single row = joint training)."""
    R = np.asarray(R, dtype=float)
    T = R.shape[1]
    cfg = RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy, params=params or {},
                    epochs=epochs, seed=seed)
    now = time.time()
    store.insert_runs([{
        "run_id": run_id, "group_id": cfg.group_key(), "sweep_id": sweep_id, "benchmark": cfg.benchmark,
        "scenario": scenario, "strategy": strategy, "family": "baselines", "seed": seed, "config_json": cfg.to_json(),
        "status": status, "created_at": now, "started_at": now, "n_experiences": T,
        "finished_at": finished_at if finished_at is not None else (now if status == "finished" else None),
    }])
    evals, recall = [], []
    point = 0
    for j in range(T):
        evals.append(dict(point=0, kind="initial", trained_exp=-1, iteration=0, test_exp=j, accuracy=0.1,
                          loss=2.0, n=10))
    first = T - R.shape[0]  # joint training: its single row is the last experience
    for i, row in enumerate(R):
        trained = first + i
        if dense_every:
            for it in range(i * iters_per_exp + dense_every, (i + 1) * iters_per_exp, dense_every):
                point += 1
                for j in range(T):
                    evals.append(dict(point=point, kind="dense", trained_exp=trained, iteration=it, test_exp=j,
                                      accuracy=float(row[j]) / 2, loss=1.0, n=10))
        point += 1
        for j in range(T):
            evals.append(dict(point=point, kind="end", trained_exp=trained, iteration=(i + 1) * iters_per_exp,
                              test_exp=j, accuracy=float(row[j]), loss=1.0, n=10))
            recall.append(dict(point=point, test_exp=j, class_id=2 * j, correct=int(round(10 * row[j])), total=10))
            recall.append(dict(point=point, test_exp=j, class_id=2 * j + 1, correct=0, total=10))
    rows = {"evaluations": evals, "class_recall": recall,
            "run_metrics": [{"metric": k, "value": float(v)} for k, v in (metrics_ or {}).items()]}
    store.write(run_id, rows)
    return cfg.group_key()


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "q.duckdb")


def test_forgetting_by_experience_matches_bench_metrics(store):
    rng = np.random.RandomState(0)
    Rs = [np.tril(rng.uniform(0.2, 1.0, (4, 4))) for _ in range(3)]
    for seed, R in enumerate(Rs):
        group = add_run(store, run_id=f"r{seed}", R=R, seed=seed)
    got = q.forgetting_by_experience(store, ["r0", "r1", "r2"])
    expected = np.array([metrics.forgetting_per_experience(R)[:3] for R in Rs])
    assert list(got.group_id.unique()) == [group]
    assert list(got.test_exp) == [0, 1, 2]
    np.testing.assert_allclose(got["mean"], expected.mean(axis=0))
    np.testing.assert_allclose(got["std"], expected.std(axis=0, ddof=1))
    assert list(got.n) == [3, 3, 3]


def test_joint_training_has_a_one_row_matrix_and_no_forgetting_or_boundaries(store):
    add_run(store, run_id="j", strategy="joint", R=[[0.9, 0.8, 0.95]],
            metrics_={"acc": 0.883, "bwt": float("nan"), "forgetting": float("nan")})
    mats = q.matrices(store, ["j"])
    assert list(mats.trained_exp.unique()) == [2] and list(mats.test_exp) == [0, 1, 2]
    assert q.forgetting_by_experience(store, ["j"]).empty
    assert q.boundaries(store, ["j"]).empty
    summ = q.summary(store, ["j"])
    assert list(summ.metric) == ["acc"]  # NaN metrics are left out, not averaged into NaN


def test_summary_is_mean_and_sample_std_over_seeds(store):
    add_run(store, run_id="a", R=np.eye(2), seed=0, metrics_={"acc": 0.5, "time_s": 2.0})
    add_run(store, run_id="b", R=np.eye(2), seed=1, metrics_={"acc": 0.7, "time_s": 4.0})
    summ = q.summary(store, ["a", "b"]).set_index("metric")
    assert summ.loc["acc", "mean"] == pytest.approx(0.6)
    assert summ.loc["acc", "std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert summ.loc["time_s", "n"] == 2
    one = q.summary(store, ["a"]).set_index("metric")
    assert np.isnan(one.loc["acc", "std"])  # one seed: no spread, shown without ±


def test_retention_averages_seeds_keeps_end_points_and_thins_dense_ones(store):
    R = [[1.0, 0.0], [0.4, 0.8]]
    add_run(store, run_id="a", R=R, seed=0, dense_every=1, iters_per_exp=100)
    add_run(store, run_id="b", R=[[0.8, 0.0], [0.2, 0.6]], seed=1, dense_every=1, iters_per_exp=100)
    full = q.retention(store, ["a", "b"], max_points=1000)
    thin = q.retention(store, ["a", "b"], max_points=20)
    assert len(full) == 2 * 201  # iterations 0..200 for each of the two test sets
    assert len(thin) < 2 * 30
    end = thin[(thin.test_exp == 0) & (thin.iteration == 200)].iloc[0]
    assert end["mean"] == pytest.approx(0.3) and end["std"] == pytest.approx(np.std([0.4, 0.2], ddof=1))
    assert set(thin.iteration) >= {0, 100, 200}


def test_boundaries_are_the_ends_of_every_experience_but_the_last(store):
    add_run(store, run_id="a", R=np.eye(3), iters_per_exp=7)
    b = q.boundaries(store, ["a"])
    assert list(b.trained_exp) == [0, 1] and list(b.iteration) == [7, 14]


def test_class_recall_at_start_and_after_each_experience(store):
    add_run(store, run_id="a", R=[[1.0, 0.0], [0.5, 1.0]])
    rec = q.class_recall(store, ["a"])
    after_last = rec[rec.trained_exp == 1].set_index("class_id")
    assert after_last.loc[0, "recall"] == pytest.approx(0.5)
    assert after_last.loc[2, "recall"] == pytest.approx(1.0)
    assert after_last.loc[3, "recall"] == 0
    assert after_last.loc[2, "exp_of_class"] == 1
    assert rec.trained_exp.min() == 0  # the initial evaluation wrote no class rows here


def test_latest_comparison_prefers_the_sweep_of_the_last_finished_run(store):
    assert q.latest_comparison(store) == []
    old = add_run(store, run_id="old", R=np.eye(2), strategy="naive", finished_at=1.0)
    g1 = add_run(store, run_id="s1", R=np.eye(2), strategy="naive", sweep_id="sw", epochs=2, finished_at=5.0)
    g2 = add_run(store, run_id="s2", R=np.eye(2), strategy="replay", sweep_id="sw", finished_at=6.0)
    add_run(store, run_id="q", R=np.eye(2), strategy="ewc", sweep_id="sw", status="queued")
    assert set(q.latest_comparison(store)) == {g1, g2}
    add_run(store, run_id="new", R=np.eye(2), strategy="lwf", finished_at=9.0)
    assert old in q.latest_comparison(store)  # no sweep: the latest groups of the same stream and scenario


def test_resolve_selection_reports_unknown_ids(store):
    g = add_run(store, run_id="a", R=np.eye(2), seed=0)
    add_run(store, run_id="b", R=np.eye(2), seed=1)
    sel, unknown = q.resolve_selection(store, group_ids=[g, "nope"], run_ids=["b", "<script>"])
    assert sorted(sel.run_id) == ["a", "b"] and unknown == ["nope", "<script>"]


def test_run_overview_progress_and_estimate(store):
    add_run(store, run_id="r", R=np.eye(2), status="running")
    now = time.time()
    store.update_run("r", started_at=now - 10, iteration=5, est_iterations=10, current_exp=0)
    add_run(store, run_id="qd", R=np.eye(2), status="queued")
    store.update_run("qd", started_at=None)
    df = q.run_overview(store, now=now).set_index("run_id")
    assert df.loc["r", "progress"] == pytest.approx(0.5)
    assert df.loc["r", "eta_s"] == pytest.approx(10.0)
    assert df.loc["qd", "progress"] == 0 and np.isnan(df.loc["qd", "eta_s"])
    assert q.status_counts(store) == {"running": 1, "queued": 1}


def test_groups_and_group_param(store):
    g = add_run(store, run_id="a", R=np.eye(2), strategy="replay", params={"mem_size": 50}, seed=0)
    add_run(store, run_id="b", R=np.eye(2), strategy="replay", params={"mem_size": 50}, seed=1, status="failed")
    row = q.groups(store).set_index("group_id").loc[g]
    assert row.n_runs == 2 and row.n_finished == 1 and list(row.seeds) == [0, 1]
    assert json.loads(row.config_json)["params"] == {"mem_size": 50}
    assert q.group_param(store, ["a"], "mem_size").value.tolist() == [50.0]


def test_run_rows_only_reads_known_tables(store):
    add_run(store, run_id="a", R=np.eye(2))
    assert len(q.run_rows(store, "a", "evaluations")) == 2 + 4
    with pytest.raises(ValueError):
        q.run_rows(store, "a", "runs; DROP TABLE runs")


# -- lessons reuse finished runs with the same config ----------------------------------------------------------
def _insert(store: Store, cfg: RunConfig, *, status: str, run_id: str) -> None:
    cfg = validate(cfg)
    store.insert_runs([{"run_id": run_id, "group_id": cfg.group_key(), "benchmark": cfg.benchmark,
                        "scenario": cfg.scenario, "strategy": cfg.strategy, "seed": cfg.seed,
                        "config_json": cfg.to_json(), "status": status, "created_at": time.time()}])


def test_lesson_plan_matches_on_config_key(store):
    lesson = lessons.get_lesson("forgetting")
    first, second = lesson.configs[0], lesson.configs[1]
    _insert(store, first, status="finished", run_id="done")
    _insert(store, second, status="failed", run_id="broken")  # failed runs are run again
    _insert(store, RunConfig(**{**first.to_dict(), "epochs": 7}), status="finished", run_id="other")
    plan = lessons.plan(lesson, store)
    assert plan.run_ids == ["done"]
    assert len(plan.missing) == len(lesson.configs) - 1
    assert validate(second).config_key() in {c.config_key() for c in plan.missing}


def test_lesson_start_queues_only_the_missing_runs(store, monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "ensure_pool", lambda s, **kw: started.append(s.path) or {"pid": 1})
    lesson = lessons.get_lesson("forgetting")
    _insert(store, lesson.configs[0], status="finished", run_id="done")
    ids = lessons.start(lesson, store)
    assert len(ids) == len(lesson.configs) and "done" in ids
    assert q.status_counts(store) == {"finished": 1, "queued": len(lesson.configs) - 1}
    assert started == [store.path]
    assert lessons.start(lesson, store) == ids and len(started) == 1  # nothing left to run


def test_every_lesson_config_is_valid_and_the_demo_is_small():
    for lesson in (lessons.DEMO, *lessons.LESSONS):
        keys = {validate(c).config_key() for c in lesson.configs}
        assert len(keys) == len(lesson.configs)
    assert len(lessons.LESSONS) >= 3 and len(lessons.DEMO.configs) <= 8
