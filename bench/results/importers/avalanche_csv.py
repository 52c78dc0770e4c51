"""Read the output folder of Avalanche's CSVLogger (eval_results.csv, training_results.csv) into imported runs.

CSVLogger (avalanche/logging/csv_logger.py, avalanche-lib 0.6.0) writes one eval_results.csv row per test
experience evaluated outside training: ``eval_exp, training_exp, eval_accuracy, eval_loss, forgetting`` with 4
decimals, training_exp being the experience trained last (``None`` before any training). The rows after training
experience i are row i of the accuracy matrix. training_results.csv has one row per epoch (training accuracy and
loss): the training curve. The file records no iteration counts, so steps count epochs (or experiences when
there is no training file), and it does not name the evaluated stream: a file that evaluates several streams
after one experience is refused rather than guessed at.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from bench.results.importers import ImportedRun, Point, digest, existing_dir, read_bytes, run_name
from bench.spec.params import BadInput

EVAL_FILE, TRAIN_FILE = "eval_results.csv", "training_results.csv"
EVAL_COLUMNS = ("eval_exp", "training_exp", "eval_accuracy")
TRAIN_COLUMNS = ("training_exp", "epoch", "training_accuracy", "training_loss")


def folders(raw: str) -> list[Path]:
    """The CSVLogger folders in DIR: DIR itself, else every folder below it that holds eval_results.csv."""
    root = existing_dir(raw, what="the output folder of Avalanche's CSVLogger")
    if (root / EVAL_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.rglob(EVAL_FILE) if p.is_file())
    if not found:
        raise BadInput(f"{raw!r} holds no {EVAL_FILE} (nor do its sub-folders): expected the output folder of "
                       "Avalanche's CSVLogger")
    return found


def load(raw: str) -> list[ImportedRun]:
    root = Path(raw).expanduser()
    return [read_folder(folder, name=run_name(folder, root)) for folder in folders(raw)]


def _table(path: Path, data: bytes, required: tuple[str, ...]) -> list[dict]:
    """The rows of one CSV file as dicts (with their line numbers), refusing what CSVLogger would not write."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not a text CSV file (not UTF-8)") from None
    if not text.strip():
        raise BadInput(f"{path} is empty: expected a header line {','.join(required)},...")
    try:
        lines = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise BadInput(f"{path} is not valid CSV: {exc}") from None
    header = [h.strip() for h in lines[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise BadInput(f"{path} has no column {missing[0]!r}: expected the columns {', '.join(required)} "
                       f"(found {', '.join(header)[:120]})")
    rows = []
    for n, fields in enumerate(lines[1:], start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            raise BadInput(f"{path} line {n} has {len(fields)} fields, the header {len(header)}")
        rows.append({"line": n, **{h: f.strip() for h, f in zip(header, fields, strict=True)}})
    return rows


def _number(path: Path, row: dict, column: str, *, integer: bool = False, none_ok: bool = False):
    raw = row.get(column, "")
    if none_ok and raw in ("None", ""):
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise BadInput(f"{path} line {row['line']}: {column} {raw!r} is not {kind}") from None
    if integer and value < 0 or not integer and not math.isfinite(value):
        raise BadInput(f"{path} line {row['line']}: {column} {raw!r} is out of range")
    return value


def _evaluations(path: Path, rows: list[dict]) -> dict[int, dict[int, tuple[float, float | None]]]:
    """trained experience (-1: before training) -> test experience -> (accuracy, loss)."""
    out: dict[int, dict[int, tuple[float, float | None]]] = {}
    for row in rows:
        trained = _number(path, row, "training_exp", integer=True, none_ok=True)
        trained = -1 if trained is None else trained
        test = _number(path, row, "eval_exp", integer=True)
        acc = _number(path, row, "eval_accuracy")
        loss = _number(path, row, "eval_loss") if row.get("eval_loss") not in (None, "") else None
        seen = out.setdefault(trained, {})
        if test in seen and seen[test][0] != acc:
            after = "before training" if trained < 0 else f"after training experience {trained}"
            raise BadInput(f"{path} line {row['line']}: experience {test} evaluated twice {after} with different "
                           "accuracies (CSVLogger does not name the stream: evaluate only the test stream)")
        seen[test] = (acc, loss)
    if not out:
        raise BadInput(f"{path} has a header but no evaluations")
    return out


def read_folder(folder: Path, *, name: str) -> ImportedRun:
    eval_path, train_path = folder / EVAL_FILE, folder / TRAIN_FILE
    eval_bytes = read_bytes(eval_path)
    train_bytes = read_bytes(train_path) if train_path.is_file() else b""
    by_exp = _evaluations(eval_path, _table(eval_path, eval_bytes, EVAL_COLUMNS))
    curve, epochs_done = [], {}  # epochs_done[i]: epochs trained up to the end of experience i
    if train_bytes.strip():
        total = 0
        for row in _table(train_path, train_bytes, TRAIN_COLUMNS):
            exp = _number(train_path, row, "training_exp", integer=True)
            total += 1
            epochs_done[exp] = total
            curve.append({"iteration": total, "trained_exp": exp, "epoch": _number(train_path, row, "epoch",
                                                                                    integer=True),
                          "loss": _number(train_path, row, "training_loss"),
                          "accuracy": _number(train_path, row, "training_accuracy")})
    n_test = max(j for cells in by_exp.values() for j in cells) + 1
    points = []
    for trained in sorted(by_exp):
        cells = by_exp[trained]
        acc = [cells[j][0] if j in cells else None for j in range(n_test)]
        loss = [cells[j][1] if j in cells else None for j in range(n_test)]
        if trained >= 0 and epochs_done and trained not in epochs_done:
            raise BadInput(f"{train_path} has no epoch of experience {trained}, which {EVAL_FILE} evaluates after: "
                           "the two files are not from one run")
        step = 0 if trained < 0 else epochs_done.get(trained, trained + 1)
        points.append(Point(kind="initial" if trained < 0 else "end", trained_exp=trained, step=step,
                            accuracy=acc, loss=loss))
    return ImportedRun(name=name, source=str(folder.resolve()),
                       content_hash=digest("avalanche-csv", eval_bytes, train_bytes), points=points,
                       train_curve=curve, step_unit="epoch" if epochs_done else "experience")
