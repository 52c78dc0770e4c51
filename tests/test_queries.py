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
            metrics_: dict | None = None, dense_every: int = 0, iters_per_exp: int = 10, finished_at=None,
            val_R=None, val_metrics: dict | None = None, device: str | None = None) -> str:
    """A run whose 'end' rows are the matrix R (one row per trained experience; a single row = joint training);
    with `val_R`, also validation rows (split 'val') whose 'end' rows are val_R, and `val_metrics`."""
    R = np.asarray(R, dtype=float)
    T = R.shape[1]
    cfg = RunConfig(benchmark="split-digits", scenario=scenario, strategy=strategy, params=params or {},
                    epochs=epochs, seed=seed, val_fraction=0.1 if val_R is not None else 0.0)
    now = time.time()
    store.insert_runs([{
        "run_id": run_id, "group_id": cfg.group_key(), "sweep_id": sweep_id, "benchmark": cfg.benchmark,
        "scenario": scenario, "strategy": strategy, "family": "baselines", "seed": seed, "config_json": cfg.to_json(),
        "status": status, "created_at": now, "started_at": now, "n_experiences": T,
        "finished_at": finished_at if finished_at is not None else (now if status == "finished" else None),
        "device": device,
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
    if val_R is not None:  # validation rows at the end points, values of their own
        for i, row in enumerate(np.asarray(val_R, dtype=float)):
            for j in range(T):
                evals.append(dict(point=1000 + i, kind="end", trained_exp=first + i, iteration=(i + 1) * iters_per_exp,
                                  test_exp=j, accuracy=float(row[j]), loss=1.0, n=5, split="val"))
                recall.append(dict(point=1000 + i, test_exp=j, class_id=2 * j, correct=0, total=5, split="val"))
    evals = [{"split": "test", **e} for e in evals]
    recall = [{"split": "test", **r} for r in recall]
    rows = {"evaluations": evals, "class_recall": recall,
            "run_metrics": [{"metric": k, "value": float(v), "split": "test"} for k, v in (metrics_ or {}).items()]
            + [{"metric": k, "value": float(v), "split": "val"} for k, v in (val_metrics or {}).items()]}
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


def test_forgetting_by_experience_in_either_definition(store):
    R = [[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.6, 0.7, 0.9]]  # experience 0 rose after it was learned
    add_run(store, run_id="a", R=R)
    best = q.forgetting_by_experience(store, ["a"], definition="forgetting")
    initial = q.forgetting_by_experience(store, ["a"], definition="forgetting_initial")
    np.testing.assert_allclose(best["mean"], metrics.forgetting_per_experience(R)[:2])  # 0.3, 0.1
    np.testing.assert_allclose(initial["mean"], metrics.forgetting_initial_per_experience(R)[:2])  # -0.1, 0.1
    assert best["mean"].iloc[0] == pytest.approx(0.3) and initial["mean"].iloc[0] == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="unknown forgetting definition"):
        q.forgetting_by_experience(store, ["a"], definition="max")


def test_validation_rows_stay_out_of_the_test_queries_and_have_their_own(store):
    R, V = [[1.0, 0.0], [0.4, 0.8]], [[0.9, 0.0], [0.2, 0.7]]
    add_run(store, run_id="a", R=R, metrics_={"acc": 0.6}, val_R=V, val_metrics={"acc": 0.45})
    add_run(store, run_id="plain", R=R, metrics_={"acc": 0.6})
    test_only = [q.matrices, q.forgetting_by_experience, q.class_recall, q.boundaries]
    for f in test_only:
        a, b = f(store, ["a"]).drop(columns="group_id"), f(store, ["plain"]).drop(columns="group_id")
        assert a.equals(b), f.__name__
    assert q.retention(store, ["a"]).drop(columns="group_id").equals(
        q.retention(store, ["plain"]).drop(columns="group_id"))
    np.testing.assert_allclose(q.accuracy_matrix(store, "a", split="val"), V)
    np.testing.assert_allclose(q.matrices(store, ["a"], split="val")["mean"], np.ravel(V))
    assert q.summary(store, ["a"]).set_index("metric").loc["acc", "mean"] == pytest.approx(0.6)
    assert q.summary(store, ["a"], split="val").set_index("metric").loc["acc", "mean"] == pytest.approx(0.45)
    assert q.summary(store, ["plain"], split="val").empty
    assert q.run_overview(store).set_index("run_id").loc["a", "acc"] == pytest.approx(0.6)
    result = q.run_result(store, "a")
    assert result["metrics"]["acc"] == pytest.approx(0.6) and result["val_metrics"]["acc"] == pytest.approx(0.45)
    assert result["val_accuracy_matrix"] == V and q.run_result(store, "plain")["val_accuracy_matrix"] == []


def test_fwt_is_left_out_of_the_class_incremental_summary(store):
    add_run(store, run_id="c", R=np.eye(2), metrics_={"acc": 0.5, "fwt": -0.079})  # as an older release stored it
    add_run(store, run_id="t", R=np.eye(2), scenario="task", metrics_={"acc": 0.5, "fwt": 0.02})
    assert "fwt" not in set(q.summary(store, ["c"]).metric)
    assert q.summary(store, ["t"]).set_index("metric").loc["fwt", "mean"] == pytest.approx(0.02)
    assert q.run_result(store, "c")["metrics"]["fwt"] is None
    assert q.run_result(store, "t")["metrics"]["fwt"] == pytest.approx(0.02)


def test_settings_are_ranked_on_validation_never_on_test(store):
    # mem_size 100 is best on test, 200 on validation: the choice is 200, and 100's test number does not matter
    val = {50: (0.60, 0.62), 100: (0.70, 0.72), 200: (0.80, 0.78)}
    test = {50: (0.61, 0.63), 100: (0.90, 0.92), 200: (0.75, 0.77)}
    groups = {}
    for mem in (50, 100, 200):
        for seed in (0, 1):
            groups[mem] = add_run(store, run_id=f"m{mem}s{seed}", R=np.eye(2), strategy="replay", seed=seed,
                                  params={"mem_size": mem}, metrics_={"acc": test[mem][seed], "forgetting": 0.1},
                                  val_R=np.eye(2), val_metrics={"acc": val[mem][seed], "forgetting": mem / 1000})
    add_run(store, run_id="noval", R=np.eye(2), strategy="replay", params={"mem_size": 500}, metrics_={"acc": 0.99})
    add_run(store, run_id="naive", R=np.eye(2), metrics_={"acc": 0.2}, val_R=np.eye(2), val_metrics={"acc": 0.3})
    ids = [f"m{m}s{s}" for m in (50, 100, 200) for s in (0, 1)] + ["noval", "naive"]
    ranked = q.rank_on_validation(store, ids)
    replay = ranked[ranked.strategy == "replay"].set_index("group_id")
    assert len(replay) == 3  # the run without a validation split is not a candidate
    assert replay.loc[groups[200], "rank"] == 1 and replay.loc[groups[100], "rank"] == 2
    assert replay.loc[groups[200], "val_mean"] == pytest.approx(0.79)
    assert replay.loc[groups[200], "test_mean"] == pytest.approx(0.76)  # what is reported for the choice
    assert replay.loc[groups[200], "val_std"] == pytest.approx(np.std([0.80, 0.78], ddof=1))
    assert ranked[ranked.strategy == "naive"]["rank"].tolist() == [1]  # its own candidate set
    by_forgetting = q.rank_on_validation(store, ids, metric="forgetting").set_index("group_id")
    assert by_forgetting.loc[groups[50], "rank"] == 1  # lower is better
    scores = q.validation_scores(store, ids)
    assert len(scores) == 7 and set(scores.run_id) == set(ids) - {"noval"}
    row = scores.set_index("run_id").loc["m100s0"]
    assert row.val == pytest.approx(0.70) and row.test == pytest.approx(0.90)


def test_groups_name_the_devices_their_runs_ran_on(store):
    g = add_run(store, run_id="a", R=np.eye(2), device="cpu")
    add_run(store, run_id="b", R=np.eye(2), seed=1, device="cuda:0")
    add_run(store, run_id="c", R=np.eye(2), seed=2, device=None, status="queued")
    row = q.groups(store, group_ids=[g]).iloc[0]
    assert list(row.devices) == ["cpu", "cuda:0"]


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
