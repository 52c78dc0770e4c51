"""The states of a run, written to the store by whoever moves the run (the worker, the pool, the user's cancel)."""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """queued -> running -> finished | failed | cancelled | interrupted. A StrEnum: stored and compared as text."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by the user, while queued or running
    INTERRUPTED = "interrupted"  # the process running it stopped first


ACTIVE = (Status.QUEUED, Status.RUNNING)
TERMINAL = (Status.FINISHED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED)
STATUSES = ACTIVE + TERMINAL
