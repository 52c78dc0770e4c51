"""Continual-learning metrics as pure numpy functions over an accuracy matrix and a dense accuracy curve.

Conventions: ``R`` is a T x T matrix with ``R[i, j]`` the test accuracy on experience ``j`` after
training experience ``i`` (0-based). ``b`` is the accuracy of the untrained (randomly initialised)
model on each experience. A *curve* is the sequence of every evaluation point during training, in
order: ``(iteration, trained_exp, accuracies)`` with one accuracy per experience (the dense points
every K iterations and the end-of-experience points; the untrained model's point, trained_exp -1, is
ignored). Functions never mutate their inputs and return ``nan`` where the metric is undefined (e.g.
BWT with a single experience).
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

import numpy as np

Point = tuple[int, int, Sequence[float]]  # (iteration, trained_exp, accuracy on each experience)

# Scenarios where FWT measures nothing: with one shared head over all classes, a class-incremental model never
# predicts a class it has not been trained on, so R[j-1, j] = 0 and FWT = -mean(b[1:]), a constant of the
# random initialisation (every strategy at one seed reports the same value).
FWT_UNDEFINED = {"class": "with one shared head a class the model has not been trained on is never predicted, so "
                          "the accuracy on an experience before training it is 0 and FWT would only be minus the "
                          "untrained model's accuracy"}
# The two common definitions of forgetting, by the metric name they are stored under.
FORGETTING = {
    "forgetting": "best earlier accuracy minus final (Chaudhry et al. 2018)",
    "forgetting_initial": "accuracy just after learning minus final (Avalanche)",
}
LOWER_IS_BETTER = ("forgetting", "forgetting_initial")  # every other accuracy metric: higher is better
# Metrics of a sequence of experiences: joint training (one row, no sequence) has none of them.
SEQUENCE_METRICS = ("avg_incremental_acc", "bwt", "forgetting", "forgetting_initial", "learning_acc", "fwt",
                    "min_acc", "wc_acc", "anytime_acc")


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
    ``b[j]`` is the accuracy of the randomly initialised model on experience j. Undefined in the
    class-incremental scenario (see FWT_UNDEFINED): `summary` reports nan there."""
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


def forgetting_initial_per_experience(R) -> np.ndarray:
    """Forgetting of each experience j < T-1 as Avalanche defines it (``ExperienceForgetting``,
    ``StreamForgetting``): f_j = R[j, j] - R[T-1, j], the accuracy just after learning it minus its final
    accuracy. The last experience has none (nan)."""
    R = _matrix(R)
    T = R.shape[0]
    out = np.full(T, np.nan)
    for j in range(T - 1):
        out[j] = R[j, j] - R[-1, j]
    return out


def forgetting_initial(R) -> float:
    """Average of `forgetting_initial_per_experience` over experiences 0..T-2 (Avalanche's stream forgetting).
    On the end-of-experience matrix it equals -BWT; it is below the Chaudhry forgetting wherever an
    experience's accuracy rose after it was learned."""
    f = forgetting_initial_per_experience(R)
    return float(np.nanmean(f)) if np.isfinite(f).any() else float("nan")


def learning_accuracy(R) -> float:
    """Learning accuracy / plasticity: mean of R[j, j], the accuracy on each experience right after
    learning it (Riemer et al. 2019, "Learning to Learn without Forgetting by Maximizing Transfer and
    Minimizing Interference")."""
    R = _matrix(R)
    return float(np.mean(np.diag(R)))


# -- continual evaluation: metrics of the dense curve ----------------------------------------------------------
class _Points(NamedTuple):
    its: np.ndarray  # iteration of each point
    exps: np.ndarray  # the experience being trained
    accs: np.ndarray  # points x experiences


def _curve(curve) -> _Points:
    """The trained points in order, as arrays; of several points at one iteration (a dense point that falls on an
    experience's last iteration, then its end point) only the last is kept, so no model state counts twice."""
    if isinstance(curve, _Points):
        return curve
    points = [(int(it), int(exp), np.asarray(accs, dtype=float)) for it, exp, accs in curve if exp >= 0]
    if not points:
        return _Points(np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros((0, 0)))
    its = np.array([p[0] for p in points])
    last = np.r_[its[1:] != its[:-1], True]
    return _Points(its[last], np.array([p[1] for p in points])[last], np.vstack([p[2] for p in points])[last])


def min_accuracy_per_experience(curve: Iterable[Point], n_exp: int) -> np.ndarray:
    """For each experience j < T-1: its minimum accuracy at any evaluation after it was learned, i.e. at every
    point while a later experience trains, up to the end of the stream (De Lange, van de Ven & Tuytelaars,
    "Continual evaluation for lifelong learning: identifying the stability gap", ICLR 2023: min over
    iterations n with |T_j| < n <= t). The last experience has none (nan)."""
    _, exps, accs = _curve(curve)
    out = np.full(n_exp, np.nan)
    for j in range(n_exp - 1):
        later = exps > j
        if later.any():
            out[j] = accs[later, j].min()
    return out


def min_accuracy(curve: Iterable[Point], n_exp: int) -> float:
    """min-ACC (De Lange et al. 2023) at the end of the stream: the average over the previous experiences
    0..T-2 of their minimum accuracy after being learned. A lower bound on how well an old experience was
    known at any time, where ACC only sees the end. Deviation: the minimum is over the evaluated iterations
    (every `eval_every` iterations and each experience's end) rather than every iteration, unless
    eval_every = 1; a sparser curve can only miss dips, so it overestimates the paper's value."""
    m = min_accuracy_per_experience(curve, n_exp)
    return float(np.nanmean(m)) if np.isfinite(m).any() else float("nan")


def worst_case_accuracy(curve: Iterable[Point], n_exp: int) -> float:
    """WC-ACC (De Lange et al. 2023) at the last iteration of the stream: 1/T * A(E_T, f_t) + (1 - 1/T) *
    min-ACC, the accuracy on the experience being learned at that iteration (the last) weighed against the
    worst-case accuracy on the T-1 previous ones; as the official code's WCACCPluginMetric, the mean of the
    current accuracy and the T-1 minima. Same deviation as `min_accuracy`."""
    points = _curve(curve)
    if n_exp < 2 or not len(points.its):
        return float("nan")
    current = points.accs[-1, n_exp - 1]
    return float(current / n_exp + (1 - 1 / n_exp) * min_accuracy(points, n_exp))


def anytime_accuracy(curve: Iterable[Point]) -> float:
    """Average anytime accuracy: the mean, over every evaluation point during training, of the mean accuracy
    on the experiences seen so far (0..the one being trained), as the "anytime average accuracy" (AAA) of
    Caccia et al. 2022 ("New Insights on Reducing Abrupt Representation Change in Online Continual
    Learning") and Soutif-Cormerais et al. 2023. Where ACC asks "how good is the model at the end", it asks
    "how good was it whenever someone queried it". Points are the evaluated iterations (see `min_accuracy`)."""
    _, exps, accs = _curve(curve)
    if not len(exps):
        return float("nan")
    seen = np.arange(accs.shape[1])[None, :] <= exps[:, None]
    return float(np.mean((accs * seen).sum(1) / seen.sum(1)))


def curve_from_rows(rows) -> list[Point]:
    """A curve from stored evaluation rows of one run and split (columns point, iteration, trained_exp,
    test_exp, accuracy), as bench.results.queries.curve returns them."""
    out: list[Point] = []
    for (_, it, exp), d in rows.sort_values(["point", "test_exp"]).groupby(["point", "iteration", "trained_exp"],
                                                                             sort=True):
        out.append((int(it), int(exp), d.accuracy.to_numpy(dtype=float)))
    return out


# -- one run's numbers ----------------------------------------------------------------------------------------
def summary(R, b=None, *, scenario: str | None = None, curve: Iterable[Point] | None = None) -> dict[str, float]:
    """All metrics of one run, keyed by the names used in the store and the CLI. `scenario` decides whether FWT
    is defined (FWT_UNDEFINED); `curve` feeds the continual-evaluation metrics (nan without it)."""
    R = np.asarray(R, dtype=float)
    nan = float("nan")
    if R.ndim == 2 and R.shape[0] == 1 and R.shape[1] > 1:
        # Joint training learns every experience at once: one row, no sequence, so only ACC exists.
        return {"acc": float(R[0].mean()), **{k: nan for k in SEQUENCE_METRICS}}
    T = R.shape[0]
    points = _curve(curve if curve is not None else [])
    has_curve = len(points.its) > 0
    fwt_ok = b is not None and scenario not in FWT_UNDEFINED
    return {
        "acc": average_accuracy(R),
        "avg_incremental_acc": average_incremental_accuracy(R),
        "bwt": backward_transfer(R),
        "forgetting": forgetting(R),
        "forgetting_initial": forgetting_initial(R),
        "learning_acc": learning_accuracy(R),
        "fwt": forward_transfer(R, b) if fwt_ok else nan,
        "min_acc": min_accuracy(points, T) if has_curve else nan,
        "wc_acc": worst_case_accuracy(points, T) if has_curve else nan,
        "anytime_acc": anytime_accuracy(points) if has_curve else nan,
    }
