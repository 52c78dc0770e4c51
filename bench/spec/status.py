"""The states of a run, written to the store by whoever moves the run (the worker, the pool, the user's cancel,
the importer)."""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """queued -> running -> finished | failed | cancelled | interrupted, or imported. A StrEnum: stored and
    compared as text."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by the user, while queued or running
    INTERRUPTED = "interrupted"  # the process running it stopped first
    # Results made elsewhere (Avalanche's loggers, TensorBoard, a table) and imported: never queued, so no worker
    # claims or re-runs one. Terminal (nothing more will happen to it: pages stop polling, it can be deleted) and a
    # result (charted and aggregated like a finished run).
    IMPORTED = "imported"


ACTIVE = (Status.QUEUED, Status.RUNNING)
TERMINAL = (Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED, Status.IMPORTED)
STATUSES = ACTIVE + TERMINAL
# The runs that have results: everything that charts or aggregates 'finished' runs uses this, never a literal.
RESULT_STATUSES = (Status.FINISHED, Status.IMPORTED)
