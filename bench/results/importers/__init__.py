"""Results made elsewhere -> runs of the store (status imported): the shape every importer fills, its checks, the
run metrics (bench.train.metrics, as for trained runs) and the one transaction that stores them.

An importer (avalanche_csv, tensorboard, table) reads its files into `ImportedRun`s: evaluation points, each the
accuracy on every experience's test set, marked `initial` (before training), `end` (after training an experience:
the rows of the accuracy matrix R[i][j]) or `dense` (during training), plus the training curve where the file
has one. `save` checks them all first and writes them in one transaction, so a bad file leaves the store as it
was, and a content hash already in the store (the same files imported twice) is refused.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.results.store import Store
from bench.spec.params import BadInput
from bench.spec.status import Status

TOOLS = ("avalanche-csv", "tensorboard", "table")
SCENARIO_LABELS = ("class", "task", "domain", "unknown")
DEFAULT_BENCHMARK, DEFAULT_SCENARIO = "imported", "unknown"
# "replay-seed2", "ewc_seed_0", "naive.seed3": a run named after its seed gives its strategy and seed
_SEEDED_NAME = re.compile(r"^(?P<name>.*?)[-_. ]*seed[-_=]?(?P<seed>\d+)$", re.IGNORECASE)
_LABEL = re.compile(r"^[\w .+:()/=,@-]{1,80}$")


@dataclass(kw_only=True)
class Point:
    """One evaluation of the test experiences: accuracy[j] and loss[j] for test experience j, None where that
    experience was not evaluated (a run that evaluates only the experiences seen so far)."""

    kind: str  # "initial" | "dense" | "end"
    trained_exp: int  # the experience being (or just) trained; -1 before training
    step: float  # the run's own step counter (see ImportedRun.step_unit)
    accuracy: list[float | None]
    loss: list[float | None] | None = None


@dataclass(kw_only=True)
class ImportedRun:
    """One run as a file holds it, before it is stored."""

    name: str  # as the source names it: a folder, an event file, the table's run column
    source: str  # the file or folder it came from, as the user gave it
    content_hash: str  # of the imported content: the same content is one run
    points: list[Point]
    step_unit: str  # what `step` counts: iteration | epoch | experience | step (the table's own)
    train_curve: list[dict] = field(default_factory=list)  # iteration, trained_exp, epoch, loss, accuracy
    strategy: str | None = None  # when the source says (the table)
    seed: int | None = None


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path} cannot be read: {exc.strerror}") from None


def existing_dir(raw: str, *, what: str) -> Path:
    path = Path(raw).expanduser()
    if not path.exists():
        raise BadInput(f"{raw!r} does not exist: expected {what}")
    if not path.is_dir():
        raise BadInput(f"{raw!r} is a file: expected {what}")
    return path


def run_name(path: Path, root: Path) -> str:
    """A run's name from its folder: the path below the imported folder, else the folder's own name."""
    rel = path.relative_to(root).as_posix()
    return root.resolve().name if rel == "." else rel


# -- checks -------------------------------------------------------------------------------------------------
def matrix(run: ImportedRun) -> tuple[np.ndarray, np.ndarray | None]:
    """R (one row per trained experience, one column per test experience; NaN where not evaluated) and the initial
    row b, after checking that the points make an accuracy matrix: accuracies in [0, 1], end points after
    experiences 0..T-1 in order (or one row, T-1, for joint training), each covering at least the experiences
    trained so far, the last covering all T."""
    where = f"{run.source} (run {run.name!r})"
    if not run.points:
        raise BadInput(f"{where}: no evaluation of the test experiences found")
    n_test = max(len(p.accuracy) for p in run.points)
    for p in run.points:
        for j, a in enumerate(p.accuracy):
            if a is not None and not (math.isfinite(a) and 0.0 <= a <= 1.0):
                when = ("before training" if p.kind == "initial" else f"after training experience {p.trained_exp}"
                        if p.kind == "end" else f"at {run.step_unit} {p.step:g}")
                raise BadInput(f"{where}: accuracy {a!r} on experience {j} {when} is not valid: expected a fraction "
                               "in [0, 1] (divide percentages by 100)")
    ends = [p for p in run.points if p.kind == "end"]
    trained = [p.trained_exp for p in ends]
    if trained not in (list(range(n_test)), [n_test - 1]):
        raise BadInput(f"{where}: the accuracy matrix needs an evaluation after training each of the {n_test} "
                       f"test experiences, in order; found after {trained or 'none'}")
    rows = []
    for p in ends:
        row = [None if j >= len(p.accuracy) else p.accuracy[j] for j in range(n_test)]
        seen = n_test if len(ends) == 1 else p.trained_exp + 1
        missing = [j for j in range(seen) if row[j] is None]
        if p is ends[-1]:
            missing = [j for j in range(n_test) if row[j] is None]
        if missing:
            raise BadInput(f"{where}: no accuracy on experience {missing[0]} after training experience "
                           f"{p.trained_exp}: the experiences trained so far (all of them at the end) are needed")
        rows.append([np.nan if a is None else a for a in row])
    initial = [p for p in run.points if p.kind == "initial"]
    if len(initial) > 1:
        raise BadInput(f"{where}: {len(initial)} evaluations before training: expected at most one")
    b = None
    if initial and len(initial[0].accuracy) == n_test and None not in initial[0].accuracy:
        b = np.array(initial[0].accuracy, dtype=float)
    return np.array(rows, dtype=float), b


def _label(value: str, *, flag: str) -> str:
    if not _LABEL.match(value):
        raise BadInput(f"{flag} {value!r} is not valid: expected 1-80 letters, digits, spaces or . _ - + : ( ) / = ,")
    return value


def labels_of(run: ImportedRun, *, strategy: str | None, seed: int | None) -> tuple[str, int]:
    """The strategy and seed a run is stored under: the flags, else what the source says, else its name
    ('replay-seed2' -> replay, 2; 'ewc/seed1' -> ewc, 1; 'naive' -> naive, 0)."""
    parts = run.name.split("/")
    m = _SEEDED_NAME.match(parts[-1])
    if m:
        name_strategy, name_seed = m["name"] or (parts[-2] if len(parts) > 1 else parts[-1]), int(m["seed"])
    else:
        name_strategy, name_seed = run.name, None
    chosen = strategy or run.strategy or name_strategy
    chosen_seed = seed if seed is not None else run.seed if run.seed is not None else name_seed
    return _label(chosen, flag="--strategy" if strategy else "strategy"), chosen_seed or 0


# -- rows ---------------------------------------------------------------------------------------------------
def _rows(run: ImportedRun, tool: str, now: float) -> dict[str, list[dict]]:
    from bench.train.metrics import summary  # the same functions trained runs use (pure numpy)

    R, b = matrix(run)
    evaluations = []
    for point, p in enumerate(run.points):
        for j, acc in enumerate(p.accuracy):
            if acc is None:  # not evaluated at this point: no row, as a trained run that skips it would have
                continue
            loss = p.loss[j] if p.loss is not None and j < len(p.loss) else None
            evaluations.append({"point": point, "kind": p.kind, "trained_exp": p.trained_exp,
                                "iteration": int(round(p.step)), "test_exp": j, "accuracy": float(acc),
                                "loss": None if loss is None or not math.isfinite(loss) else float(loss), "n": None})
    metrics = summary(R, b)
    return {
        "evaluations": evaluations,
        "train_curve": [{**r, "n": None} for r in run.train_curve],
        "run_metrics": [{"metric": k, "value": float(v)} for k, v in metrics.items()],
        "run_sources": [{"tool": tool, "source": run.source, "content_hash": run.content_hash,
                         "step_unit": run.step_unit, "imported_at": now}],
    }


def _run_row(run: ImportedRun, *, tool: str, strategy: str, seed: int, benchmark: str, scenario: str,
             now: float) -> dict:
    config = {"benchmark": benchmark, "scenario": scenario, "strategy": strategy, "params": {},
              "benchmark_params": {}, "seed": seed, "imported": tool}
    identity = {k: v for k, v in config.items() if k != "seed"}  # runs that differ only by seed form one group
    ends = [p for p in run.points if p.kind == "end"]
    return {
        "run_id": uuid.uuid4().hex[:12], "group_id": digest(json.dumps(identity, sort_keys=True))[:12],
        "sweep_id": None, "benchmark": benchmark, "scenario": scenario, "strategy": strategy, "family": "imported",
        "seed": seed, "config_json": json.dumps(config, sort_keys=True), "status": Status.IMPORTED,
        "created_at": now, "finished_at": now, "n_experiences": len(ends[-1].accuracy),
        "current_exp": ends[-1].trained_exp, "iteration": int(round(max(p.step for p in run.points))),
        "cancel_requested": False,
    }


def prepare(runs: list[ImportedRun], *, tool: str, strategy: str | None = None, seed: int | None = None,
            benchmark: str | None = None, scenario: str | None = None) -> list[tuple[dict, dict[str, list[dict]]]]:
    """Check every run and build its store rows (nothing touches the store yet). Labels given here (the CLI's
    --strategy, --seed, --benchmark, --scenario) apply to every run."""
    if tool not in TOOLS:
        raise BadInput(f"tool {tool!r} is not valid: expected one of {', '.join(TOOLS)}")
    if not runs:
        raise BadInput("nothing to import")
    if scenario is not None and scenario not in SCENARIO_LABELS:
        raise BadInput(f"--scenario {scenario!r} is not valid: expected one of {', '.join(SCENARIO_LABELS)}")
    if seed is not None and seed < 0:
        raise BadInput(f"--seed {seed} is not valid: expected an integer >= 0")
    bench = _label(benchmark, flag="--benchmark") if benchmark is not None else DEFAULT_BENCHMARK
    now = time.time()
    batch = []
    for run in runs:
        name, run_seed = labels_of(run, strategy=strategy, seed=seed)
        row = _run_row(run, tool=tool, strategy=name, seed=run_seed, benchmark=bench,
                       scenario=scenario or DEFAULT_SCENARIO, now=now)
        batch.append((row, _rows(run, tool, now)))
    return batch


def save(store: Store, batch: list[tuple[dict, dict[str, list[dict]]]]) -> list[str]:
    """Store prepared runs in one transaction (all or none; BadInput if one was imported before); their run ids."""
    store.insert_complete(batch)
    return [row["run_id"] for row, _ in batch]


def load(tool: str, raw: str) -> list[ImportedRun]:
    """Read what `tool` wrote at `raw` (a folder, or the table's file)."""
    from bench.results.importers import avalanche_csv, table, tensorboard

    readers = {"avalanche-csv": avalanche_csv.load, "tensorboard": tensorboard.load, "table": table.load}
    if tool not in readers:
        raise BadInput(f"tool {tool!r} is not valid: expected one of {', '.join(TOOLS)}")
    return readers[tool](raw)


def sources(store: Store, run_ids: list[str]) -> dict[str, dict]:
    """run_id -> {tool, source, step_unit, imported_at} of the imported runs among `run_ids`."""
    df = store.table("run_sources", run_ids)
    return {r.run_id: {"tool": r.tool, "source": r.source, "step_unit": r.step_unit, "imported_at": r.imported_at}
            for r in df.itertuples()}
