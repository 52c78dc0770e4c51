"""Read a long table (CSV or Parquet) of evaluations from any script into imported runs.

One row per (run, evaluation point, test experience): ``run, strategy, seed, step, trained_experience,
eval_experience, accuracy`` (and optionally ``loss``). ``trained_experience`` is the experience being trained
(empty or -1 before training); the last evaluation of each trained experience (its largest step) is that
experience's row of the accuracy matrix, the earlier ones are the dense curves. Experiences count from 0;
accuracy is a fraction in [0, 1].
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results.importers import ImportedRun, Point, digest, read_bytes
from bench.spec.params import BadInput

COLUMNS = ("run", "strategy", "seed", "step", "trained_experience", "eval_experience", "accuracy")
SUFFIXES = (".csv", ".parquet", ".pq")


def _read(path: Path, data: bytes) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BadInput(f"{path}: expected a .csv or .parquet file, got {suffix or 'no suffix'!r}")
    try:
        if suffix == ".csv":
            if not data.strip():
                raise BadInput(f"{path} is empty: expected a header line {','.join(COLUMNS)}")
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
        else:
            df = pd.read_parquet(io.BytesIO(data))
            df = df.astype(object).where(df.notna(), "").astype(str)  # missing values as blanks, as in a CSV
    except BadInput:
        raise
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not a text CSV file (not UTF-8)") from None
    except Exception as exc:  # pandas' and pyarrow's parse errors: refuse in one line, whatever the kind
        raise BadInput(f"{path} cannot be read as {suffix[1:]}: {str(exc).splitlines()[0][:160]}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise BadInput(f"{path} has no column {missing[0]!r}: expected the columns {', '.join(COLUMNS)} "
                       f"(found {', '.join(df.columns)[:120]})")
    if df.empty:
        raise BadInput(f"{path} has a header but no rows")
    return df


def _numbers(path: Path, df: pd.DataFrame, column: str, *, integer: bool, blank: float | None = None) -> np.ndarray:
    raw = df[column].astype(str).str.strip()
    if blank is not None:
        raw = raw.where(~raw.isin(["", "None", "nan", "NaN"]), str(blank))
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0))
    if integer:
        bad |= (values % 1 != 0) | (values < (-1 if blank is not None else 0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "an integer >= 0" if integer else "a number"
        raise BadInput(f"{path} row {i + 1}: {column} {df[column].iloc[i]!r} is not {kind}")
    return values.to_numpy(dtype=float)


def _loss(path: Path, df: pd.DataFrame) -> np.ndarray | float:
    """The optional loss column: blank where a script did not record it, else a number."""
    if "loss" not in df.columns:
        return np.nan
    raw = df["loss"].astype(str).str.strip()
    blank = raw.isin(["", "None", "nan", "NaN"])
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BadInput(f"{path} row {i + 1}: loss {df['loss'].iloc[i]!r} is not a number")
    return values.to_numpy(dtype=float)


def load(raw: str) -> list[ImportedRun]:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise BadInput(f"{raw!r} {'is a folder' if path.is_dir() else 'does not exist'}: expected a CSV or Parquet "
                       f"file with the columns {', '.join(COLUMNS)}")
    df = _read(path, read_bytes(path))
    t = pd.DataFrame({
        "run": df["run"].astype(str).str.strip(), "strategy": df["strategy"].astype(str).str.strip(),
        "seed": _numbers(path, df, "seed", integer=True), "step": _numbers(path, df, "step", integer=False),
        "trained": _numbers(path, df, "trained_experience", integer=True, blank=-1),
        "test": _numbers(path, df, "eval_experience", integer=True),
        "accuracy": _numbers(path, df, "accuracy", integer=False),
        "loss": _loss(path, df),
    })
    if (t.run == "").any():
        raise BadInput(f"{path} row {int(np.flatnonzero(t.run == '')[0]) + 1}: run is empty")
    return [_run(path, name, rows) for name, rows in t.groupby("run", sort=False)]


def _run(path: Path, name: str, rows: pd.DataFrame) -> ImportedRun:
    for column in ("strategy", "seed"):
        if rows[column].nunique() > 1:
            raise BadInput(f"{path}: run {name!r} has {rows[column].nunique()} different values of {column}: "
                           "expected one per run")
    dup = rows.duplicated(["trained", "step", "test"], keep=False)
    if dup.any() and rows[dup].groupby(["trained", "step", "test"]).accuracy.nunique().max() > 1:
        first = rows[dup].iloc[0]
        raise BadInput(f"{path}: run {name!r} has two different accuracies on experience {int(first.test)} at step "
                       f"{first.step:g}")
    rows = rows.drop_duplicates(["trained", "step", "test"], keep="last")
    n_test = int(rows.test.max()) + 1
    last_step = rows[rows.trained >= 0].groupby("trained").step.max().to_dict()
    # one row per evaluation point, one column per test experience (NaN: not evaluated there)
    grid = rows.set_index(["step", "trained", "test"])[["accuracy", "loss"]].unstack("test").sort_index()
    acc = grid["accuracy"].reindex(columns=range(n_test)).to_numpy()
    loss = grid["loss"].reindex(columns=range(n_test)).to_numpy()
    points = []
    for k, (step, trained) in enumerate(grid.index):
        kind = "initial" if trained < 0 else "end" if step == last_step[trained] else "dense"
        points.append(Point(kind=kind, trained_exp=int(trained), step=float(step),
                            accuracy=[None if np.isnan(a) else float(a) for a in acc[k]],
                            loss=[None if np.isnan(v) else float(v) for v in loss[k]]))
    points.sort(key=lambda p: (p.step, p.trained_exp))
    values = rows.sort_values(["step", "trained", "test"])[["step", "trained", "test", "accuracy", "loss"]]
    canonical = values.to_numpy(dtype="<f8").tobytes()  # the run's numbers in a fixed order and byte layout
    content = digest("table", name, str(rows.strategy.iloc[0]), str(int(rows.seed.iloc[0])), canonical)
    return ImportedRun(name=name, source=str(path.resolve()), content_hash=content,
                       points=points, step_unit="step", strategy=str(rows.strategy.iloc[0]),
                       seed=int(rows.seed.iloc[0]))
