"""Read-only queries over the store, returning tidy DataFrames or plain dicts. All SQL is parameterised."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from bench.results.series import (  # noqa: F401  (the chart series are read through this module too)
    boundaries,
    class_recall,
    forgetting_by_experience,
    matrices,
    retention,
    train_curve,
)
from bench.results.store import ROW_TABLES, TEST, VAL, Store
from bench.spec.status import RESULT_STATUSES, Status
from bench.train.metrics import FWT_UNDEFINED, LOWER_IS_BETTER

# Every query reads one split's rows: the test split (TEST) unless it says otherwise (runs without a validation split
# have only test rows, and every row of a store older than the split is a test row).


def runs(store: Store, *, run_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per run, newest first (config columns, status, timings, progress)."""
    sql = "SELECT * EXCLUDE (config_json), config_json FROM runs"
    params: list = []
    if run_ids is not None:
        sql += " WHERE list_contains(?, run_id)"
        params.append(run_ids)
    return store.query(sql + " ORDER BY created_at DESC, run_id", params)


def run_metrics(store: Store, run_ids: list[str], *, split: str = TEST) -> pd.DataFrame:
    """Long table (run_id, metric, value) of one split's metrics (run-level measures such as time_s are test rows).
    FWT is NaN in the scenarios where it measures nothing (bench.train.metrics.FWT_UNDEFINED), also where an older
    release stored a value."""
    return store.query(
        "SELECT m.run_id, m.metric, CASE WHEN m.metric = 'fwt' AND list_contains(?, r.scenario) THEN 'nan'::DOUBLE "
        "ELSE m.value END AS value FROM run_metrics m JOIN runs r USING (run_id) "
        "WHERE list_contains(?, m.run_id) AND m.split = ?", [list(FWT_UNDEFINED), run_ids, split])


def end_evaluations(store: Store, run_ids: list[str], *, split: str = TEST) -> pd.DataFrame:
    """The accuracy-matrix rows (kind 'end') and the initial evaluation, long format."""
    return store.query(
        "SELECT run_id, kind, trained_exp, test_exp, accuracy FROM evaluations "
        "WHERE list_contains(?, run_id) AND kind IN ('end', 'initial') AND split = ? ORDER BY run_id, point, test_exp",
        [run_ids, split],
    )


def _pivot(ends: pd.DataFrame) -> np.ndarray:
    if ends.empty:
        return np.zeros((0, 0))
    return ends.pivot(index="trained_exp", columns="test_exp", values="accuracy").sort_index().to_numpy()


def curve(store: Store, run_id: str, *, split: str = TEST) -> pd.DataFrame:
    """One run's every evaluation point on one split, in order: (point, kind, trained_exp, iteration, test_exp,
    accuracy), what bench.train.metrics.curve_from_rows turns into the dense curve of min-ACC, WC-ACC and anytime
    accuracy."""
    return store.query(
        "SELECT point, kind, trained_exp, iteration, test_exp, accuracy FROM evaluations "
        "WHERE run_id = ? AND split = ? ORDER BY point, test_exp", [run_id, split])


def accuracy_matrix(store: Store, run_id: str, *, split: str = TEST) -> np.ndarray:
    """R[i, j] as stored (rows: trained experience in order; columns: test experience)."""
    df = end_evaluations(store, [run_id], split=split)
    return _pivot(df[df.kind == "end"])


def run_result(store: Store, run_id: str) -> dict:
    """The CLI's JSON shape for one run, rebuilt from stored rows only."""
    return run_results(store, [run_id])[0]


def run_results(store: Store, run_ids: list[str]) -> list[dict]:
    """run_result of each given run, in order, in five store accesses (an import prints a hundred at once): the
    test split's metrics and matrix, and the validation split's (empty for runs without one)."""
    rows = runs(store, run_ids=run_ids).set_index("run_id")
    metrics_by, ends_by = {}, {}
    for split in (TEST, VAL):
        metrics_by[split] = run_metrics(store, run_ids, split=split)
        ends = end_evaluations(store, run_ids, split=split)
        ends_by[split] = ends[ends.kind == "end"]

    def metrics_of(run_id: str, split: str) -> dict:
        m = metrics_by[split]
        mine = m[m.run_id == run_id]
        return {k: (None if v is None or not math.isfinite(v) else float(v))
                for k, v in zip(mine.metric, mine.value, strict=True)}

    out = []
    for run_id in run_ids:
        if run_id not in rows.index:
            raise KeyError(run_id)
        row = rows.loc[run_id].to_dict()
        cfg = json.loads(row["config_json"])
        error = row.get("error")
        out.append({
            "run_id": run_id, "status": row["status"], "benchmark": cfg["benchmark"], "scenario": cfg["scenario"],
            "strategy": cfg["strategy"], "params": cfg["params"], "benchmark_params": cfg["benchmark_params"],
            "seed": cfg["seed"], "device": row.get("device"), "metrics": metrics_of(run_id, TEST),
            "accuracy_matrix": _pivot(ends_by[TEST][ends_by[TEST].run_id == run_id]).tolist(),
            "val_metrics": metrics_of(run_id, VAL),
            "val_accuracy_matrix": _pivot(ends_by[VAL][ends_by[VAL].run_id == run_id]).tolist(),
            "error": error.split("\n")[0] if isinstance(error, str) else None,
        })
    return out


# -- the app's views: everything aggregated here, so pages and charts only receive what they draw ---------------
ROW_EXPORT_TABLES = ("runs", *ROW_TABLES)


def run_overview(store: Store, *, now: float | None = None) -> pd.DataFrame:
    """Every run, newest first, with progress (0..1), elapsed and estimated remaining seconds, and its ACC."""
    import time

    return store.query(
        """
        SELECT r.run_id, r.group_id, r.sweep_id, r.strategy, r.family, r.benchmark, r.scenario, r.seed,
               r.status, r.error, r.device, r.cancel_requested, r.created_at, r.started_at, r.finished_at,
               CAST(r.n_experiences AS DOUBLE) AS n_experiences, CAST(r.current_exp AS DOUBLE) AS current_exp,
               CAST(r.iteration AS DOUBLE) AS iteration, CAST(r.est_iterations AS DOUBLE) AS est_iterations,
               CASE WHEN r.started_at IS NULL THEN NULL
                    ELSE coalesce(r.finished_at, ?) - r.started_at END AS elapsed_s,
               CASE WHEN list_contains(?, r.status) THEN 1.0
                    ELSE least(1.0, coalesce(r.iteration / nullif(r.est_iterations, 0), 0.0)) END AS progress,
               m.value AS acc, json_extract_string(r.config_json, '$.params.backbone') AS backbone
        FROM runs r LEFT JOIN run_metrics m ON m.run_id = r.run_id AND m.metric = 'acc' AND m.split = 'test'
        ORDER BY r.created_at DESC, r.run_id
        """,
        [now if now is not None else time.time(), list(RESULT_STATUSES)],
    ).assign(eta_s=lambda d: _eta(d))


def _eta(d: pd.DataFrame) -> pd.Series:
    running = (d.status == Status.RUNNING) & (d.progress > 0) & d.elapsed_s.notna()
    eta = d.elapsed_s / d.progress.where(running) - d.elapsed_s
    return eta.where(running).clip(lower=0)


def status_counts(store: Store) -> dict[str, int]:
    df = store.query("SELECT status, count(*) AS n FROM runs GROUP BY status")
    return {str(s): int(n) for s, n in zip(df.status, df.n, strict=True)}


def groups(store: Store, *, group_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per group (same config but the seed): its identity, a representative config, run counts, and the
    devices its finished runs ran on (CPU and CUDA runs of one config are one group)."""
    done = list(RESULT_STATUSES)
    where, params = "", [done, done]
    if group_ids is not None:
        where, params = "WHERE list_contains(?, group_id)", [done, done, group_ids]
    return store.query(
        f"""
        SELECT group_id, any_value(benchmark) AS benchmark, any_value(scenario) AS scenario,
               any_value(strategy) AS strategy, any_value(family) AS family,
               arg_max(config_json, created_at) AS config_json, count(*) AS n_runs,
               count(*) FILTER (WHERE list_contains(?, status)) AS n_finished,
               list(DISTINCT seed ORDER BY seed) AS seeds, max(created_at) AS last_created,
               coalesce(list(DISTINCT device ORDER BY device) FILTER (WHERE list_contains(?, status)
                                                                      AND device IS NOT NULL), []) AS devices
        FROM runs {where} GROUP BY group_id ORDER BY last_created DESC
        """,
        params,
    )


def resolve_selection(store: Store, *, group_ids: list[str], run_ids: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The runs a selection of groups and single runs stands for (any status), and the ids not in the store."""
    df = store.query(
        "SELECT run_id, group_id, status, strategy, seed FROM runs "
        "WHERE list_contains(?, group_id) OR list_contains(?, run_id) ORDER BY created_at, run_id",
        [group_ids, run_ids],
    )
    known = set(df.group_id) | set(df.run_id)
    unknown = [x for x in (*group_ids, *run_ids) if x not in known]
    return df, unknown


def with_results(store: Store, run_ids: list[str]) -> list[str]:
    """The runs among `run_ids` that have results to chart (finished or imported), oldest first."""
    df = resolve_selection(store, group_ids=[], run_ids=run_ids)[0]
    return list(df.run_id[df.status.isin(RESULT_STATUSES)])


def latest_comparison(store: Store, *, max_groups: int = 8) -> list[str]:
    """Group ids of the most recent comparison: the sweep of the last run with results (finished or imported),
    else the latest groups of the same stream and scenario. Empty when no run has results."""
    done = list(RESULT_STATUSES)
    last = store.query(
        "SELECT sweep_id, benchmark, scenario FROM runs WHERE list_contains(?, status) "
        "ORDER BY finished_at DESC NULLS LAST LIMIT 1", [done])
    if last.empty:
        return []
    sweep, bench, scenario = last.iloc[0]
    if isinstance(sweep, str):
        df = store.query(
            "SELECT group_id FROM runs WHERE sweep_id = ? AND list_contains(?, status) "
            "GROUP BY group_id ORDER BY min(created_at) LIMIT ?", [sweep, done, max_groups])
    else:
        df = store.query(
            "SELECT group_id FROM runs WHERE benchmark = ? AND scenario = ? AND list_contains(?, status) "
            "GROUP BY group_id ORDER BY max(finished_at) DESC LIMIT ?", [bench, scenario, done, max_groups])
    return list(df.group_id)


def summary(store: Store, run_ids: list[str], *, split: str = TEST) -> pd.DataFrame:
    """Long table (group_id, metric, mean, std, n) of one split's metrics over the seeds of each group; NaN values
    (undefined metrics, e.g. BWT of joint training) are left out, so such a metric has no row, and so is FWT in
    the scenarios where it measures nothing (bench.train.metrics.FWT_UNDEFINED), also where an older release
    stored a value."""
    return store.query(
        """
        SELECT r.group_id, m.metric, avg(m.value) AS mean, stddev_samp(m.value) AS std, count(*) AS n
        FROM run_metrics m JOIN runs r USING (run_id)
        WHERE list_contains(?, m.run_id) AND m.split = ? AND m.value IS NOT NULL AND NOT isnan(m.value)
              AND NOT (m.metric = 'fwt' AND list_contains(?, r.scenario))
        GROUP BY ALL ORDER BY r.group_id, m.metric
        """,
        [run_ids, split, list(FWT_UNDEFINED)],
    )


def validation_scores(store: Store, run_ids: list[str], *, metric: str = "acc") -> pd.DataFrame:
    """The validation numbers to choose hyperparameters on: one row per finished run that has a validation split,
    (run_id, group_id, benchmark, scenario, strategy, seed, config_json, val, test) with `metric` on the validation
    split (val) and the test split (test, reported, never to choose on)."""
    return store.query(
        """
        SELECT r.run_id, r.group_id, r.benchmark, r.scenario, r.strategy, r.seed, r.config_json,
               v.value AS val, t.value AS test
        FROM runs r JOIN run_metrics v ON v.run_id = r.run_id AND v.metric = ? AND v.split = 'val'
        LEFT JOIN run_metrics t ON t.run_id = r.run_id AND t.metric = ? AND t.split = 'test'
        WHERE list_contains(?, r.run_id) AND r.status = ? AND NOT isnan(v.value)
        ORDER BY r.group_id, r.seed
        """,
        [metric, metric, run_ids, Status.FINISHED],
    )


def rank_on_validation(store: Store, run_ids: list[str], *, metric: str = "acc") -> pd.DataFrame:
    """Groups with a validation split ranked on their mean validation `metric` over seeds, among the groups of the
    same strategy on the same stream, scenario and stream parameters (the candidates of one hyperparameter choice):
    (group_id, strategy, benchmark, scenario, val_mean, val_std, test_mean, test_std, n, rank), rank 1 = the
    setting chosen (highest, or lowest for forgetting). The test columns are what to report for it."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return store.query(
        """
        WITH s AS (
            SELECT r.group_id, any_value(r.strategy) AS strategy, any_value(r.benchmark) AS benchmark,
                   any_value(r.scenario) AS scenario,
                   json_extract_string(any_value(r.config_json), '$.benchmark_params') AS benchmark_params,
                   avg(v.value) AS val_mean, stddev_samp(v.value) AS val_std,
                   avg(t.value) AS test_mean, stddev_samp(t.value) AS test_std, count(*) AS n
            FROM runs r JOIN run_metrics v ON v.run_id = r.run_id AND v.metric = ? AND v.split = 'val'
            LEFT JOIN run_metrics t ON t.run_id = r.run_id AND t.metric = ? AND t.split = 'test'
            WHERE list_contains(?, r.run_id) AND r.status = ? AND NOT isnan(v.value)
            GROUP BY r.group_id)
        SELECT group_id, strategy, benchmark, scenario, val_mean, val_std, test_mean, test_std, n,
               rank() OVER (PARTITION BY strategy, benchmark, scenario, benchmark_params
                            ORDER BY ? * val_mean DESC) AS rank
        FROM s ORDER BY strategy, benchmark, scenario, rank, group_id
        """,
        [metric, metric, run_ids, Status.FINISHED, sign],
    )


def group_param(store: Store, run_ids: list[str], param: str) -> pd.DataFrame:
    """(group_id, value): one strategy parameter of each group, read from its stored config."""
    return store.query(
        "SELECT group_id, TRY_CAST(json_extract_string(any_value(config_json), ?) AS DOUBLE) AS value "
        "FROM runs WHERE list_contains(?, run_id) GROUP BY group_id",
        ["$.params." + param, run_ids],
    )



def run_rows(store: Store, run_id: str, table: str) -> pd.DataFrame:
    """All stored rows of one run in one table (for downloads)."""
    if table not in ROW_EXPORT_TABLES:
        raise ValueError(f"unknown table {table!r}: expected one of {', '.join(ROW_EXPORT_TABLES)}")
    order = {"evaluations": " ORDER BY split, point, test_exp",
             "class_recall": " ORDER BY split, point, test_exp, class_id",
             "train_curve": " ORDER BY iteration", "run_metrics": " ORDER BY metric"}.get(table, "")
    return store.query(f"SELECT * FROM {table} WHERE run_id = ?{order}", [run_id])


def configs(store: Store, *, statuses: tuple[str, ...] = (Status.QUEUED, Status.RUNNING, Status.FINISHED)
            ) -> pd.DataFrame:
    """(run_id, status, config_json, created_at) of the runs in the given states, newest first."""
    return store.query(
        "SELECT run_id, group_id, status, config_json, created_at FROM runs WHERE list_contains(?, status) "
        "ORDER BY created_at DESC", [list(statuses)])


def selected_groups(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """The groups the given runs belong to (as `groups`), with n_finished counting only the selected runs."""
    sel = resolve_selection(store, group_ids=[], run_ids=run_ids)[0]
    groups_df = groups(store, group_ids=sorted(set(sel.group_id)))
    done = sel[sel.status.isin(RESULT_STATUSES)].groupby("group_id").size()
    return groups_df.assign(n_finished=groups_df.group_id.map(done).fillna(0).astype(int))


def run_resumes(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """Every time the given runs were queued again after an interruption, oldest first (bench/execute/resume.py)."""
    return store.query("SELECT run_id, attempt, requested_at, requested_by, reason, checkpoint_exp FROM run_resumes "
                       "WHERE list_contains(?, run_id) ORDER BY run_id, attempt", [run_ids])
