"""The run's training recipe: its optimizer, and per experience the learning-rate schedule, the optimizer-state reset
and the batch composition (an Avalanche plugin)."""
from __future__ import annotations

import math

import torch
from avalanche.core import SupervisedPlugin

from bench.spec.config import RunConfig, parse_milestones


def make_optimizer(cfg: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD (heavy-ball momentum, L2 weight decay) or Adam over every parameter of the model, at the run's peak
    learning rate; the Recipe plugin moves the rate along the schedule."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_factor(step: int, *, steps_per_epoch: int, total: int, schedule: str, milestones: tuple[int, ...] = (),
              gamma: float = 0.1, warmup: float = 0.0) -> float:
    """The rate at 0-based `step` of an experience of `total` steps, as a fraction of the peak rate.

    Warm-up ramps linearly, (s + 1) / W for the first W = round(warmup * steps_per_epoch) steps. multistep multiplies
    by gamma once for every milestone epoch m with step >= m * steps_per_epoch (torch's MultiStepLR stepped per
    epoch); cosine follows 0.5 (1 + cos(pi p)) with p the progress after warm-up, (s - W) / (total - W), so the last
    step trains at a small positive rate (SGDR's schedule without restarts, Loshchilov & Hutter 2017)."""
    w = int(round(warmup * steps_per_epoch))
    if step < w:
        return (step + 1) / w
    if schedule == "multistep":
        return gamma ** sum(step >= m * steps_per_epoch for m in milestones)
    if schedule == "cosine":
        span = max(total - w, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - w, span) / span))
    return 1.0


class _Trimmed:
    """A training loader without its last minibatch (which holds under half a batch of new samples)."""

    def __init__(self, loader, steps: int) -> None:
        self.loader, self.steps = loader, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= self.steps:
                break  # the sampler drew its permutation at the start: nothing random is skipped
            yield batch


def last_batch_new_samples(strategy) -> int | None:
    """How many new samples the last minibatch of an epoch holds, where the loader cuts the training set into
    consecutive minibatches of train_mb_size (a plain, fast-path or replay loader); None where it does not (a
    task-balanced loader splits each minibatch between tasks)."""
    from avalanche.benchmarks.utils.data_loader import ReplayDataLoader, TaskBalancedDataLoader

    loader = strategy.dataloader
    if isinstance(loader, TaskBalancedDataLoader) and list(loader.batch_sizes) != [strategy.train_mb_size]:
        return None  # several tasks share each minibatch (one task: Avalanche's usual loader, a plain one)
    if isinstance(loader, ReplayDataLoader) and loader.batch_sizes[0] != strategy.train_mb_size:
        return None
    n, b = len(strategy.adapted_dataset), strategy.train_mb_size
    steps = len(loader)
    if steps != math.ceil(n / b):
        return None
    return n - (steps - 1) * b


class Recipe(SupervisedPlugin):
    """Per experience: re-create the optimizer state (`reset`), move the learning rate along the schedule, and skip
    an epoch's last minibatch when it holds under half a batch (`drop_small_last`).

    Why the last: with about nine steps per epoch, one step on one to three samples at the full rate (or, with
    replay, a few new samples against a full memory batch, as Avalanche's ReplayDataLoader draws one at every step)
    can decide where the experience ends. The epoch's order is reshuffled, so a different tail is skipped each epoch.
    """

    def __init__(self, *, schedule: str, milestones: tuple[int, ...] = (), gamma: float = 0.1, warmup: float = 0.0,
                 reset: bool = False, drop_small_last: bool = True) -> None:
        super().__init__()
        self.schedule, self.milestones, self.gamma, self.warmup = schedule, milestones, gamma, warmup
        self.reset, self.drop_small_last = reset, drop_small_last
        self.step = 0
        self.steps_per_epoch = 0
        self.total = 0
        self.trimmed = 0  # minibatches skipped, all experiences together

    @classmethod
    def from_config(cls, cfg: RunConfig) -> "Recipe":
        return cls(schedule=cfg.lr_schedule, milestones=parse_milestones(cfg.lr_milestones), gamma=cfg.lr_gamma,
                   warmup=cfg.warmup, reset=cfg.reset_optimizer == "true", drop_small_last=cfg.last_batch != "keep")

    @property
    def moves_lr(self) -> bool:
        return self.schedule != "constant" or self.warmup > 0

    def before_training_exp(self, strategy, **kwargs) -> None:
        if self.reset:
            strategy.optimizer.state.clear()  # momentum buffers, Adam moments: a fresh optimizer
        self.step, self.total = 0, 0

    def before_training_epoch(self, strategy, **kwargs) -> None:
        # Here, not before_training_exp: every plugin (replay's loader) has installed its loader by now.
        if self.drop_small_last and not isinstance(strategy.dataloader, _Trimmed):
            tail = last_batch_new_samples(strategy)
            steps = len(strategy.dataloader)
            if tail is not None and steps > 1 and 2 * tail < strategy.train_mb_size:
                strategy.dataloader = _Trimmed(strategy.dataloader, steps - 1)
                self.trimmed += strategy.train_epochs
        if not self.total:
            self.steps_per_epoch = len(strategy.dataloader)
            self.total = self.steps_per_epoch * strategy.train_epochs

    def before_training_iteration(self, strategy, **kwargs) -> None:
        if not self.moves_lr:
            return
        f = lr_factor(self.step, steps_per_epoch=self.steps_per_epoch, total=self.total, schedule=self.schedule,
                      milestones=self.milestones, gamma=self.gamma, warmup=self.warmup)
        for group in strategy.optimizer.param_groups:
            group.setdefault("peak_lr", group["lr"])
            group["lr"] = group["peak_lr"] * f
        self.step += 1
