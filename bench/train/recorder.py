"""Our one Avalanche plugin: dense evaluation every K iterations and at experience ends, as tidy rows.

Evaluation runs directly on whole test tensors kept on the run's device (large batches, no gradients),
so a dense curve costs a few forward passes instead of a trip through Avalanche's eval loop.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from avalanche.models.utils import avalanche_forward

from bench.benchmarks.base import Stream


class RunDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class RunCancelled(RuntimeError):
    """The user asked to cancel this run."""


class GradClip(SupervisedPlugin):
    """Clip the gradient norm before each update: keeps strong penalties (EWC, SI) from blowing up
    momentum SGD; a no-op for well-behaved steps."""

    def __init__(self, max_norm: float) -> None:
        super().__init__()
        self.max_norm = max_norm

    def before_update(self, strategy, **kwargs) -> None:
        torch.nn.utils.clip_grad_norm_(strategy.model.parameters(), self.max_norm)


class Recorder(SupervisedPlugin):
    """Collects evaluation, per-class recall and training-curve rows; hands them to `sink` in batches."""

    def __init__(self, *, stream: Stream, device: torch.device, eval_every: int,
                 sink: Callable[[dict, dict], None], should_stop: Callable[[], bool] = lambda: False,
                 run_fields: dict | None = None, joint: bool = False,
                 flush_seconds: float = 2.0, eval_batch: int = 2048) -> None:
        """`run_fields` go to the store with the first write (device, sizes); `joint`: the strategy trains on the
        whole stream at once, so its one end-of-training row is the matrix's last."""
        super().__init__()
        self.stream = stream
        self.device = device
        self.eval_every = eval_every
        self.sink = sink
        self.should_stop = should_stop
        self.flush_seconds = flush_seconds
        self.eval_batch = eval_batch
        self.tests = [(e.test_x.to(device), e.test_y.to(device), e.test_cls.to(device), e.task_label)
                      for e in stream.experiences]
        self.max_class = stream.n_classes
        self.rows: dict[str, list[dict]] = {"evaluations": [], "class_recall": [], "train_curve": [], "probes": []}
        self.per_class = stream.info.get("class_recall", True)
        self.probe = stream.probe(device) if stream.probe is not None else None  # the stream's own measures
        self.joint = joint
        self.last_exp = len(stream.experiences) - 1
        self.point = 0
        self.iteration = 0
        self.epoch = 0
        self.current_exp = -1
        self.matrix: dict[int, list[float]] = {}  # trained_exp -> accuracies of the end-of-experience row
        self.initial: list[float] = []
        self.first_iteration_at = float("nan")  # wall clock of the first training step (latency figures)
        self._window = [0.0, 0, 0]  # loss sum, correct, seen
        self._last_flush = time.monotonic()
        self.pending_fields: dict = dict(run_fields or {})  # run fields to send with the next write
        # The whole test stream concatenated once: an evaluation is one forward pass (in chunks of eval_batch) and
        # every count one bincount, read back in a single transfer.
        sizes = [len(x) for x, *_ in self.tests]
        n_exp = len(self.tests)
        self._sizes = sizes
        self._x = torch.cat([x for x, *_ in self.tests])
        self._y = torch.cat([y for _, y, *_ in self.tests])
        self._task = torch.cat([torch.full((n,), t[3], dtype=torch.long, device=device)
                                for n, t in zip(sizes, self.tests, strict=True)])
        self._exp = torch.repeat_interleave(torch.arange(n_exp, device=device), torch.tensor(sizes, device=device))
        self._cell = self._exp * self.max_class + torch.cat([c for _, _, c, _ in self.tests])
        totals = torch.bincount(self._cell, minlength=n_exp * self.max_class)
        self._cells = torch.nonzero(totals).flatten()
        self._cell_rows = [(c // self.max_class, c % self.max_class, int(totals[c])) for c in self._cells.tolist()]

    # -- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, *, kind: str) -> list[float]:
        was_training = model.training
        model.eval()
        b, n_exp = self.eval_batch, len(self.tests)
        chunks = [avalanche_forward(model, self._x[s:s + b], self._task[s:s + b]) for s in range(0, len(self._x), b)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
        loss = F.cross_entropy(out, self._y, reduction="none")
        hit = (out.argmax(1) == self._y).to(loss.dtype)
        parts = [torch.bincount(self._exp, weights=hit, minlength=n_exp),
                 torch.bincount(self._exp, weights=loss, minlength=n_exp)]
        if self.per_class:
            parts.append(torch.bincount(self._cell, weights=hit, minlength=n_exp * self.max_class)[self._cells])
        counts = torch.cat(parts).tolist()
        accs = []
        for j, n in enumerate(self._sizes):
            acc = counts[j] / n if n else float("nan")
            accs.append(acc)
            self.rows["evaluations"].append({
                "point": self.point, "kind": kind, "trained_exp": self.current_exp, "iteration": self.iteration,
                "test_exp": j, "accuracy": acc, "loss": counts[n_exp + j] / max(n, 1), "n": n,
            })
        if self.per_class:
            for (j, c, total), correct in zip(self._cell_rows, counts[2 * n_exp:], strict=True):
                self.rows["class_recall"].append({
                    "point": self.point, "test_exp": j, "class_id": c, "correct": int(correct), "total": total,
                })
        if self.probe is not None:
            self.rows["probes"] += self.probe(model, list(out.split(self._sizes)), self.point)
        self.point += 1
        if was_training:
            model.train()
        return accs

    def evaluate_initial(self, model: torch.nn.Module) -> None:
        self.initial = self.evaluate(model, kind="initial")  # written with the first training step

    # -- Avalanche hooks -------------------------------------------------------------------------
    def before_training_exp(self, strategy, **kwargs) -> None:
        self.current_exp = self.last_exp if self.joint else int(strategy.experience.current_experience)

    def after_training_iteration(self, strategy, **kwargs) -> None:
        loss = float(strategy.loss.detach())
        if not math.isfinite(loss):
            raise RunDiverged(f"training loss became {loss} at iteration {self.iteration + 1} "
                              f"(experience {self.current_exp}); try a smaller learning rate")
        self.iteration += 1
        if self.iteration == 1:
            self.first_iteration_at = time.time()
            self.flush()  # the first step is news: the Runs page and the latency figures read it
        n = len(strategy.mb_y)
        self._window[0] += loss * n
        self._window[1] += int((strategy.mb_output.argmax(1) == strategy.mb_y).sum())
        self._window[2] += n
        if self.iteration % self.eval_every == 0:
            self._close_window()
            self.evaluate(strategy.model, kind="dense")
        if time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()
            if self.should_stop():
                raise RunCancelled("cancelled by the user")

    def after_training_epoch(self, strategy, **kwargs) -> None:
        self.epoch += 1

    def after_training_exp(self, strategy, **kwargs) -> None:
        self._close_window()
        self.matrix[self.current_exp] = self.evaluate(strategy.model, kind="end")
        # A store access costs tens of ms, as much as a small run's training: between experiences write on the
        # usual cadence only; the runner writes what is left, with the run's results, in one last access.
        if time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    # -- plumbing --------------------------------------------------------------------------------
    def _close_window(self) -> None:
        loss_sum, correct, seen = self._window
        if seen:
            self.rows["train_curve"].append({
                "iteration": self.iteration, "trained_exp": self.current_exp, "epoch": self.epoch,
                "loss": loss_sum / seen, "accuracy": correct / seen, "n": seen,
            })
        self._window = [0.0, 0, 0]

    def take(self) -> tuple[dict[str, list[dict]], dict]:
        """The rows not yet written and the run's progress fields; the caller writes them."""
        rows, self.rows = self.rows, {k: [] for k in self.rows}
        fields = {**self.pending_fields, "current_exp": self.current_exp, "iteration": self.iteration,
                  "heartbeat_at": time.time()}
        self.pending_fields = {}
        if self.iteration and not math.isnan(self.first_iteration_at):
            fields["first_iteration_at"] = self.first_iteration_at
        return rows, fields

    def flush(self) -> None:
        self.sink(*self.take())
        self._last_flush = time.monotonic()
