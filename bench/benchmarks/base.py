"""Task streams as plain tensors, the scenario rules that turn them into experiences, and the spec type.

torch is imported where tensors are made, not at import time: the registry is read by pages that never train."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from bench.spec.params import BadInput, ParamSpec

if TYPE_CHECKING:
    import torch

IMAGE_KINDS = ("split", "domain")


@dataclass(frozen=True)
class Experience:
    """One experience: training and test tensors, the targets the model learns, and the true classes."""

    train_x: torch.Tensor
    train_y: torch.Tensor  # targets as the model sees them (global or within-task labels)
    train_cls: torch.Tensor  # the true class of each sample, for per-class recall
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_cls: torch.Tensor
    classes: tuple[int, ...]
    task_label: int
    # the validation set held out of the training data (bench/benchmarks/validation.py), None without one
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    val_cls: torch.Tensor | None = None


class Probe(Protocol):
    """Measures a stream takes at every evaluation point beyond accuracy (the facts stream's recognition and
    hallucination): called with the model, its outputs on each experience's test set, and the point's index;
    returns rows (point, test_exp, measure, value, n) for the store's probes table."""

    def __call__(self, model: Any, outputs: list[torch.Tensor], point: int) -> list[dict]: ...


@dataclass(frozen=True)
class Stream:
    """A whole task stream under one scenario."""

    benchmark: str
    scenario: str
    experiences: list[Experience]
    input_shape: tuple[int, ...]
    n_classes: int  # number of true classes in the stream
    n_outputs: int  # outputs of each head
    n_heads: int  # 1 (shared head) or one per experience (task-incremental)
    info: dict = field(default_factory=dict)
    probe: Callable[[Any], Probe] | None = None  # probe(device) -> a Probe bound to the run's device


@dataclass(frozen=True)
class RawSplit:
    """Loaded data before it is cut into experiences: (x, y) train and test tensors."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    n_classes: int
    info: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class BenchmarkSpec:
    """A registered task stream. `build(params, scenario, seed, data_dir)` returns a Stream."""

    name: str
    description: str
    kind: str  # "split" (disjoint classes per experience) or "domain" (same classes, new input distribution)
    params: tuple[ParamSpec, ...]
    scenarios: tuple[str, ...]
    load: Callable[..., RawSplit] | None  # load(params, data_dir) -> RawSplit, cached by the caller if needed
    transform: Callable[[torch.Tensor, int, dict, int], torch.Tensor] | None = None  # domain kind: x, exp, params, seed
    default_model: str = "mlp"
    offline: bool = True
    check: Callable[[dict], None] = lambda params: None
    make: Callable[..., Stream] | None = None  # streams that are not images cut by class or domain (facts)
    check_data: Callable[[str | None], None] | None = None  # raises BadInput if the files are not there
    # the stream's training recipe for its inputs: what the run setting augment=auto means here (bench/train/augment.py)
    # and the per-channel (mean, std) that normalize=mean_std applies in front of the backbone (bench/models)
    augment: str = "none"
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    # raises BadInput for a scenario this stream's data cannot serve (own data whose groups share their classes)
    check_scenario: Callable[[dict, str], None] | None = None
    n_classes: int = 0  # split kind: the classes the stream cuts into experiences (0: known only once loaded)

    @property
    def images(self) -> bool:
        """Whether the stream is made of images (cut by class or by domain), as ViTs, generators and the
        image backbones need."""
        return self.kind in IMAGE_KINDS

    def check_split(self, params: dict, scenario: str) -> None:
        """Refuse, before anything runs, a split that would leave an experience empty or, in the task- and
        domain-incremental scenarios, with a single class (every model scores 1.0 on it: ACC and BWT say nothing)."""
        if self.kind == "split" and self.n_classes:
            check_split(self.name, self.n_classes, params["n_experiences"], scenario)

    def build(self, params: dict, scenario: str, *, seed: int, data_dir: str | None = None) -> Stream:
        if self.make is not None:
            return self.make(params, scenario, seed=seed, data_dir=data_dir)
        raw = self.load(params, data_dir)
        if self.kind == "split":
            return split_stream(self.name, raw, params["n_experiences"], scenario, seed=seed,
                                order=params.get("class_order", "seeded"))
        return domain_stream(self.name, raw, params["n_experiences"], scenario, seed=seed,
                             transform=lambda x, i: self.transform(x, i, params, seed))


def class_order(n_classes: int, *, seed: int, order: str) -> list[int]:
    if order == "natural":
        return list(range(n_classes))
    return [int(c) for c in np.random.RandomState(seed).permutation(n_classes)]


def check_split(name: str, n_classes: int, n_exp: int, scenario: str) -> None:
    """The split of `n_classes` into `n_exp` groups (np.array_split: the smallest holds n_classes // n_exp) leaves no
    experience empty, nor with one class where the labels are within-task (task- and domain-incremental)."""
    if not 1 <= n_exp <= n_classes:
        raise BadInput(f"n_experiences={n_exp} is out of range: {name} has {n_classes} classes, "
                       f"expected 1..{n_classes}")
    smallest = n_classes // n_exp
    if scenario in ("task", "domain") and smallest < 2:
        raise BadInput(f"n_experiences={n_exp} leaves experiences of {name} with {smallest} class in the "
                       f"{scenario}-incremental scenario, where every model scores 1.0 on them: expected "
                       f"n_experiences <= {n_classes // 2}")


def _check_experiences(name: str, exps: list[Experience], scenario: str) -> None:
    """What the data holds, for streams whose class count is only known once loaded."""
    for t, e in enumerate(exps):
        if not len(e.train_x) or not len(e.test_x):
            part = "training" if not len(e.train_x) else "test"
            raise BadInput(f"experience {t} of {name} has no {part} samples (classes {list(e.classes)}): expected "
                           f"fewer experiences or data with every class")
        if scenario in ("task", "domain") and len(set(e.train_y.tolist())) < 2:
            raise BadInput(f"experience {t} of {name} has a single class in the {scenario}-incremental scenario, "
                           f"where every model scores 1.0 on it: expected fewer experiences")


def split_stream(name: str, raw: RawSplit, n_exp: int, scenario: str, *, seed: int, order: str) -> Stream:
    """Disjoint groups of classes per experience. class: global labels, one head; task: within-task
    labels, one head per experience; domain: within-task labels, one shared head (van de Ven & Tolias)."""
    check_split(name, raw.n_classes, n_exp, scenario)
    import torch

    perm = class_order(raw.n_classes, seed=seed, order=order)
    groups = [tuple(int(c) for c in g) for g in np.array_split(perm, n_exp)]
    exps = []
    for t, classes in enumerate(groups):
        local = {c: i for i, c in enumerate(classes)}

        def pick(x, y, classes=classes, local=local):
            mask = torch.isin(y, torch.tensor(classes))
            cls = y[mask]
            if scenario == "class":
                target = cls
            else:
                target = torch.tensor([local[int(c)] for c in cls], dtype=torch.long)
            return x[mask], target, cls

        trx, try_, trc = pick(raw.train_x, raw.train_y)
        tex, tey, tec = pick(raw.test_x, raw.test_y)
        exps.append(Experience(trx, try_, trc, tex, tey, tec, classes, t if scenario == "task" else 0))
    _check_experiences(name, exps, scenario)
    width = max(len(g) for g in groups)
    return Stream(
        benchmark=name, scenario=scenario, experiences=exps, input_shape=tuple(raw.train_x.shape[1:]),
        n_classes=raw.n_classes, n_outputs=raw.n_classes if scenario == "class" else width,
        n_heads=n_exp if scenario == "task" else 1, info={**raw.info, "class_groups": [list(g) for g in groups]},
    )


def domain_stream(name: str, raw: RawSplit, n_exp: int, scenario: str, *, seed: int,
                  transform: Callable[[torch.Tensor, int], torch.Tensor]) -> Stream:
    """Every experience sees all classes under its own input transform (permutation, rotation)."""
    classes = tuple(range(raw.n_classes))
    exps = []
    for t in range(n_exp):
        exps.append(Experience(
            transform(raw.train_x, t), raw.train_y, raw.train_y,
            transform(raw.test_x, t), raw.test_y, raw.test_y, classes, t if scenario == "task" else 0,
        ))
    _check_experiences(name, exps, "class")  # every class in every experience: only emptiness can go wrong
    return Stream(
        benchmark=name, scenario=scenario, experiences=exps, input_shape=tuple(raw.train_x.shape[1:]),
        n_classes=raw.n_classes, n_outputs=raw.n_classes, n_heads=n_exp if scenario == "task" else 1,
        info=dict(raw.info),
    )


def stratified_split(x: np.ndarray, y: np.ndarray, *, test_fraction: float, seed: int = 0) -> tuple:
    """A fixed, stratified train/test split (the test sets never depend on the run's seed)."""
    rng = np.random.RandomState(seed)
    test_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: int(round(len(idx) * test_fraction))])
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[test_idx] = True
    return x[~test_mask], y[~test_mask], x[test_mask], y[test_mask]


def to_tensors(x_train, y_train, x_test, y_test, n_classes: int, info: dict) -> RawSplit:
    import torch

    return RawSplit(
        torch.as_tensor(np.ascontiguousarray(x_train), dtype=torch.float32),
        torch.as_tensor(np.asarray(y_train), dtype=torch.long),
        torch.as_tensor(np.ascontiguousarray(x_test), dtype=torch.float32),
        torch.as_tensor(np.asarray(y_test), dtype=torch.long),
        n_classes, info,
    )


def n_experiences_param(default: int = 5, max_: int = 10) -> ParamSpec:
    return ParamSpec(name="n_experiences", type="int", default=default, min=2, max=max_,
                     help="Number of experiences in the stream.")


CLASS_ORDER = ParamSpec(name="class_order", type="str", default="seeded", choices=("seeded", "natural"),
                        help="Class order: shuffled by the run's seed, or 0, 1, 2, ...")
