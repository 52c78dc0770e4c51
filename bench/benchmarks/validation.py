"""The validation split: a seeded, class-stratified fraction of each experience's training data, held out.

Hyperparameters are chosen on data a continual learner could have seen, never on the test sets (the realistic
protocol of Masana et al., "Class-incremental learning: survey and performance evaluation"): each experience's
validation set comes out of its own training data, so it is only "seen" when that experience is, and the run trains
on the rest. The test sets are untouched, and so are the numbers reported from them.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.benchmarks.base import BenchmarkSpec, Experience, Stream
from bench.spec.params import BadInput

_SALT = 7919  # keeps the hold-out's random numbers apart from the class order's, which use the bare seed


def check(bench: BenchmarkSpec, fraction: float) -> None:
    """Refuse a validation split where held-out training samples would not be new data."""
    if fraction > 0 and not bench.images:
        raise BadInput(f"val_fraction={fraction!r} does not apply to {bench.name}: its test questions are the very "
                       "facts it trains on, so held-out training questions would not be unseen data; use 0")


def held_out_indices(classes: np.ndarray, fraction: float, *, rng: np.random.RandomState) -> np.ndarray:
    """Indices of the validation samples: round(n_c * fraction) of each class c (stratified), at most n_c - 1 so that
    every class keeps a training sample; at least one sample in all when some class has two or more."""
    picked = []
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        rng.shuffle(idx)
        k = min(int(np.floor(len(idx) * fraction + 0.5)), len(idx) - 1)
        picked.append(idx[:k])
    out = np.concatenate(picked) if picked else np.zeros(0, dtype=int)
    if out.size == 0 and fraction > 0:  # a tiny experience: one sample of its largest class, when it can spare one
        values, counts = np.unique(classes, return_counts=True)
        if counts.size and counts.max() >= 2:
            out = rng.permutation(np.flatnonzero(classes == values[counts.argmax()]))[:1]
    return np.sort(out)


def hold_out(stream: Stream, fraction: float, *, seed: int) -> Stream:
    """The stream with `fraction` of each experience's training data moved to its validation set (val_x, val_y,
    val_cls); the same seed always holds out the same samples. A fraction of 0 returns the stream unchanged."""
    if fraction <= 0:
        return stream
    import torch

    exps: list[Experience] = []
    for t, e in enumerate(stream.experiences):
        rng = np.random.RandomState([seed % 2**32, _SALT, t])
        val = torch.as_tensor(held_out_indices(e.train_cls.cpu().numpy(), fraction, rng=rng), dtype=torch.long)
        keep = torch.ones(len(e.train_y), dtype=torch.bool)
        keep[val] = False
        exps.append(replace(e, train_x=e.train_x[keep], train_y=e.train_y[keep], train_cls=e.train_cls[keep],
                            val_x=e.train_x[val], val_y=e.train_y[val], val_cls=e.train_cls[val]))
    return replace(stream, experiences=exps, info={**stream.info, "val_fraction": fraction})
