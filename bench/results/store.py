"""The DuckDB results store: schema versions and migrations, and every read and write.

Concurrency discipline (DuckDB lets one process hold a file at a time, readers included): every
access opens a short connection while holding an exclusive ``flock`` on ``<store>.lock``; nobody
keeps a connection open. Writers batch rows, so the lock is held for milliseconds. A lock error from
DuckDB itself (e.g. a foreign process) is retried with a bounded back-off.

Schema versions: ``meta.schema_version`` says which version wrote a store. Opening an older store migrates it
in place, under the lock and in one transaction, with the functions of bench/results/migrations.py (a new
store is created at version 1 and goes through the same migrations); a store from a newer bench is refused in
one line. Changing the schema is a one-function change there: write ``_vN_what(con)`` (ALTER TABLE ... ADD
COLUMN ... DEFAULT, CREATE TABLE, a data fix) and append it to ``MIGRATIONS``; then name a new row table in
ROW_TABLES or a new runs column in RUN_COLUMNS here, and extend tests/test_store_migration.py, which opens a
store written by the first release and reads every old row back.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from bench.results import migrations
from bench.results.checkpoint_files import CheckpointFiles, root_of
from bench.results.migrations import SCHEMA_VERSION
from bench.spec.params import BadInput
from bench.spec.status import Status

__all__ = ["DEFAULT_STORE", "ROW_TABLES", "RUN_COLUMNS", "SCHEMA_VERSION", "SPLITS", "Store", "resolve_store_path"]

DEFAULT_STORE = Path("results") / "bench.duckdb"

ROW_TABLES = ("evaluations", "class_recall", "train_curve", "probes", "run_metrics", "run_sources", "run_resumes")
TEST, VAL = "test", "val"
SPLITS = (TEST, VAL)  # the `split` of evaluation, class-recall and run-metric rows
RUN_COLUMNS = (
    "run_id", "group_id", "sweep_id", "benchmark", "scenario", "strategy", "family", "seed", "config_json",
    "status", "error", "cancel_requested", "created_at", "started_at", "first_iteration_at", "finished_at",
    "heartbeat_at",
    "device", "host", "worker_pid", "n_experiences", "current_exp", "iteration", "est_iterations",
    "resumed_from_exp",
)
# The tables whose rows a run records while it trains, by what orders them (what a resumed run truncates).
POINT_TABLES = ("evaluations", "class_recall", "probes")


def resolve_store_path(path: str | os.PathLike | None = None) -> Path:
    """--store PATH, else $BENCH_STORE, else results/bench.duckdb (relative to the working directory)."""
    chosen = path or os.environ.get("BENCH_STORE") or DEFAULT_STORE
    return Path(chosen).expanduser()


class Store:
    """Handle on one results file. Cheap to create; holds no connection."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True) -> None:
        self.path = resolve_store_path(path)
        if self.path.is_dir():
            raise BadInput(f"store path {str(self.path)!r} is a directory: expected a .duckdb file path")
        parent = self.path.parent
        if not parent.exists():
            if self.path == DEFAULT_STORE or path is None:
                parent.mkdir(parents=True, exist_ok=True)
            else:
                raise BadInput(f"store path {str(self.path)!r}: directory {str(parent)!r} does not exist")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        if create:
            had_lock = self.lock_path.exists()
            try:
                self._init()
            except BadInput:
                if not had_lock:  # a refused store leaves nothing behind
                    self.lock_path.unlink(missing_ok=True)
                raise

    # -- connection discipline -------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short connection under the cross-process lock. Callers must not keep it."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BadInput(f"store path {str(self.path)!r} is not usable: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            con = self._open(read_only)
            try:
                yield con
            finally:
                con.close()
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        delay = 0.01
        for attempt in range(40):
            try:
                return duckdb.connect(str(self.path), read_only=read_only and self.path.exists())
            except duckdb.IOException as exc:
                msg = str(exc)
                if "lock" not in msg.lower() or attempt == 39:
                    raise BadInput(f"store path {str(self.path)!r} cannot be opened: {msg.splitlines()[0]}") from None
            except duckdb.Error as exc:
                raise BadInput(
                    f"store path {str(self.path)!r} is not a DuckDB results store: {str(exc).splitlines()[0]}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _init(self) -> None:
        """Create a new store, or bring an older one to SCHEMA_VERSION (bench/results/migrations.py); refuse a
        store written by a newer bench, and files that are not results stores."""
        with self.connect() as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if not tables:
                migrations.create(con)
            elif "meta" not in tables:
                raise BadInput(f"store path {str(self.path)!r} holds a DuckDB file that is not a results store")
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row and str(row[0]).isdigit() else 0
            latest = migrations.latest()
            if found > latest:
                raise BadInput(
                    f"store {str(self.path)!r} has schema version {found}, newer than this version of the bench "
                    f"reads (up to {latest}): upgrade the bench or use another store path")
            if found < 1:
                raise BadInput(f"store {str(self.path)!r} has no valid schema version ({row[0] if row else 'none'}): "
                               "it is not a results store this bench can read")
            migrations.migrate(con, found)

    # -- writes ----------------------------------------------------------------------------------
    def insert_runs(self, rows: list[dict]) -> None:
        """Insert new run rows (queued or running) in one transaction."""
        if not rows:
            return
        df = pd.DataFrame([{c: r.get(c) for c in RUN_COLUMNS} for r in rows], columns=list(RUN_COLUMNS))
        df["cancel_requested"] = df["cancel_requested"].fillna(False).astype(bool)
        with self.connect() as con:
            con.register("new_runs", df)
            con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) SELECT {', '.join(RUN_COLUMNS)} FROM new_runs")

    def update_run(self, run_id: str, **fields) -> None:
        bad = set(fields) - set(RUN_COLUMNS)
        if bad:
            raise ValueError(f"unknown run columns {sorted(bad)}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.connect() as con:
            con.execute(f"UPDATE runs SET {cols} WHERE run_id = ?", [*fields.values(), run_id])

    def write(self, run_id: str, rows: dict[str, list[dict]], run_fields: dict | None = None) -> None:
        """Append batches of tidy rows (table -> list of row dicts) and update the run, atomically."""
        with self.connect() as con:
            con.execute("BEGIN")
            for table, batch in rows.items():
                if table not in ROW_TABLES:
                    raise ValueError(f"unknown table {table!r}")
                if not batch:
                    continue
                df = pd.DataFrame(batch)
                df.insert(0, "run_id", run_id)
                con.register("batch_rows", df)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch_rows")
                con.unregister("batch_rows")
            if run_fields:
                cols = ", ".join(f"{k} = ?" for k in run_fields)
                con.execute(f"UPDATE runs SET {cols} WHERE run_id = ?", [*run_fields.values(), run_id])
            con.execute("COMMIT")

    def insert_complete(self, runs: list[tuple[dict, dict[str, list[dict]]]]) -> None:
        """Insert whole runs (a runs row and all its rows, table -> row dicts) in one transaction: all or nothing.
        A run whose ``run_sources`` row carries a content hash already stored is refused (BadInput), and then
        none of the runs is written."""
        with self.connect() as con:
            con.execute("BEGIN")
            try:
                hashes = [r["content_hash"] for _, rows in runs for r in rows.get("run_sources", [])]
                if len(set(hashes)) < len(hashes):
                    raise BadInput("two of the runs to import have the same content: import each only once")
                found = con.execute("SELECT s.content_hash, s.source, s.run_id FROM run_sources s "
                                    "WHERE list_contains(?, s.content_hash) LIMIT 1", [hashes]).fetchone()
                if found:
                    raise BadInput(f"{found[1]} was already imported as run {found[2]} (same content): "
                                   "delete that run first to import it again")
                cols = ", ".join(RUN_COLUMNS)
                df = pd.DataFrame([{c: run.get(c) for c in RUN_COLUMNS} for run, _ in runs], columns=list(RUN_COLUMNS))
                df["cancel_requested"] = df["cancel_requested"].fillna(False).astype(bool)
                con.register("new_runs", df)
                con.execute(f"INSERT INTO runs ({cols}) SELECT {cols} FROM new_runs")
                con.unregister("new_runs")
                for table in sorted({t for _, rows in runs for t in rows}):  # one insert per table for all runs
                    if table not in ROW_TABLES:
                        raise ValueError(f"unknown table {table!r}")
                    parts = [pd.DataFrame(rows[table]).assign(run_id=run["run_id"]) for run, rows in runs
                             if rows.get(table)]
                    if parts:
                        con.register("batch_rows", pd.concat(parts, ignore_index=True))
                        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch_rows")
                        con.unregister("batch_rows")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def claim_next(self, *, host: str, pid: int) -> dict | None:
        """Atomically move the oldest queued run to running for this worker; None if the queue is empty."""
        with self.connect() as con:
            row = con.execute(
                "SELECT run_id, config_json FROM runs WHERE status = ? ORDER BY created_at, run_id LIMIT 1",
                [Status.QUEUED],
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            con.execute(
                "UPDATE runs SET status = ?, started_at = ?, heartbeat_at = ?, host = ?, worker_pid = ? "
                "WHERE run_id = ?",
                [Status.RUNNING, now, now, host, pid, row[0]],
            )
            resumed = self._was_resumed(con, row[0])
        return {"run_id": row[0], "config": json.loads(row[1]), "resume": resumed}

    def claim(self, run_id: str, *, host: str, pid: int) -> dict | None:
        """Atomically move one given queued run to running; None if it is not queued any more."""
        with self.connect() as con:
            row = con.execute("SELECT config_json FROM runs WHERE run_id = ? AND status = ?",
                              [run_id, Status.QUEUED]).fetchone()
            if row is None:
                return None
            now = time.time()
            con.execute("UPDATE runs SET status = ?, started_at = ?, heartbeat_at = ?, host = ?, "
                        "worker_pid = ? WHERE run_id = ?", [Status.RUNNING, now, now, host, pid, run_id])
            resumed = self._was_resumed(con, run_id)
        return {"run_id": run_id, "config": json.loads(row[0]), "resume": resumed}

    @staticmethod
    def _was_resumed(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
        """Whether a claimed run was re-queued after an interruption (its earlier rows are in the store)."""
        return con.execute("SELECT count(*) FROM run_resumes WHERE run_id = ?", [run_id]).fetchone()[0] > 0

    def request_cancel(self, run_id: str) -> str | None:
        """Cancel a queued run at once, or flag a running one for its worker. Returns the new status."""
        with self.connect() as con:
            row = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                return None
            if row[0] == Status.QUEUED:
                con.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                            [Status.CANCELLED, time.time(), run_id])
                return Status.CANCELLED
            if row[0] == Status.RUNNING:
                con.execute("UPDATE runs SET cancel_requested = TRUE WHERE run_id = ?", [run_id])
            return Status(row[0])

    def delete_runs(self, run_ids: list[str]) -> None:
        """Delete finished/failed/... runs, all their rows and their checkpoint files. Running runs are left alone."""
        with self.connect() as con:
            con.execute("BEGIN")
            keep = {r[0] for r in con.execute(
                "SELECT run_id FROM runs WHERE status = ? AND list_contains(?, run_id)", [Status.RUNNING, run_ids]
            ).fetchall()}
            ids = [r for r in run_ids if r not in keep]
            for table in (*ROW_TABLES, "runs"):
                con.execute(f"DELETE FROM {table} WHERE list_contains(?, run_id)", [ids])
            con.execute("COMMIT")
        for run_id in ids:
            self.checkpoint_sink(run_id).delete()

    # -- checkpoints and resume (bench/execute/resume.py, bench/train/run_checkpoints.py) ----------------------------
    def checkpoint_sink(self, run_id: str) -> CheckpointFiles:
        """Where a run's checkpoints live: ``<store>.checkpoints/<run_id>/``."""
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise BadInput(f"run id {run_id!r} is not a run id")
        return CheckpointFiles(root_of(self.path) / run_id)

    def truncate_run(self, run_id: str, *, point: int, iteration: int) -> None:
        """Delete a run's rows recorded from evaluation point `point` and training-curve iteration `iteration` on, in
        one transaction: what a resumed run records again."""
        with self.connect() as con:
            con.execute("BEGIN")
            for table in POINT_TABLES:
                con.execute(f"DELETE FROM {table} WHERE run_id = ? AND point >= ?", [run_id, point])
            con.execute("DELETE FROM train_curve WHERE run_id = ? AND iteration >= ?", [run_id, iteration])
            con.execute("COMMIT")

    def requeue(self, run_id: str, *, requested_by: str, reason: str, checkpoint_exp: int | None,
                max_attempts: int | None = None) -> int | None:
        """Queue an interrupted run again, to resume, and log it in `run_resumes`: returns its attempt number (2 for
        the first resume), or None when it is not interrupted or has had `max_attempts` resumes already."""
        with self.connect() as con:
            con.execute("BEGIN")
            status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
            done = con.execute("SELECT count(*) FROM run_resumes WHERE run_id = ?", [run_id]).fetchone()[0]
            if status is None or status[0] != Status.INTERRUPTED or (max_attempts is not None and done >= max_attempts):
                con.execute("ROLLBACK")
                return None
            con.execute("INSERT INTO run_resumes VALUES (?, ?, ?, ?, ?, ?)",
                        [run_id, done + 2, time.time(), requested_by, reason, checkpoint_exp])
            con.execute("UPDATE runs SET status = ?, error = NULL, finished_at = NULL, cancel_requested = FALSE, "
                        "worker_pid = NULL WHERE run_id = ?", [Status.QUEUED, run_id])
            con.execute("COMMIT")
        return done + 2

    def interrupted(self) -> list[str]:
        """Every interrupted run, oldest first."""
        return list(self.query("SELECT run_id FROM runs WHERE status = ? ORDER BY created_at, run_id",
                               [Status.INTERRUPTED]).run_id)

    # -- reads -----------------------------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run one parameterised read query and return a DataFrame (user input only ever in params)."""
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def run_row(self, run_id: str) -> dict | None:
        df = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        return None if df.empty else df.iloc[0].to_dict()

    def cancel_requested(self, run_id: str) -> bool:
        df = self.query("SELECT cancel_requested FROM runs WHERE run_id = ?", [run_id])
        return bool(not df.empty and df.iloc[0, 0])

    def statuses(self, run_ids: list[str]) -> dict[str, Status]:
        """run_id -> status of the given runs that exist."""
        df = self.query("SELECT run_id, status FROM runs WHERE list_contains(?, run_id)", [run_ids])
        return {r: Status(s) for r, s in zip(df.run_id, df.status, strict=True)}

    def running(self) -> pd.DataFrame:
        """(run_id, host, worker_pid, heartbeat_at) of every run shown as running."""
        return self.query("SELECT run_id, host, worker_pid, heartbeat_at FROM runs WHERE status = ?",
                          [Status.RUNNING])

    def running_on(self, *, host: str, pid: int) -> list[str]:
        """The runs a given worker process holds as running."""
        df = self.query("SELECT run_id FROM runs WHERE status = ? AND worker_pid = ? AND host = ?",
                        [Status.RUNNING, pid, host])
        return list(df.run_id)

    def queued(self, run_ids: list[str] | None = None) -> list[str]:
        """Queued run ids, oldest first (among `run_ids` when given)."""
        sql, params = "SELECT run_id FROM runs WHERE status = ?", [Status.QUEUED]
        if run_ids is not None:
            sql += " AND list_contains(?, run_id)"
            params.append(run_ids)
        return list(self.query(sql + " ORDER BY created_at, run_id", params).run_id)

    def cancel_flags(self, run_ids: list[str]) -> list[str]:
        """The runs among `run_ids` whose cancel was requested."""
        df = self.query("SELECT run_id FROM runs WHERE cancel_requested AND list_contains(?, run_id)", [run_ids])
        return list(df.run_id)

    def table(self, name: str, run_ids: list[str] | None = None) -> pd.DataFrame:
        """Every row of one table (of the given runs), for export."""
        if name not in ("runs", *ROW_TABLES):
            raise ValueError(f"unknown table {name!r}")
        if run_ids is None:
            return self.query(f"SELECT * FROM {name}")
        return self.query(f"SELECT * FROM {name} WHERE list_contains(?, run_id)", [run_ids])
