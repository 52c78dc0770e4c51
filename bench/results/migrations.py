"""The store's schema, versioned: the first release's tables, and one migration function per later version.

A store is created at version 1 and brought forward by the same migrations an old store goes through, so a fresh
store and a migrated one have the same schema by construction (tests/test_store_migration.py checks it on a store
written by the first release). To change the schema, write one function ``_vN_what(con)`` that takes a version N-1
store to version N (ALTER TABLE ... ADD COLUMN ... DEFAULT, CREATE TABLE, data fixes) and append it to MIGRATIONS;
never edit V1_SCHEMA or a migration that has shipped. Each runs inside the transaction that records the new version,
so a store is never left half-migrated, and every applied migration is logged in the `migrations` table.
"""
from __future__ import annotations

import time
from typing import Callable

import duckdb

# Version 1: the schema of the first release (commit 97e80a2). Never edit: add a migration instead.
V1_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY, group_id VARCHAR, sweep_id VARCHAR,
        benchmark VARCHAR, scenario VARCHAR, strategy VARCHAR, family VARCHAR, seed INTEGER,
        config_json VARCHAR, status VARCHAR, error VARCHAR, cancel_requested BOOLEAN DEFAULT FALSE,
        created_at DOUBLE, started_at DOUBLE, first_iteration_at DOUBLE, finished_at DOUBLE, heartbeat_at DOUBLE,
        device VARCHAR, host VARCHAR, worker_pid INTEGER,
        n_experiences INTEGER, current_exp INTEGER, iteration INTEGER, est_iterations INTEGER)""",
    # One row per (evaluation point, test experience): the accuracy matrix and the dense curves.
    """CREATE TABLE IF NOT EXISTS evaluations (
        run_id VARCHAR, point INTEGER, kind VARCHAR, trained_exp INTEGER, iteration INTEGER,
        test_exp INTEGER, accuracy DOUBLE, loss DOUBLE, n INTEGER)""",
    # One row per (evaluation point, test experience, class): per-class recall.
    """CREATE TABLE IF NOT EXISTS class_recall (
        run_id VARCHAR, point INTEGER, test_exp INTEGER, class_id INTEGER, correct INTEGER, total INTEGER)""",
    # Training loss / accuracy over windows of iterations.
    """CREATE TABLE IF NOT EXISTS train_curve (
        run_id VARCHAR, iteration INTEGER, trained_exp INTEGER, epoch INTEGER,
        loss DOUBLE, accuracy DOUBLE, n INTEGER)""",
    # Extra measures at each evaluation point (facts stream): recognition per experience, hallucination.
    """CREATE TABLE IF NOT EXISTS probes (
        run_id VARCHAR, point INTEGER, test_exp INTEGER, measure VARCHAR, value DOUBLE, n INTEGER)""",
    # Per-run scalar results, long format: acc, bwt, time_s, peak_memory_mb, ...
    """CREATE TABLE IF NOT EXISTS run_metrics (run_id VARCHAR, metric VARCHAR, value DOUBLE)""",
)

# Metrics added in version 2 that a version-1 store's finished runs get from their own stored evaluations.
_V2_BACKFILLED = ("forgetting_initial", "min_acc", "wc_acc", "anytime_acc")


def _v2_splits(con: duckdb.DuckDBPyConnection) -> None:
    """Version 2: a validation split (`split` = 'test' or 'val' on evaluations, class-recall rows and run metrics;
    every older row is a test row), the migrations log, and the metrics added in this version (both forgettings,
    min-ACC, WC-ACC, anytime accuracy) computed for the finished runs from the rows they stored."""
    for table in ("evaluations", "class_recall", "run_metrics"):
        con.execute(f"ALTER TABLE {table} ADD COLUMN split VARCHAR DEFAULT 'test'")
    con.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER, name VARCHAR, applied_at DOUBLE)")
    _backfill_v2_metrics(con)


def _backfill_v2_metrics(con: duckdb.DuckDBPyConnection) -> None:
    """Plain arrays, not a DataFrame per run: a store of 1,000 runs (a million evaluation rows) migrates in seconds."""
    import numpy as np

    from bench.train import metrics

    finished = "FROM evaluations e JOIN runs r USING (run_id) WHERE r.status = 'finished' AND e.split = 'test'"
    runs = con.execute(f"SELECT e.run_id, any_value(r.scenario), count(*) {finished} GROUP BY e.run_id "
                       "ORDER BY e.run_id").fetchall()
    cols = con.execute(f"SELECT e.point, e.kind, e.trained_exp, e.iteration, e.test_exp, e.accuracy {finished} "
                       "ORDER BY e.run_id, e.point, e.test_exp").fetchnumpy()
    cols = {k: np.asarray(v) for k, v in cols.items()}
    have = set(map(tuple, con.execute("SELECT run_id, metric FROM run_metrics").fetchall()))
    new, a = [], 0
    for run_id, scenario, n in runs:
        summary = _run_summary({k: v[a:a + n] for k, v in cols.items()}, str(scenario), metrics)
        a += n
        if summary is not None:
            new += [(run_id, k, float(summary[k])) for k in _V2_BACKFILLED
                    if (run_id, k) not in have and not np.isnan(summary[k])]
    if new:  # one insert of a frame: executemany costs a statement per row
        import pandas as pd

        con.register("backfilled", pd.DataFrame(new, columns=["run_id", "metric", "value"]))
        con.execute("INSERT INTO run_metrics (run_id, metric, value, split) "
                    "SELECT run_id, metric, value, 'test' FROM backfilled")
        con.unregister("backfilled")


def _run_summary(rows: dict, scenario: str, metrics) -> dict | None:
    """One run's metrics from its rows (ordered by point, test_exp); None when its points are not complete rows."""
    import numpy as np

    n_exp = int(rows["test_exp"].max()) + 1
    if len(rows["test_exp"]) % n_exp or (rows["test_exp"].reshape(-1, n_exp) != np.arange(n_exp)).any():
        return None
    acc = rows["accuracy"].reshape(-1, n_exp)
    kind, trained, it = (rows[k][::n_exp] for k in ("kind", "trained_exp", "iteration"))
    end = kind == "end"
    R = acc[end]
    if not end.any() or list(trained[end]) != sorted(set(trained[end])):
        return None
    trained_points = kind != "initial"
    curve = zip(it[trained_points], trained[trained_points], acc[trained_points], strict=True)
    try:
        return metrics.summary(R, scenario=scenario, curve=curve)
    except ValueError:  # not a matrix (an unfinished row)
        return None


def _v3_run_sources(con: duckdb.DuckDBPyConnection) -> None:
    """Version 3: where an imported run came from (bench/results/importers): the tool, the source file or folder,
    and a hash of the imported content, so that the same files imported twice give one run."""
    con.execute("""CREATE TABLE IF NOT EXISTS run_sources (
        run_id VARCHAR, tool VARCHAR, source VARCHAR, content_hash VARCHAR, step_unit VARCHAR, imported_at DOUBLE)""")


def _v4_tunes(con: duckdb.DuckDBPyConnection) -> None:
    """Version 4: hyperparameter searches (python -m bench tune; bench/results/tunes.py). `tunes` holds one search:
    what it tuned, its protocol and objective, its budget, the whole request (`spec_json`, enough to run it again),
    and what it chose; `tune_trials` one row per trial, an ordinary run (runs.sweep_id = the tune id) with the
    setting the search gave it, its objective as reported to the search, and how the trial ended."""
    con.execute("""CREATE TABLE IF NOT EXISTS tunes (
        tune_id VARCHAR PRIMARY KEY, status VARCHAR, error VARCHAR, cancel_requested BOOLEAN DEFAULT FALSE,
        created_at DOUBLE, started_at DOUBLE, finished_at DOUBLE, host VARCHAR, pid INTEGER,
        benchmark VARCHAR, scenario VARCHAR, strategy VARCHAR, protocol VARCHAR, objective VARCHAR,
        first_experiences INTEGER, n_experiences INTEGER, algorithm VARCHAR, scheduler VARCHAR, trials INTEGER,
        spec_json VARCHAR, best_run_id VARCHAR, best_setting_json VARCHAR, best_objective DOUBLE,
        final_run_ids VARCHAR, wall_s DOUBLE)""")
    con.execute("""CREATE TABLE IF NOT EXISTS tune_trials (
        tune_id VARCHAR, trial INTEGER, run_id VARCHAR, setting_json VARCHAR, objective DOUBLE,
        experiences INTEGER, outcome VARCHAR)""")


def _v5_resumes(con: duckdb.DuckDBPyConnection) -> None:
    """Version 5: resumable runs (bench/execute/resume.py). `runs.resumed_from_exp`: the experience whose checkpoint
    the run's latest attempt restored (-1: it started over; NULL: never resumed); `run_resumes`: one row per time an
    interrupted run was re-queued, with why it stopped, who re-queued it (auto or user) and the checkpoint it had
    then."""
    con.execute("ALTER TABLE runs ADD COLUMN resumed_from_exp INTEGER")
    con.execute("""CREATE TABLE IF NOT EXISTS run_resumes (
        run_id VARCHAR, attempt INTEGER, requested_at DOUBLE, requested_by VARCHAR, reason VARCHAR,
        checkpoint_exp INTEGER)""")


# MIGRATIONS[k] takes a store from version k + 1 to version k + 2.
MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (_v2_splits, _v3_run_sources, _v4_tunes,
                                                                       _v5_resumes)
SCHEMA_VERSION = 1 + len(MIGRATIONS)


def latest() -> int:
    """The schema version this code writes: 1 + the number of migrations."""
    return 1 + len(MIGRATIONS)


def create(con: duckdb.DuckDBPyConnection) -> None:
    """A new, empty store at version 1 (then `migrate` brings it to SCHEMA_VERSION like any old store)."""
    for stmt in V1_SCHEMA:
        con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")


def migrate(con: duckdb.DuckDBPyConnection, found: int) -> list[int]:
    """Apply every migration after version `found`, all in one transaction; returns the versions reached."""
    done = []
    target = latest()
    if found >= target:
        return done
    con.execute("BEGIN")
    try:
        for version in range(found + 1, target + 1):
            step = MIGRATIONS[version - 2]
            step(con)
            con.execute("INSERT INTO migrations VALUES (?, ?, ?)", [version, step.__name__.lstrip("_"), time.time()])
            done.append(version)
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(target)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return done
