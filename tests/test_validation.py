"""The validation split (val_fraction): held out of each experience's training data, seeded and stratified,
evaluated like the test sets at every point, reported beside them in the run JSON and the store, and the metrics
of both splits equal to the pure functions applied to the stored dense curves."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench.benchmarks import get_benchmark
from bench.benchmarks.validation import held_out_indices, hold_out
from bench.cli import main
from bench.registry import validate
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.train import metrics
from bench.train.runner import run


def _stream(seed: int = 0):
    return get_benchmark("split-digits").build({"n_experiences": 5, "class_order": "seeded"}, "class", seed=seed)


def test_the_hold_out_is_stratified_disjoint_seeded_and_leaves_the_test_sets_alone():
    base = _stream()
    split = hold_out(base, 0.2, seed=0)
    for e0, e in zip(base.experiences, split.experiences, strict=True):
        assert len(e.train_y) + len(e.val_y) == len(e0.train_y)
        for c in e0.classes:  # round(n_c * 0.2) of every class
            n_c = int((e0.train_cls == c).sum())
            assert int((e.val_cls == c).sum()) == int(np.floor(n_c * 0.2 + 0.5))
        # every held-out sample is a training sample that is no longer trained on (rows as tuples, digits repeat
        # rarely, so compare multisets)
        rows = lambda x: sorted(map(tuple, x.reshape(len(x), -1).tolist()))  # noqa: E731
        assert rows(np.concatenate([e.train_x.numpy(), e.val_x.numpy()])) == rows(e0.train_x.numpy())
        assert e.test_x.data_ptr() == e0.test_x.data_ptr()  # the very same test tensors
    again, other = hold_out(base, 0.2, seed=0), hold_out(base, 0.2, seed=1)
    assert all(np.array_equal(a.val_x, b.val_x) for a, b in zip(split.experiences, again.experiences, strict=True))
    assert not np.array_equal(split.experiences[0].val_x, other.experiences[0].val_x)
    assert hold_out(base, 0.0, seed=0) is base


def test_held_out_indices_keep_a_training_sample_of_every_class():
    rng = np.random.RandomState(0)
    idx = held_out_indices(np.array([0, 0, 1, 2, 2, 2]), 0.5, rng=rng)
    assert len(idx) == len(set(idx.tolist())) == 1 + 0 + 2  # round(1), a lone class keeps its sample, round(1.5)
    assert len(held_out_indices(np.array([0, 1, 1]), 0.1, rng=rng)) == 1  # tiny: one sample, of the largest class
    assert len(held_out_indices(np.array([0, 1, 2]), 0.1, rng=rng)) == 0  # nothing can be spared


def test_val_fraction_is_a_run_setting_refused_where_it_means_nothing():
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", val_fraction=0.1)
    assert validate(cfg).val_fraction == 0.1
    with pytest.raises(BadInput, match=r"run.val_fraction=0.9 is out of range"):
        validate(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", val_fraction=0.9))
    with pytest.raises(BadInput, match="does not apply to facts"):
        validate(RunConfig(benchmark="facts", scenario="domain", strategy="naive", val_fraction=0.1))
    # a run setting added later leaves the identity of runs without it as it was
    plain = RunConfig(benchmark="split-digits", scenario="class", strategy="naive")
    d = plain.to_dict()
    d.pop("val_fraction")
    assert RunConfig.from_dict(d).group_key() == plain.group_key() != cfg.group_key()


@pytest.fixture(scope="module")
def val_run(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("val") / "s.duckdb")
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="replay", epochs=1, val_fraction=0.1)
    result = run(cfg, store=store)
    assert result["status"] == "finished", result["error"]
    return store, result


def test_a_class_incremental_run_reports_both_splits_and_no_fwt(val_run):
    _, r = val_run
    m, v = r["metrics"], r["val_metrics"]
    assert m["fwt"] is None and v["fwt"] is None
    for key in ("acc", "forgetting", "forgetting_initial", "wc_acc", "min_acc", "anytime_acc"):
        assert isinstance(m[key], float) and isinstance(v[key], float), key
    assert np.array(r["val_accuracy_matrix"]).shape == np.array(r["accuracy_matrix"]).shape == (5, 5)
    assert v["acc"] == pytest.approx(np.mean(r["val_accuracy_matrix"][-1]))
    assert r["val_accuracy_matrix"] != r["accuracy_matrix"]
    json.dumps(r)  # null, never NaN


def test_every_metric_of_both_splits_is_that_of_the_stored_dense_curves(val_run):
    store, r = val_run
    back = q.run_result(store, r["run_id"])
    for split, key in (("test", "metrics"), ("val", "val_metrics")):
        R = q.accuracy_matrix(store, r["run_id"], split=split)
        curve = metrics.curve_from_rows(q.curve(store, r["run_id"], split=split))
        b = q.end_evaluations(store, [r["run_id"]], split=split).query("kind == 'initial'").accuracy.to_numpy()
        expected = metrics.summary(R, b, scenario="class", curve=curve)
        for name, value in expected.items():
            got = back[key][name]
            assert (got is None and np.isnan(value)) or got == pytest.approx(value, abs=1e-12), (split, name)
            if name in r[key]:
                assert r[key][name] == got or (got is None and r[key][name] is None)
        assert len(curve) > 5 * 5  # dense points, not only the ends
    assert back["val_accuracy_matrix"] == r["val_accuracy_matrix"]


def test_validation_rows_are_recorded_like_test_rows(val_run):
    store, r = val_run
    rows = store.query("SELECT split, count(DISTINCT point) AS points, count(*) AS n, sum(n) AS samples "
                       "FROM evaluations WHERE run_id = ? AND test_exp = 0 GROUP BY split ORDER BY split",
                       [r["run_id"]]).set_index("split")
    assert rows.loc["val", "points"] == rows.loc["test", "points"]  # the same dense points
    recall = store.query("SELECT split, count(*) AS n FROM class_recall WHERE run_id = ? GROUP BY split",
                         [r["run_id"]]).set_index("split").n
    assert recall["val"] == recall["test"]
    # the chart queries read the test split only
    assert q.matrices(store, [r["run_id"]])["mean"].round(12).tolist() == pytest.approx(
        np.array(r["accuracy_matrix"]).ravel().tolist())
    test_points = q.curve(store, r["run_id"]).drop_duplicates(["test_exp", "iteration"])
    assert len(q.retention(store, [r["run_id"]], max_points=10**6)) == len(test_points)


def test_the_cli_run_with_a_validation_split_prints_both(tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    code = main(["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "naive", "--epochs", "1",
                 "--bench-param", "n_experiences=3", "--val-fraction", "0.1", "--store", str(store), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["metrics"]["fwt"] is None and isinstance(out["val_metrics"]["acc"], float)
    assert len(out["val_accuracy_matrix"]) == 3
    assert {"forgetting", "forgetting_initial", "wc_acc", "min_acc", "anytime_acc"} <= set(out["metrics"])


def test_a_sweep_reports_its_choice_made_on_validation(tmp_path):
    from test_queries import add_run

    from bench.cli.runs import best_on_validation

    store = Store(tmp_path / "s.duckdb")
    cfgs, ids = [], []
    for mem, val_acc, test_acc in ((50, 0.8, 0.7), (200, 0.6, 0.9)):  # best on test is not best on validation
        add_run(store, run_id=f"m{mem}", R=np.eye(2), strategy="replay", params={"mem_size": mem},
                metrics_={"acc": test_acc}, val_R=np.eye(2), val_metrics={"acc": val_acc})
        cfgs.append(RunConfig(benchmark="split-digits", scenario="class", strategy="replay", params={"mem_size": mem},
                              val_fraction=0.1))
        ids.append(f"m{mem}")
    (line,) = best_on_validation(store, ids, cfgs)
    assert line.startswith("chosen on validation (acc, among 2 settings): replay mem_size=50 ")
    assert "val 0.800, test (report) 0.700, 1 seed" in line
    plain = [RunConfig(**{**c.to_dict(), "val_fraction": 0.0}) for c in cfgs]
    assert "no validation split" in best_on_validation(store, ids, plain)[0]
    assert best_on_validation(store, ids[:1], cfgs[:1]) == []  # nothing swept, nothing to choose
