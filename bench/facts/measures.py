"""Measures of learning and forgetting facts: plateau length, retention against later updates, power-law fits.

Pure functions over numpy arrays (no torch, no store). Findings they let a user explore: a plateau before
recall appears ("How do language models learn facts? Dynamics, curricula and hallucinations", 2025); recall of
new items dropping steeply and then slowly ("Recognition, recall, and retention of few-shot memories in large
language models"); forgetting following a power law in training steps ("How Do Large Language Models Acquire
Factual Knowledge During Pretraining?").
"""
from __future__ import annotations

import numpy as np


def plateau_length(iterations, recall, *, threshold: float, start: float = 0.0) -> float:
    """Iterations from `start` until recall first reaches `threshold`; nan if it never does.
    `iterations` and `recall` are the dense curve of one experience's facts while it is being learned."""
    it = np.asarray(iterations, dtype=float)
    rc = np.asarray(recall, dtype=float)
    hit = np.flatnonzero((it >= start) & (rc >= threshold))
    return float(it[hit[0]] - start) if len(hit) else float("nan")


def retention(iterations, recall, *, learned_at: float) -> tuple[np.ndarray, np.ndarray]:
    """Recall of one experience after it was learned, against the number of later updates (iterations since
    `learned_at`), normalised by recall at `learned_at` (1.0 = nothing forgotten)."""
    it = np.asarray(iterations, dtype=float)
    rc = np.asarray(recall, dtype=float)
    after = it >= learned_at
    it, rc = it[after], rc[after]
    if len(it) == 0 or rc[0] <= 0:
        return np.zeros(0), np.zeros(0)
    return it - learned_at, rc / rc[0]


def fit_power_law(updates, retained) -> dict[str, float]:
    """Least-squares fit of retained = a * (1 + updates) ** (-exponent) in log-log space.
    Returns {'a', 'exponent', 'r2', 'n'}; points with retained <= 0 cannot enter a log fit and are dropped."""
    u = np.asarray(updates, dtype=float)
    r = np.asarray(retained, dtype=float)
    keep = (r > 0) & np.isfinite(r) & np.isfinite(u) & (u >= 0)
    u, r = u[keep], r[keep]
    nan = float("nan")
    if len(u) < 3 or np.ptp(np.log1p(u)) == 0:
        return {"a": nan, "exponent": nan, "r2": nan, "n": float(len(u))}
    X, Y = np.log1p(u), np.log(r)
    slope, intercept = np.polyfit(X, Y, 1)
    pred = intercept + slope * X
    ss_res = float(((Y - pred) ** 2).sum())
    ss_tot = float(((Y - Y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"a": float(np.exp(intercept)), "exponent": float(-slope), "r2": r2, "n": float(len(u))}


def recognition_accuracy(candidate_scores) -> float:
    """Fraction of items whose true value (column 0) scores highest among its candidates."""
    s = np.asarray(candidate_scores, dtype=float)
    return float((s.argmax(axis=1) == 0).mean())


def hallucination_rate(probabilities, *, threshold: float) -> float:
    """Fraction of answers about never-trained entities given with top probability above `threshold`."""
    p = np.asarray(probabilities, dtype=float)
    return float((p.max(axis=1) > threshold).mean())
