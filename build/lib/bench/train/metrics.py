"""Continual-learning metrics as pure numpy functions over an accuracy matrix.

Conventions: ``R`` is a T x T matrix with ``R[i, j]`` the test accuracy on experience ``j`` after
training experience ``i`` (0-based). ``b`` is the accuracy of the untrained (randomly initialised)
model on each experience. Functions never mutate their inputs and return ``nan`` where the metric
is undefined (e.g. BWT with a single experience).
"""
from __future__ import annotations

import numpy as np


def _matrix(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise ValueError(f"accuracy matrix must be square and non-empty, got shape {R.shape}")
    return R


def average_accuracy(R) -> float:
    """ACC: mean accuracy over all experiences after the last one (Lopez-Paz & Ranzato 2017, GEM, eq. 2)."""
    R = _matrix(R)
    return float(R[-1].mean())


def average_incremental_accuracy(R) -> float:
    """Average incremental accuracy: mean over steps i of the mean accuracy on experiences 0..i
    (Rebuffi et al. 2017, "iCaRL: Incremental Classifier and Representation Learning")."""
    R = _matrix(R)
    return float(np.mean([R[i, : i + 1].mean() for i in range(R.shape[0])]))


def backward_transfer(R) -> float:
    """BWT = 1/(T-1) * sum_{j<T-1} (R[T-1, j] - R[j, j]) (Lopez-Paz & Ranzato 2017, GEM, eq. 3).
    Negative values mean forgetting."""
    R = _matrix(R)
    T = R.shape[0]
    if T < 2:
        return float("nan")
    return float(np.mean([R[-1, j] - R[j, j] for j in range(T - 1)]))


def forward_transfer(R, b) -> float:
    """FWT = 1/(T-1) * sum_{j>=1} (R[j-1, j] - b[j]) (Lopez-Paz & Ranzato 2017, GEM, eq. 4), where
    ``b[j]`` is the accuracy of the randomly initialised model on experience j."""
    R = _matrix(R)
    b = np.asarray(b, dtype=float)
    T = R.shape[0]
    if b.shape != (T,):
        raise ValueError(f"b must have one entry per experience ({T}), got shape {b.shape}")
    if T < 2:
        return float("nan")
    return float(np.mean([R[j - 1, j] - b[j] for j in range(1, T)]))


def forgetting_per_experience(R) -> np.ndarray:
    """Forgetting of each experience j < T-1 (Chaudhry et al. 2018, "Riemannian Walk for Incremental
    Learning"): f_j = max_{l in [j, T-2]} R[l, j] - R[T-1, j], the best accuracy it ever had after being
    learned minus its final accuracy. The last experience has no forgetting (nan)."""
    R = _matrix(R)
    T = R.shape[0]
    out = np.full(T, np.nan)
    for j in range(T - 1):
        out[j] = R[j : T - 1, j].max() - R[-1, j]
    return out


def forgetting(R) -> float:
    """Average forgetting over experiences 0..T-2 (Chaudhry et al. 2018); nan for a single experience."""
    f = forgetting_per_experience(R)
    return float(np.nanmean(f)) if np.isfinite(f).any() else float("nan")


def learning_accuracy(R) -> float:
    """Learning accuracy / plasticity: mean of R[j, j], the accuracy on each experience right after
    learning it (Riemer et al. 2019, "Learning to Learn without Forgetting by Maximizing Transfer and
    Minimizing Interference")."""
    R = _matrix(R)
    return float(np.mean(np.diag(R)))


def summary(R, b=None) -> dict[str, float]:
    """All matrix metrics of one run, keyed by the names used in the store and the CLI."""
    R = np.asarray(R, dtype=float)
    if R.ndim == 2 and R.shape[0] == 1 and R.shape[1] > 1:
        # Joint training learns every experience at once: one row, no sequence, so only ACC exists.
        nan = float("nan")
        return {"acc": float(R[0].mean()), "avg_incremental_acc": nan, "bwt": nan, "forgetting": nan,
                "learning_acc": nan, "fwt": nan}
    out = {
        "acc": average_accuracy(R),
        "avg_incremental_acc": average_incremental_accuracy(R),
        "bwt": backward_transfer(R),
        "forgetting": forgetting(R),
        "learning_acc": learning_accuracy(R),
        "fwt": forward_transfer(R, b) if b is not None else float("nan"),
    }
    return out
