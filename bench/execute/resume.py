"""Interrupted runs: marking them, and queuing them again to resume from their last checkpoint.

The status story a run tells: queued -> running -> (its process dies) interrupted -> queued -> running -> finished.
Every interruption is written to the run's row (status and error) by whoever found it: the pool supervisor (a worker
that exited), `jobs.reap` (a worker process that is gone), the Ray driver (a lost task). Re-queuing it is logged in
`run_resumes` (attempt, when, why it stopped, by whom, the checkpoint it had then) and clears the error; the worker
that takes it up restores the checkpoint and records which experience it resumed after (`runs.resumed_from_exp`,
-1 when it had none and started over). bench/train/run_checkpoints.py keeps the stored rows those of an
uninterrupted run.

When: a run whose process *crashed* (a killed or dead worker, a lost Ray task) is re-queued at once, at most
`max_resumes` times (a run setting, default 2, so a run that kills its worker every time, e.g. out of memory, stops);
one that was *stopped* (the pool shut down, a sweep stopped with Ctrl-C) stays interrupted until someone asks:
`python -m bench resume RUN_ID` (or `--all`), or the Resume button on Runs and Run detail.
"""
from __future__ import annotations

import json
import time

from bench.results.store import Store
from bench.spec.params import BadInput
from bench.spec.status import Status

AUTO, USER = "auto", "user"  # run_resumes.requested_by


def interrupt(store: Store, run_id: str, why: str, *, crashed: bool) -> int | None:
    """Mark a run interrupted because `why`. A run whose process crashed is queued again while it has automatic
    resumes left: returns the attempt it was queued for (2 for the first resume), else None."""
    store.update_run(run_id, status=Status.INTERRUPTED, finished_at=time.time(), error=f"interrupted: {why}")
    if not crashed:
        return None
    row = store.run_row(run_id)
    allowed = _max_resumes(row)
    if allowed <= 0:
        return None
    return store.requeue(run_id, requested_by=AUTO, reason=why, checkpoint_exp=latest_checkpoint(store, run_id),
                         max_attempts=allowed)


def request(store: Store, run_id: str) -> int:
    """Queue an interrupted run again by hand; returns its attempt number. BadInput for a run that is not
    interrupted (a finished or failed run does not resume; a queued or running one is already on its way)."""
    row = store.run_row(run_id)
    if row is None:
        raise BadInput(f"no run {run_id!r} in store {str(store.path)!r}")
    if row["status"] != Status.INTERRUPTED:
        raise BadInput(f"run {run_id} is {row['status']}: only an interrupted run resumes")
    reason = (row.get("error") or "interrupted").removeprefix("interrupted: ")
    attempt = store.requeue(run_id, requested_by=USER, reason=reason, checkpoint_exp=latest_checkpoint(store, run_id))
    if attempt is None:  # it changed status in between
        raise BadInput(f"run {run_id} is no longer interrupted")
    return attempt


def latest_checkpoint(store: Store, run_id: str) -> int | None:
    """The experience after which the run's latest checkpoint was taken (None: it has none)."""
    return store.checkpoint_sink(run_id).latest_exp()


def checkpoints(store: Store, run_id: str) -> dict:
    """What Run detail shows: the checkpoint files (experience, bytes) and their disk use."""
    sink = store.checkpoint_sink(run_id)
    files = []
    for exp, path in sink.files():
        try:
            files.append((exp, path.stat().st_size))
        except OSError:  # pruned in between
            continue
    return {"dir": str(sink.dir), "files": files, "bytes": sink.disk_use()}


def _max_resumes(row: dict | None) -> int:
    if row is None:
        return 0
    try:
        return int(json.loads(row["config_json"]).get("max_resumes", 2))
    except (TypeError, ValueError):
        return 0
