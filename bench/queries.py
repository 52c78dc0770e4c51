"""Read-only queries over the store, returning tidy DataFrames or plain dicts. All SQL is parameterised."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .store import Store


def runs(store: Store, *, run_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per run, newest first (config columns, status, timings, progress)."""
    sql = "SELECT * EXCLUDE (config_json), config_json FROM runs"
    params: list = []
    if run_ids is not None:
        sql += " WHERE list_contains(?, run_id)"
        params.append(run_ids)
    return store.query(sql + " ORDER BY created_at DESC, run_id", params)


def run_metrics(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """Long table (run_id, metric, value)."""
    return store.query("SELECT run_id, metric, value FROM run_metrics WHERE list_contains(?, run_id)", [run_ids])


def end_evaluations(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """The accuracy-matrix rows (kind 'end') and the initial evaluation, long format."""
    return store.query(
        "SELECT run_id, kind, trained_exp, test_exp, accuracy FROM evaluations "
        "WHERE list_contains(?, run_id) AND kind IN ('end', 'initial') ORDER BY run_id, point, test_exp",
        [run_ids],
    )


def accuracy_matrix(store: Store, run_id: str) -> np.ndarray:
    """R[i, j] as stored (rows: trained experience in order; columns: test experience)."""
    df = end_evaluations(store, [run_id])
    df = df[df.kind == "end"]
    if df.empty:
        return np.zeros((0, 0))
    return df.pivot(index="trained_exp", columns="test_exp", values="accuracy").sort_index().to_numpy()


def run_result(store: Store, run_id: str) -> dict:
    """The CLI's JSON shape for one run, rebuilt from stored rows only."""
    row = store.run_row(run_id)
    if row is None:
        raise KeyError(run_id)
    cfg = json.loads(row["config_json"])
    m = run_metrics(store, [run_id])
    metrics = {k: (None if v is None or not math.isfinite(v) else float(v)) for k, v in zip(m.metric, m.value)}
    error = row.get("error")
    return {
        "run_id": run_id, "status": row["status"], "benchmark": cfg["benchmark"], "scenario": cfg["scenario"],
        "strategy": cfg["strategy"], "params": cfg["params"], "benchmark_params": cfg["benchmark_params"],
        "seed": cfg["seed"], "device": row.get("device"), "metrics": metrics,
        "accuracy_matrix": accuracy_matrix(store, run_id).tolist(),
        "error": error.split("\n")[0] if isinstance(error, str) else None,
    }
