"""Hyperparameter searches in the store (tables `tunes` and `tune_trials`, schema version 4): every write and read.

A search's trials are ordinary runs whose `sweep_id` is the tune id; these tables add what only the search knows:
its protocol, objective and budget, the request that makes it (to run it again), the setting each trial was given,
the objective each trial reported, how it ended (finished, stopped early, failed, cancelled), and what was chosen.
The process that runs the search is its one writer (bench/execute/tune); the app writes a queued search and the
cancel flag.
"""
from __future__ import annotations

import json
import time

import pandas as pd

from bench.results.store import Store
from bench.spec.status import ACTIVE, Status

TUNE_COLUMNS = (
    "tune_id", "status", "error", "cancel_requested", "created_at", "started_at", "finished_at", "host", "pid",
    "benchmark", "scenario", "strategy", "protocol", "objective", "first_experiences", "n_experiences", "algorithm",
    "scheduler", "trials", "spec_json", "best_run_id", "best_setting_json", "best_objective", "final_run_ids",
    "wall_s",
)
TRIAL_FIELDS = ("run_id", "setting_json", "objective", "experiences", "outcome")
# How a trial ended, as the search saw it (the trial's run has its own status: stopped early and cancelled trials are
# cancelled runs, with the reason in their error, so that no view averages them with finished runs).
OUTCOMES = ("running", "finished", "stopped_early", "failed", "cancelled", "interrupted")


def insert_tune(store: Store, row: dict) -> None:
    """A new search (queued or running)."""
    unknown = set(row) - set(TUNE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown tune columns {sorted(unknown)}")
    cols = [c for c in TUNE_COLUMNS if c in row]
    with store.connect() as con:
        con.execute(f"INSERT INTO tunes ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [row[c] for c in cols])


def update_tune(store: Store, tune_id: str, **fields) -> None:
    unknown = set(fields) - set(TUNE_COLUMNS)
    if unknown:
        raise ValueError(f"unknown tune columns {sorted(unknown)}")
    with store.connect() as con:
        con.execute(f"UPDATE tunes SET {', '.join(f'{k} = ?' for k in fields)} WHERE tune_id = ?",
                    [*fields.values(), tune_id])


def record_trial(store: Store, tune_id: str, trial: int, **fields) -> None:
    """Create or update one trial's row (trial = its 1-based number in the search)."""
    unknown = set(fields) - set(TRIAL_FIELDS)
    if unknown:
        raise ValueError(f"unknown trial fields {sorted(unknown)}")
    with store.connect() as con:
        con.execute("BEGIN")
        found = con.execute("SELECT count(*) FROM tune_trials WHERE tune_id = ? AND trial = ?",
                            [tune_id, trial]).fetchone()[0]
        if not found:
            con.execute("INSERT INTO tune_trials (tune_id, trial) VALUES (?, ?)", [tune_id, trial])
        if fields:
            con.execute(f"UPDATE tune_trials SET {', '.join(f'{k} = ?' for k in fields)} "
                        "WHERE tune_id = ? AND trial = ?", [*fields.values(), tune_id, trial])
        con.execute("COMMIT")


def request_cancel(store: Store, tune_id: str) -> str | None:
    """Cancel a queued search at once, or flag a running one for the process running it (which stops the Tuner
    and cancels its running trials). Returns the search's status, None for an unknown id."""
    with store.connect() as con:
        row = con.execute("SELECT status FROM tunes WHERE tune_id = ?", [tune_id]).fetchone()
        if row is None:
            return None
        if row[0] == Status.QUEUED:
            con.execute("UPDATE tunes SET status = ?, finished_at = ?, error = ? WHERE tune_id = ?",
                        [Status.CANCELLED, time.time(), "cancelled by the user before it started", tune_id])
            return Status.CANCELLED
        if row[0] == Status.RUNNING:
            con.execute("UPDATE tunes SET cancel_requested = TRUE WHERE tune_id = ?", [tune_id])
        return Status(row[0])


def cancel_requested(store: Store, tune_id: str) -> bool:
    df = store.query("SELECT cancel_requested FROM tunes WHERE tune_id = ?", [tune_id])
    return bool(not df.empty and df.iloc[0, 0])


def tune_row(store: Store, tune_id: str) -> dict | None:
    df = store.query("SELECT * FROM tunes WHERE tune_id = ?", [tune_id])
    return None if df.empty else df.iloc[0].to_dict()


def tunes(store: Store) -> pd.DataFrame:
    """Every search, newest first, with how many of its trials have ended."""
    return store.query(
        """
        SELECT t.*, count(x.trial) FILTER (WHERE x.outcome IS NOT NULL AND x.outcome <> 'running') AS trials_done
        FROM tunes t LEFT JOIN tune_trials x USING (tune_id)
        GROUP BY ALL ORDER BY t.created_at DESC, t.tune_id
        """)


def active(store: Store) -> pd.DataFrame:
    """(tune_id, host, pid) of the searches shown as queued or running."""
    return store.query("SELECT tune_id, status, host, pid FROM tunes WHERE list_contains(?, status)",
                       [list(ACTIVE)])


def trials(store: Store, tune_id: str) -> pd.DataFrame:
    """The tuning view's data: one row per trial of a search, in trial order: (trial, run_id, setting_json,
    objective, experiences, outcome, status, error, seed, group_id, val_acc, test_acc), where objective is what the
    trial reported to the search (its validation ACC over the experiences it had trained on by then), val_acc and
    test_acc the run's stored ACC on the validation and test split (NULL unless finished; test is shown, never
    the objective)."""
    return store.query(
        """
        SELECT x.trial, x.run_id, x.setting_json, x.objective, x.experiences, x.outcome, r.status, r.error, r.seed,
               r.group_id, v.value AS val_acc, t.value AS test_acc
        FROM tune_trials x
        LEFT JOIN runs r ON r.run_id = x.run_id
        LEFT JOIN run_metrics v ON v.run_id = x.run_id AND v.metric = 'acc' AND v.split = 'val'
        LEFT JOIN run_metrics t ON t.run_id = x.run_id AND t.metric = 'acc' AND t.split = 'test'
        WHERE x.tune_id = ? ORDER BY x.trial
        """, [tune_id])


def settings(frame: pd.DataFrame) -> pd.DataFrame:
    """The settings column of `trials` spread out: one column per searched setting (trial order kept)."""
    rows = [json.loads(s) if isinstance(s, str) else {} for s in frame.setting_json]
    return pd.DataFrame(rows, index=frame.index)
