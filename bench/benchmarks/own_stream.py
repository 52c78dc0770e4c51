"""Own data as a task stream: the fixed train/test split, experiences cut by class or by the data's own groups
(domain folders, task ids), the scenario rule for such groups, and what the Launch form's preview shows.

Labels follow the built-in split streams (van de Ven & Tolias, "Three scenarios for continual learning"): in the
class-incremental scenario the model sees every class's global label on one head; in the task- and
domain-incremental scenarios it sees the label's index among its experience's classes (one head per experience for
task, one shared head for domain). When every group holds the same classes, local and global labels coincide."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.benchmarks.base import Experience, RawSplit, Stream, class_order
from bench.spec.params import BadInput, ParamSpec

N_EXPERIENCES = ParamSpec(
    name="n_experiences", type="int", default=0, min=0, max=1000,
    help="Experiences in the stream. 0: one per domain folder or task id, else one per two classes "
         "(as split MNIST); with domains or task ids it must be 0 or their number.")
TEST_FRACTION = ParamSpec(
    name="test_fraction", type="float", default=0.2, min=0.05, max=0.5,
    help="Share of each class held out for testing when the data has no test split of its own; the split is "
         "fixed (seed 0), not drawn from the run's seed, and keeps at least one image per class on each side.")
SPLIT_SEED = 0  # the held-out split never depends on the run's seed (as the digits streams' test sets)


def n_experiences(requested: int, *, n_classes: int, n_groups: int, owner: str) -> int:
    """The number of experiences a stream will have, or BadInput when the data cannot give that many."""
    if n_groups:
        if requested not in (0, n_groups):
            raise BadInput(f"{owner}: n_experiences={requested} does not match the data's {n_groups} groups "
                           f"(domain folders or task ids): expected 0 or {n_groups}")
        if n_groups < 2:
            raise BadInput(f"{owner}: the data has one group only: a stream needs at least 2 experiences")
        return n_groups
    n = requested or max(2, n_classes // 2)
    if not 2 <= n <= n_classes:
        raise BadInput(f"{owner}: n_experiences={n} is out of range: the data has {n_classes} classes, "
                       f"expected 2..{n_classes} experiences")
    return n


def fixed_split(keys: np.ndarray, fraction: float) -> np.ndarray:
    """A stratified held-out mask over `keys` (class, or domain and class): a fixed share of each key, at least one
    sample on each side. Drawn from SPLIT_SEED, so every run of every seed tests on the same samples."""
    rng = np.random.RandomState(SPLIT_SEED)
    test = np.zeros(len(keys), dtype=bool)
    for k in np.unique(keys):
        idx = np.flatnonzero(keys == k)
        rng.shuffle(idx)
        n_test = min(max(1, int(round(len(idx) * fraction))), len(idx) - 1)
        test[idx[:n_test]] = True
    return test


def class_groups(n_classes: int, n_exp: int, *, seed: int, order: str) -> list[tuple[int, ...]]:
    """The classes of each experience, as base.split_stream cuts them (the preview shows the same groups)."""
    perm = class_order(n_classes, seed=seed, order=order)
    return [tuple(int(c) for c in g) for g in np.array_split(perm, n_exp)]


def groups_share_classes(y: np.ndarray, groups: np.ndarray, n_groups: int) -> bool:
    sets = [frozenset(np.unique(y[groups == g]).tolist()) for g in range(n_groups)]
    return len(set(sets)) == 1


def refuse_class_scenario(owner: str, what: str) -> BadInput:
    return BadInput(f"{owner}: every {what} holds the same classes, so this is a domain-incremental stream: use the "
                    f"domain or task scenario (class-incremental would be the same problem under another name)")


def grouped_stream(name: str, raw: RawSplit, train_groups: np.ndarray, test_groups: np.ndarray, scenario: str, *,
                   group_names: list[str]) -> Stream:
    """One experience per group (a domain folder, a task id), in group order, each with the classes it holds."""
    import torch

    exps = []
    widths = []
    for t in range(len(group_names)):
        tr = torch.from_numpy(np.flatnonzero(train_groups == t))
        te = torch.from_numpy(np.flatnonzero(test_groups == t))
        classes = tuple(int(c) for c in torch.unique(raw.train_y[tr]).tolist())
        widths.append(len(classes))
        lookup = torch.full((raw.n_classes,), -1, dtype=torch.long)
        lookup[list(classes)] = torch.arange(len(classes))

        trc, tec = raw.train_y[tr], raw.test_y[te]
        if scenario != "class":  # the index among the experience's classes
            tr_target, te_target = lookup[trc], lookup[tec]
        else:
            tr_target, te_target = trc, tec
        exps.append(Experience(raw.train_x[tr], tr_target, trc, raw.test_x[te], te_target, tec, classes,
                               t if scenario == "task" else 0))
    return Stream(
        benchmark=name, scenario=scenario, experiences=exps, input_shape=tuple(raw.train_x.shape[1:]),
        n_classes=raw.n_classes, n_outputs=raw.n_classes if scenario == "class" else max(widths),
        n_heads=len(exps) if scenario == "task" else 1,
        info={**raw.info, "groups": list(group_names), "class_groups": [list(e.classes) for e in exps]},
    )


@dataclass(frozen=True)
class Preview:
    """What the Launch form shows before anything starts: a title line, the class names, one row per experience
    (its classes and sample counts) and a few sample images (H x W or H x W x 3 uint8) with their captions."""

    title: str
    class_names: list[str]
    experiences: list[dict]
    samples: list[tuple[str, np.ndarray]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def experience_rows(y_train: np.ndarray, y_test: np.ndarray, cuts: list[tuple[int, ...]], class_names: list[str],
                    *, g_train: np.ndarray | None = None, g_test: np.ndarray | None = None,
                    group_names: list[str] | None = None) -> list[dict]:
    """Rows of the preview's table: with groups, one per group (cuts = each group's classes), else one per cut."""
    rows = []
    for t, classes in enumerate(cuts):
        if group_names is not None:
            n_train, n_test = int((g_train == t).sum()), int((g_test == t).sum())
        else:
            n_train, n_test = int(np.isin(y_train, classes).sum()), int(np.isin(y_test, classes).sum())
        row = {"experience": t}
        if group_names is not None:
            row["group"] = group_names[t]
        row.update({"classes": ", ".join(class_names[c] for c in classes), "train": n_train, "test": n_test})
        rows.append(row)
    return rows


def to_display(x: np.ndarray) -> np.ndarray:
    """One sample (C x H x W, any scale) as a uint8 picture for the preview grid."""
    img = np.asarray(x)
    if img.dtype != np.uint8:  # features or scaled tensors: stretch each sample's own range
        f = img.astype(np.float64)
        lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
        img = ((f - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(f)).astype(np.uint8)
    return img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))


def first_per_class(y: np.ndarray, n_classes: int, *, limit: int = 24) -> list[int]:
    """The index of the first sample of each class (up to `limit` classes), for the sample grid."""
    out = []
    for c in range(min(n_classes, limit)):
        idx = np.flatnonzero(y == c)
        if len(idx):
            out.append(int(idx[0]))
    return out
