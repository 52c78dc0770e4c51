"""Store queries for the facts stream: recall and recognition points, retention against later updates with power-law
fits, and a per-group summary (final recall and recognition of the first experience, hallucination, plateau)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.facts import measures as knowledge
from bench.results.store import Store


def recall_points(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """Per run: every evaluation point's recall (accuracy) and recognition on each experience, with the
    iteration and the experience being trained: (run_id, group_id, strategy, seed, point, kind, trained_exp,
    iteration, test_exp, recall, recognition)."""
    return store.query(
        """
        SELECT e.run_id, r.group_id, r.strategy, r.seed, e.point, e.kind, e.trained_exp, e.iteration, e.test_exp,
               e.accuracy AS recall, p.value AS recognition
        FROM evaluations e JOIN runs r USING (run_id)
        LEFT JOIN probes p ON p.run_id = e.run_id AND p.point = e.point AND p.test_exp = e.test_exp
             AND p.measure = 'recognition'
        WHERE list_contains(?, e.run_id) ORDER BY e.run_id, e.point, e.test_exp
        """,
        [run_ids],
    )


def retention_table(points: pd.DataFrame) -> pd.DataFrame:
    """Retention of each experience (but the last) after it was learned, against later updates:
    (run_id, group_id, strategy, test_exp, updates, retained)."""
    out = []
    for (run_id, exp), d in points.groupby(["run_id", "test_exp"]):
        end = d[(d.kind == "end") & (d.trained_exp == exp)]
        if end.empty or exp == points[points.run_id == run_id].test_exp.max():
            continue
        u, r = knowledge.retention(d.iteration, d.recall, learned_at=float(end.iteration.iloc[0]))
        out.append(pd.DataFrame({"run_id": run_id, "group_id": d.group_id.iloc[0], "strategy": d.strategy.iloc[0],
                                 "test_exp": exp, "updates": u, "retained": r}))
    cols = ["run_id", "group_id", "strategy", "test_exp", "updates", "retained"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def power_law_fits(retained: pd.DataFrame) -> pd.DataFrame:
    """One power-law fit per group over all its seeds and experiences: (group_id, a, exponent, r2, n)."""
    rows = [{"group_id": g, **knowledge.fit_power_law(d.updates, d.retained)} for g, d in retained.groupby("group_id")]
    return pd.DataFrame(rows, columns=["group_id", "a", "exponent", "r2", "n"])


def plateaus(points: pd.DataFrame, *, threshold: float = 0.5) -> pd.DataFrame:
    """Iterations each experience needed, from the start of its training, until its recall first passed
    `threshold`: (run_id, group_id, test_exp, plateau)."""
    rows = []
    for (run_id, exp), d in points.groupby(["run_id", "test_exp"]):
        before = points[(points.run_id == run_id) & (points.trained_exp < exp) & (points.kind == "end")]
        start = float(before.iteration.max()) if not before.empty else 0.0
        during = d[d.trained_exp == exp]
        rows.append({"run_id": run_id, "group_id": d.group_id.iloc[0], "test_exp": exp,
                     "plateau": knowledge.plateau_length(during.iteration, during.recall, threshold=threshold,
                                                         start=start)})
    return pd.DataFrame(rows, columns=["run_id", "group_id", "test_exp", "plateau"])


def facts_summary(store: Store, run_ids: list[str], *, threshold: float = 0.5) -> pd.DataFrame:
    """Per group (mean and std over seeds): final recall and recognition of the first experience, final
    hallucination rate, mean plateau length, and the power-law exponent of retention (fit over all seeds)."""
    points = recall_points(store, run_ids)
    if points.empty:
        return pd.DataFrame()
    last = points[points.point == points.groupby("run_id").point.transform("max")]
    first = last[last.test_exp == 0].set_index("run_id")[["group_id", "strategy", "recall", "recognition"]]
    hall = store.query(
        "SELECT p.run_id, p.value AS hallucination FROM probes p WHERE list_contains(?, p.run_id) AND "
        "p.measure = 'hallucination' AND p.point = (SELECT max(point) FROM probes q WHERE q.run_id = p.run_id)",
        [run_ids]).set_index("run_id")
    plat = plateaus(points, threshold=threshold).groupby("run_id").plateau.mean()
    per_run = first.join(hall).join(plat)
    agg = per_run.groupby(["group_id", "strategy"]).agg(["mean", "std", "count"])
    agg.columns = [f"{a}_{b}" for a, b in agg.columns]
    fits = power_law_fits(retention_table(points)).set_index("group_id")
    out = agg.reset_index().join(fits, on="group_id")
    return out


def fitted_curve(fits: pd.DataFrame, max_updates: float, n: int = 40) -> pd.DataFrame:
    """Points of each group's fitted power law for drawing: (group_id, updates, retained)."""
    u = np.unique(np.round(np.geomspace(1, max(2.0, max_updates + 1), n) - 1))
    rows = [pd.DataFrame({"group_id": f.group_id, "updates": u, "retained": f.a * (1 + u) ** (-f.exponent)})
            for f in fits.itertuples() if np.isfinite(f.exponent)]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["group_id", "updates", "retained"])


# -- thin, aggregated tables for the charts (bench.knowledge_charts) ----------------------------------------
def recall_curves(points: pd.DataFrame, *, max_points: int = 80, keep_first: int = 20) -> pd.DataFrame:
    """Recall and recognition of each experience against iterations, mean and std over the seeds of each
    group: (group_id, test_exp, iteration, recall_mean, recall_std, recognition_mean, recognition_std, n).
    Dense points are thinned to about `max_points` per curve; the first `keep_first` evaluation points (where
    a log-scaled iteration axis spreads them out) and the initial and end-of-experience points are kept."""
    cols = ["group_id", "test_exp", "iteration", "recall_mean", "recall_std", "recognition_mean",
            "recognition_std", "n"]
    if points.empty:
        return pd.DataFrame(columns=cols)
    n_points = points.groupby("run_id").point.transform("max") + 1
    stride = np.maximum(1, np.ceil(n_points / max_points)).astype(int)
    keep = (points.kind != "dense") | (points.point < keep_first) | (points.point % stride == 0)
    per_run = (points[keep].groupby(["run_id", "group_id", "test_exp", "iteration"], as_index=False)
               [["recall", "recognition"]].mean())
    g = per_run.groupby(["group_id", "test_exp", "iteration"])
    out = g.agg(recall_mean=("recall", "mean"), recall_std=("recall", "std"),
                recognition_mean=("recognition", "mean"), recognition_std=("recognition", "std"),
                n=("run_id", "nunique")).reset_index()
    return out.fillna({"recall_std": 0.0, "recognition_std": 0.0})[cols]


def final_recall_recognition(points: pd.DataFrame) -> pd.DataFrame:
    """Recall and recognition of every experience at the end of each run, mean and std over seeds, long:
    (group_id, test_exp, measure ('recall' | 'recognition'), mean, std, n)."""
    cols = ["group_id", "test_exp", "measure", "mean", "std", "n"]
    if points.empty:
        return pd.DataFrame(columns=cols)
    last = points[points.point == points.groupby("run_id").point.transform("max")]
    long = last.melt(id_vars=["run_id", "group_id", "test_exp"], value_vars=["recall", "recognition"],
                     var_name="measure").dropna(subset=["value"])
    out = long.groupby(["group_id", "test_exp", "measure"]).value.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"count": "n"}).fillna({"std": 0.0})[cols]


def retention_points(retained: pd.DataFrame, *, bins: int = 30) -> pd.DataFrame:
    """retention_table rows averaged over seeds and experiences in `bins` log-spaced bins of 1 + updates per
    group, for a log-log plot (rows with retained <= 0 cannot be drawn there and are left out, as in the
    fit): (group_id, updates, retained, n)."""
    cols = ["group_id", "updates", "retained", "n"]
    d = retained[retained.retained > 0]
    if d.empty:
        return pd.DataFrame(columns=cols)
    edges = np.geomspace(1, float(d.updates.max()) + 2, bins + 1)
    d = d.assign(bin=np.searchsorted(edges, d.updates.astype(float) + 1, side="right"))
    out = d.groupby(["group_id", "bin"]).agg(updates=("updates", "mean"), retained=("retained", "mean"),
                                            n=("retained", "size")).reset_index()
    return out[cols]
