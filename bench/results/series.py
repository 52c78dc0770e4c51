"""The series the Compare page and the report chart, read from the store: retention curves with experience
boundaries, accuracy matrices, forgetting per experience, per-class recall, the training curve. Read through
bench/results/queries.py like every other query; all SQL is parameterised."""
from __future__ import annotations

import pandas as pd

from bench.results.store import TEST, Store
from bench.train.metrics import FORGETTING


def retention(store: Store, run_ids: list[str], *, max_points: int = 80, split: str = TEST) -> pd.DataFrame:
    """Accuracy on each experience's test set against training iterations, mean and std over the seeds of
    each group: (group_id, test_exp, iteration, mean, std, n). Dense points are thinned to about
    `max_points` per curve (the initial and end-of-experience points are always kept)."""
    return store.query(
        """
        WITH e AS (
            SELECT e.*, r.group_id,
                   greatest(1, ceil(max(e.iteration) OVER (PARTITION BY e.run_id) / ?)) AS stride
            FROM evaluations e JOIN runs r USING (run_id) WHERE list_contains(?, e.run_id) AND e.split = ?),
        per_run AS (
            SELECT run_id, group_id, test_exp, iteration, avg(accuracy) AS acc FROM e
            WHERE kind <> 'dense' OR iteration % stride = 0 GROUP BY ALL)
        SELECT group_id, test_exp, iteration, avg(acc) AS mean, coalesce(stddev_samp(acc), 0) AS std,
               count(*) AS n
        FROM per_run GROUP BY ALL ORDER BY group_id, test_exp, iteration
        """,
        [max_points, run_ids, split],
    )


def boundaries(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """Iterations where training moves to the next experience (end of every experience but the last):
    (group_id, trained_exp, iteration). Joint training has none."""
    return store.query(
        """
        WITH ends AS (
            SELECT e.run_id, r.group_id, e.trained_exp, max(e.iteration) AS iteration
            FROM evaluations e JOIN runs r USING (run_id)
            WHERE list_contains(?, e.run_id) AND e.kind = 'end' AND e.split = 'test' GROUP BY ALL),
        marked AS (SELECT *, max(trained_exp) OVER (PARTITION BY run_id) AS last_exp FROM ends)
        SELECT group_id, trained_exp, avg(iteration) AS iteration FROM marked
        WHERE trained_exp < last_exp GROUP BY ALL ORDER BY group_id, trained_exp
        """,
        [run_ids],
    )


def matrices(store: Store, run_ids: list[str], *, split: str = TEST) -> pd.DataFrame:
    """Accuracy matrices R[i, j] (kind 'end'), mean and std over seeds: (group_id, trained_exp, test_exp,
    mean, std, n). Joint training has a single row, trained_exp = the last experience."""
    return store.query(
        """
        SELECT r.group_id, e.trained_exp, e.test_exp, avg(e.accuracy) AS mean,
               coalesce(stddev_samp(e.accuracy), 0) AS std, count(*) AS n
        FROM evaluations e JOIN runs r USING (run_id)
        WHERE list_contains(?, e.run_id) AND e.kind = 'end' AND e.split = ?
        GROUP BY ALL ORDER BY r.group_id, e.trained_exp, e.test_exp
        """,
        [run_ids, split],
    )


def forgetting_by_experience(store: Store, run_ids: list[str], *, definition: str = "forgetting",
                             split: str = TEST) -> pd.DataFrame:
    """Forgetting of each experience j < T-1 in one of the two definitions (bench.train.metrics.FORGETTING):
    'forgetting' (Chaudhry et al. 2018, as metrics.forgetting_per_experience), max_{j <= l <= T-2} R[l, j] -
    R[T-1, j], or 'forgetting_initial' (Avalanche's, as metrics.forgetting_initial_per_experience), R[j, j] -
    R[T-1, j]; per run, then mean and std over seeds: (group_id, test_exp, mean, std, n). Runs without a sequence
    of experiences (joint training) have no rows."""
    if definition not in FORGETTING:
        raise ValueError(f"unknown forgetting definition {definition!r}: expected one of {', '.join(FORGETTING)}")
    earlier = "trained_exp >= test_exp" if definition == "forgetting" else "trained_exp = test_exp"
    return store.query(
        f"""
        WITH m AS (
            SELECT e.run_id, r.group_id, e.trained_exp, e.test_exp, e.accuracy,
                   max(e.trained_exp) OVER (PARTITION BY e.run_id) AS last_exp
            FROM evaluations e JOIN runs r USING (run_id)
            WHERE list_contains(?, e.run_id) AND e.kind = 'end' AND e.split = ?),
        f AS (
            SELECT run_id, group_id, test_exp,
                   max(accuracy) FILTER (WHERE {earlier} AND trained_exp < last_exp)
                   - max(accuracy) FILTER (WHERE trained_exp = last_exp) AS forgetting
            FROM m WHERE test_exp < last_exp GROUP BY ALL)
        SELECT group_id, test_exp, avg(forgetting) AS mean, coalesce(stddev_samp(forgetting), 0) AS std,
               count(*) AS n
        FROM f WHERE forgetting IS NOT NULL GROUP BY ALL ORDER BY group_id, test_exp
        """,
        [run_ids, split],
    )


def class_recall(store: Store, run_ids: list[str], *, split: str = TEST) -> pd.DataFrame:
    """Per-class recall at the initial evaluation and after each experience, mean over seeds:
    (group_id, trained_exp, class_id, recall, exp_of_class, n); trained_exp -1 is the untrained model and
    exp_of_class the (mean) experience the class belongs to, to order classes as the stream meets them."""
    return store.query(
        """
        WITH pts AS (
            SELECT DISTINCT run_id, point, trained_exp FROM evaluations
            WHERE list_contains(?, run_id) AND kind IN ('initial', 'end') AND split = ?),
        per_run AS (
            SELECT c.run_id, r.group_id, p.trained_exp, c.class_id,
                   sum(c.correct) / nullif(sum(c.total), 0) AS recall, min(c.test_exp) AS exp_of_class
            FROM class_recall c JOIN pts p USING (run_id, point) JOIN runs r ON r.run_id = c.run_id
            WHERE list_contains(?, c.run_id) AND c.split = ?
            GROUP BY ALL)
        SELECT group_id, trained_exp, class_id, avg(recall) AS recall, avg(exp_of_class) AS exp_of_class,
               count(*) AS n
        FROM per_run GROUP BY ALL ORDER BY group_id, trained_exp, class_id
        """,
        [run_ids, split, run_ids, split],
    )


def train_curve(store: Store, run_id: str) -> pd.DataFrame:
    """One run's training loss and accuracy over windows of iterations."""
    return store.query(
        "SELECT iteration, trained_exp, epoch, loss, accuracy, n FROM train_curve WHERE run_id = ? "
        "ORDER BY iteration", [run_id])
