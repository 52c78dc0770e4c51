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
                 flush_seconds: float = 2.0, eval_batch: int = 2048,
                 on_experience_end: Callable[[int, dict], None] | None = None) -> None:
        """`run_fields` go to the store with the first write (device, sizes); `joint`: the strategy trains on the
        whole stream at once, so its one end-of-training row is the matrix's last; `on_experience_end(exp,
        accuracies)` hears each end-of-experience evaluation (split -> accuracy per experience)."""
        super().__init__()
        self.stream = stream
        self.device = device
        self.eval_every = eval_every
        self.sink = sink
        self.should_stop = should_stop
        self.flush_seconds = flush_seconds
        self.eval_batch = eval_batch
        self.max_class = stream.n_classes
        self.rows: dict[str, list[dict]] = {"evaluations": [], "class_recall": [], "train_curve": [], "probes": []}
        self.per_class = stream.info.get("class_recall", True)
        self.probe = stream.probe(device) if stream.probe is not None else None  # the stream's own measures
        self.joint = joint
        self.on_experience_end = on_experience_end
        self.last_exp = len(stream.experiences) - 1
        self.point = 0
        self.iteration = 0
        self.epoch = 0
        self.current_exp = -1
        # split -> trained_exp -> accuracies of the end-of-experience row ("test", and "val" with a validation split)
        self.matrices: dict[str, dict[int, list[float]]] = {}
        self.initials: dict[str, list[float]] = {}  # split -> the untrained model's accuracies
        self.curves: dict[str, list[tuple]] = {}  # split -> (iteration, trained_exp, accuracies) of every point
        self.first_iteration_at = float("nan")  # wall clock of the first training step (latency figures)
        self._window = [0.0, 0, 0]  # loss sum, correct, seen
        self._last_flush = time.monotonic()
        self.pending_fields: dict = dict(run_fields or {})  # run fields to send with the next write
        self._segments(stream, device)

    def _segments(self, stream: Stream, device: torch.device) -> None:
        """Every evaluation set (each experience's test set, then its validation set where there is one) concatenated
        once: an evaluation is one forward pass (in chunks of eval_batch) and every count one bincount over segment
        ids, read back in a single transfer."""
        segs = [("test", j, e.test_x, e.test_y, e.test_cls, e.task_label) for j, e in enumerate(stream.experiences)]
        segs += [("val", j, e.val_x, e.val_y, e.val_cls, e.task_label) for j, e in enumerate(stream.experiences)
                 if e.val_x is not None and len(e.val_x)]
        self._seg_keys = [(split, j) for split, j, *_ in segs]
        self._splits = list(dict.fromkeys(split for split, _ in self._seg_keys))
        self._n_test = sum(len(x) for split, _, x, *_ in segs if split == "test")
        self._sizes = [len(x) for _, _, x, *_ in segs]
        self._test_sizes = self._sizes[: len(stream.experiences)]
        n_seg = len(segs)
        self._x = torch.cat([x for _, _, x, *_ in segs]).to(device)
        self._y = torch.cat([y for _, _, _, y, *_ in segs]).to(device)
        self._task = torch.cat([torch.full((len(x),), t, dtype=torch.long) for _, _, x, _, _, t in segs]).to(device)
        self._seg = torch.repeat_interleave(torch.arange(n_seg), torch.tensor(self._sizes)).to(device)
        self._cell = self._seg * self.max_class + torch.cat([c for _, _, _, _, c, _ in segs]).to(device)
        totals = torch.bincount(self._cell, minlength=n_seg * self.max_class)
        self._cells = torch.nonzero(totals).flatten()
        self._cell_rows = [(c // self.max_class, c % self.max_class, int(totals[c])) for c in self._cells.tolist()]

    @property
    def matrix(self) -> dict[int, list[float]]:
        """The test accuracy matrix's rows so far: trained_exp -> accuracies."""
        return self.matrices.get("test", {})

    @property
    def initial(self) -> list[float]:
        return self.initials.get("test", [])

    # -- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module, *, kind: str) -> dict[str, list[float]]:
        """Evaluate on every test and validation set, record the rows; returns split -> accuracy per experience."""
        was_training = model.training
        model.eval()
        b, n_seg = self.eval_batch, len(self._sizes)
        chunks = [avalanche_forward(model, self._x[s:s + b], self._task[s:s + b]) for s in range(0, len(self._x), b)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
        loss = F.cross_entropy(out, self._y, reduction="none")
        hit = (out.argmax(1) == self._y).to(loss.dtype)
        parts = [torch.bincount(self._seg, weights=hit, minlength=n_seg),
                 torch.bincount(self._seg, weights=loss, minlength=n_seg)]
        if self.per_class:
            parts.append(torch.bincount(self._cell, weights=hit, minlength=n_seg * self.max_class)[self._cells])
        counts = torch.cat(parts).tolist()
        accs: dict[str, list[float]] = {split: [] for split in self._splits}
        for s, ((split, j), n) in enumerate(zip(self._seg_keys, self._sizes, strict=True)):
            acc = counts[s] / n if n else float("nan")
            accs[split].append(acc)
            self.rows["evaluations"].append({
                "point": self.point, "kind": kind, "trained_exp": self.current_exp, "iteration": self.iteration,
                "test_exp": j, "accuracy": acc, "loss": counts[n_seg + s] / max(n, 1), "n": n, "split": split,
            })
        if self.per_class:
            for (s, c, total), correct in zip(self._cell_rows, counts[2 * n_seg:], strict=True):
                split, j = self._seg_keys[s]
                self.rows["class_recall"].append({
                    "point": self.point, "test_exp": j, "class_id": c, "correct": int(correct), "total": total,
                    "split": split,
                })
        if self.probe is not None:  # the stream's measures are taken on its test sets only
            self.rows["probes"] += self.probe(model, list(out[: self._n_test].split(self._test_sizes)), self.point)
        if kind != "initial":
            for split, a in accs.items():
                self.curves.setdefault(split, []).append((self.iteration, self.current_exp, a))
        self.point += 1
        if was_training:
            model.train()
        return accs

    def evaluate_initial(self, model: torch.nn.Module) -> None:
        self.initials = self.evaluate(model, kind="initial")  # written with the first training step

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
        accs = self.evaluate(strategy.model, kind="end")
        for split, row in accs.items():
            self.matrices.setdefault(split, {})[self.current_exp] = row
        if self.on_experience_end is not None:
            self.on_experience_end(self.current_exp, accs)
        # A store access costs tens of ms, as much as a small run's training: between experiences write on the
        # usual cadence only; the runner writes what is left, with the run's results, in one last access.
        if time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    # -- checkpoints (bench/train/checkpoint.py) --------------------------------------------------------
    STATE = ("point", "iteration", "epoch", "current_exp", "matrices", "initials", "curves", "first_iteration_at",
             "rows", "pending_fields")

    def state_dict(self) -> dict:
        """Counters, the matrix rows and curves so far, and the rows not written yet: what a resumed run needs to
        record exactly what the uninterrupted run would."""
        return {k: getattr(self, k) for k in self.STATE}

    def load_state_dict(self, state: dict) -> None:
        fields = self.pending_fields  # this process's own (its device) win over the checkpoint's
        for k in self.STATE:
            setattr(self, k, state[k])
        self.pending_fields = {**state["pending_fields"], **fields}

    def unwritten_from(self) -> tuple[int, int]:
        """(point, iteration): the first evaluation point and training-curve iteration not yet handed to the sink.
        Rows from there on belong to the store only once this recorder writes them."""
        points = [r["point"] for t in ("evaluations", "class_recall", "probes") for r in self.rows[t]]
        iterations = [r["iteration"] for r in self.rows["train_curve"]]
        return min(points, default=self.point), min(iterations, default=self.iteration + 1)

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
