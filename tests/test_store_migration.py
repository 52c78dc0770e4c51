"""A store written by the first release (schema 1, tests/fixtures/store_v1.db) opens with this version: it is
migrated in place, every old row reads back unchanged, and the app's queries work on it. Also: a migrated store
has the schema of a fresh one, a failed migration leaves the store as it was, a newer store is refused in one
line, and adding a migration is one function."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from bench import lessons
from bench.results import migrations
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.train import metrics

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1.db"
V1_TABLES = ("meta", "runs", "evaluations", "class_recall", "train_curve", "probes", "run_metrics")
V1_COUNTS = {"runs": 16, "evaluations": 2080, "class_recall": 6680, "train_curve": 629, "probes": 168,
             "run_metrics": 221}  # as tests/fixtures/README.md lists them


def _snapshot(path: Path) -> dict[str, pd.DataFrame]:
    """Every row of every version-1 table, read with DuckDB alone, in a stable order."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for t in V1_TABLES:
            df = con.execute(f"SELECT * FROM {t}").df()
            out[t] = df.sort_values(list(df.columns)).reset_index(drop=True)
        return out
    finally:
        con.close()


def _old_columns(store: Store, table: str, columns: list[str]) -> pd.DataFrame:
    df = store.query(f"SELECT {', '.join(columns)} FROM {table}")
    return df.sort_values(columns).reset_index(drop=True)


def _schema(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.query(
        "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
        "ORDER BY table_name, column_name").itertuples(index=False)]


@pytest.fixture
def old(tmp_path) -> Path:
    path = tmp_path / "old.duckdb"
    shutil.copy(FIXTURE, path)
    return path


def test_the_fixture_is_a_version_1_store_as_documented(old):
    before = _snapshot(old)
    assert before["meta"].to_dict("records") == [{"key": "schema_version", "value": "1"}]
    assert {t: len(before[t]) for t in V1_COUNTS} == V1_COUNTS


def test_an_old_store_is_migrated_and_every_old_row_reads_back_unchanged(old):
    before = _snapshot(old)
    store = Store(old)
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'").value[0] == str(migrations.latest())
    assert list(store.query("SELECT version FROM migrations ORDER BY version").version) == list(
        range(2, migrations.latest() + 1))
    for t in V1_TABLES[1:]:
        cols = list(before[t].columns)
        after = _old_columns(store, t, cols)
        if t == "run_metrics":  # old rows all there; the rest are the metrics added in version 2, computed
            merged = after.merge(before[t], how="left", indicator=True)
            assert set(merged[merged._merge == "left_only"].metric) <= set(migrations._V2_BACKFILLED)
            after = merged[merged._merge == "both"].drop(columns="_merge").reset_index(drop=True)
        pd.testing.assert_frame_equal(after, before[t], check_dtype=False)
    # every old row is a test row
    for t in ("evaluations", "class_recall", "run_metrics"):
        assert set(store.query(f"SELECT DISTINCT split FROM {t}").split) == {"test"}
    # opening again changes nothing
    Store(old)
    assert len(store.query("SELECT * FROM migrations")) == migrations.latest() - 1


def test_a_migrated_store_has_the_schema_of_a_fresh_one(old, tmp_path):
    assert _schema(Store(old)) == _schema(Store(tmp_path / "fresh.duckdb"))


def test_the_backfilled_metrics_are_those_of_the_stored_rows(old):
    store = Store(old)
    finished = q.runs(store).query("status == 'finished'")
    checked = 0
    for run_id in finished.run_id:
        m = q.run_metrics(store, [run_id])
        stored = dict(zip(m.metric, m.value, strict=True))
        R = q.accuracy_matrix(store, run_id)
        if R.shape[0] == 1:  # joint training: no sequence, nothing backfilled
            assert not set(migrations._V2_BACKFILLED) & set(stored)
            continue
        curve = metrics.curve_from_rows(q.curve(store, run_id))
        assert stored["forgetting_initial"] == pytest.approx(metrics.forgetting_initial(R))
        assert stored["forgetting_initial"] == pytest.approx(-stored["bwt"])  # the old BWT row agrees
        assert stored["min_acc"] == pytest.approx(metrics.min_accuracy(curve, R.shape[0]))
        assert stored["wc_acc"] == pytest.approx(metrics.worst_case_accuracy(curve, R.shape[0]))
        assert stored["anytime_acc"] == pytest.approx(metrics.anytime_accuracy(curve))
        checked += 1
    assert checked == 11  # 13 finished runs, 2 of them joint


def test_the_app_reads_a_migrated_store(old):
    store = Store(old)
    runs = q.runs(store)
    naive = runs.query("strategy == 'naive' and scenario == 'class' and seed == 0").iloc[0]
    # a run's identity is unchanged: the group id the old release stored is the one this code computes
    for cfg_json, group in zip(runs.config_json, runs.group_id, strict=True):
        assert RunConfig.from_json(cfg_json, stored=True).group_key() == group
    result = q.run_result(store, naive.run_id)
    assert result["metrics"]["fwt"] is None  # stored by the old release, meaningless in class-incremental runs
    assert result["metrics"]["forgetting_initial"] == pytest.approx(-result["metrics"]["bwt"])
    assert result["val_metrics"] == {} and result["val_accuracy_matrix"] == []
    assert np.array(result["accuracy_matrix"]).shape == (3, 3)
    ids = list(runs.run_id)
    summ = q.summary(store, ids)
    assert "fwt" not in set(summ.merge(q.groups(store)[["group_id", "scenario"]]).query("scenario == 'class'").metric)
    assert not q.retention(store, ids).empty and not q.matrices(store, ids).empty
    assert not q.forgetting_by_experience(store, ids, definition="forgetting_initial").empty
    assert set(q.groups(store).query("n_finished > 0").devices.map(tuple)) == {("cpu",)}
    # the lessons still find old runs by their configuration
    old_cfg = RunConfig.from_json(naive.config_json, stored=True)
    assert lessons.match([old_cfg], store).found == {old_cfg.config_key(): naive.run_id}


def test_a_newer_store_is_refused_in_one_line_and_left_alone(old):
    Store(old)
    con = duckdb.connect(str(old))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(migrations.latest() + 1)])
    con.close()
    before = _snapshot(old)
    with pytest.raises(BadInput) as err:
        Store(old)
    assert "newer than this version of the bench" in str(err.value) and "\n" not in str(err.value)
    for t, df in _snapshot(old).items():
        pd.testing.assert_frame_equal(df, before[t])


def test_a_failing_migration_leaves_the_old_store_as_it_was(old, monkeypatch):
    def _v2_broken(con):
        migrations._v2_splits(con)
        raise RuntimeError("disk full")

    before = _snapshot(old)
    monkeypatch.setattr(migrations, "MIGRATIONS", (_v2_broken,))
    with pytest.raises(RuntimeError, match="disk full"):
        Store(old)
    after = _snapshot(old)
    for t, df in after.items():
        pd.testing.assert_frame_equal(df, before[t])
    con = duckdb.connect(str(old), read_only=True)
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'evaluations'").fetchall()}
    con.close()
    assert "split" not in cols


def test_adding_a_migration_is_one_function(old, monkeypatch):
    def _vnext_checkpoints(con):
        con.execute("CREATE TABLE checkpoints_test (run_id VARCHAR, experience INTEGER, path VARCHAR)")
        con.execute("ALTER TABLE runs ADD COLUMN origin VARCHAR DEFAULT 'local'")

    shipped = [m.__name__.lstrip("_") for m in migrations.MIGRATIONS]
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, _vnext_checkpoints))
    store = Store(old)  # version 1 -> ... -> the new one in one go
    assert store.query("SELECT value FROM meta WHERE key = 'schema_version'").value[0] == str(len(shipped) + 2)
    assert list(store.query("SELECT name FROM migrations ORDER BY version").name) == [*shipped, "vnext_checkpoints"]
    assert set(store.query("SELECT DISTINCT origin FROM runs").origin) == {"local"}
    assert store.query("SELECT count(*) AS n FROM checkpoints_test").n[0] == 0
