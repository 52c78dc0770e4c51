"""When a run writes its checkpoints, how a resumed run starts from one, and what is left of them when it ends.

The store decides where checkpoints live (``store.checkpoint_sink(run_id)``: files next to a local store, or a relay
to the submitting machine for a Ray task); a store without one gets no checkpoints. Joint training trains once on
the whole stream, so it has no experience end to resume from.

Resuming keeps the store's rows equal to an uninterrupted run's: the rows recorded after the restored checkpoint
(the dense rows of the partly trained experience, and the rows the checkpoint still held unwritten) are deleted
first, and the recorder writes its unwritten rows again; a resumed run without a usable checkpoint deletes all its
rows and starts over.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from bench.spec.config import RunConfig
from bench.train.checkpoint import CheckpointError, capture, dumps, loads, restore

log = logging.getLogger(__name__)

FRESH, LATEST, OVER = None, "latest", "over"  # how a run starts: new, from its latest checkpoint, from scratch


class ResumeFailed(RuntimeError):
    """The run's checkpoint could not be restored (the half-restored run must be rebuilt and start over)."""


class RunCheckpoints:
    def __init__(self, *, cfg: RunConfig, store, run_id: str, recorder, device: torch.device, n_exp: int,
                 joint: bool) -> None:
        make = getattr(store, "checkpoint_sink", None)
        self.sink = make(run_id) if make is not None and not joint else None
        self.cfg, self.store, self.run_id, self.recorder, self.device, self.n_exp = \
            cfg, store, run_id, recorder, device, n_exp
        self.saving = self.sink is not None
        self.refused: str | None = None  # why this run stopped checkpointing (a strategy state it cannot hold)

    def start(self, strategy, *, resume: str | None) -> dict | None:
        """Restore the run as its latest checkpoint left it; returns that checkpoint's `run` entry (the experience it
        was taken after, the time and peak memory spent so far), or None when the run starts from the beginning."""
        if resume is FRESH:
            return None
        found = self.sink.latest() if self.sink is not None and resume == LATEST else None
        if found is not None:
            exp, data = found
            try:
                prior = restore(strategy, loads(data), name=self.cfg.strategy, recorder=self.recorder,
                                device=self.device, config=self.cfg.to_json())
            except CheckpointError as exc:
                raise ResumeFailed(f"the checkpoint after experience {exp} cannot be restored: {exc}") from exc
            point, iteration = self.recorder.unwritten_from()
            self.store.truncate_run(self.run_id, point=point, iteration=iteration)
            self.recorder.pending_fields["resumed_from_exp"] = exp
            self.recorder.flush()  # the store shows the run as the checkpoint left it
            log.info("run %s resumes after experience %d", self.run_id, exp)
            return prior
        self.store.truncate_run(self.run_id, point=0, iteration=0)
        self.recorder.pending_fields["resumed_from_exp"] = -1
        return None

    def save(self, strategy, exp: int, spent: Callable[[], dict]) -> None:
        """Checkpoint after experience `exp` (the last one only when it is kept)."""
        if not self.saving or (exp == self.n_exp - 1 and self.cfg.keep_checkpoints == "none"):
            return
        try:
            tree = capture(strategy, name=self.cfg.strategy, recorder=self.recorder, exp=exp,
                           run={"config": self.cfg.to_json(), **spent()})
        except CheckpointError as exc:  # the run goes on; it just cannot resume
            log.warning("run %s is not checkpointed: %s", self.run_id, exc)
            self.refused, self.saving = str(exc), False
            return
        self.sink.save(exp, dumps(tree), keep_all=self.cfg.keep_checkpoints == "all")

    def finish(self) -> None:
        """The run has ended (finished, failed or cancelled): keep what `keep_checkpoints` says."""
        if self.sink is not None:
            self.sink.finish(self.cfg.keep_checkpoints)
