"""The fast training data path: minibatches by indexing whole tensors kept on the run's device.

Avalanche's training loader collates every minibatch sample by sample (``dataset[i]`` through its transform
groups, then ``default_collate``), which for small models costs more than the training step itself. Our
streams are plain tensors, so the loader can be replaced by one that keeps the experience's tensors on the
device and yields ``[x, y, t]`` slices of a per-epoch permutation.

The science does not change: the strategy's own logic (its loss, plugins, buffers, updates) is Avalanche's,
untouched; only ``strategy.dataloader`` is built differently. The permutation is drawn exactly as PyTorch's
``DataLoader`` + ``RandomSampler`` draw it under Avalanche's single-task loader (one base-seed draw from the
global generator, then the sampler's seed, then ``randperm`` on a fresh ``torch.Generator`` seeded with it), so
for a fixed seed the minibatches, their order and every later random draw are the same with and without the
fast path: results are identical (tests/test_fastpath.py checks each strategy).

Where the fast path does not apply, Avalanche's loader is kept, per experience:
- the training set has more than one task label (Avalanche's task-balanced loader interleaves per-task
  samplers: cumulative, joint and GDumb in the task-incremental scenario);
- the dataset has a transform, a custom collate function, or is not built from tensors;
- the strategy class overrides ``make_train_dataloader`` itself (it is then not patched at all);
- a plugin installs its own loader in ``before_training_exp`` (ReplayPlugin's ``ReplayDataLoader`` from the
  second experience on): plugins run after ``make_train_dataloader``, so theirs wins, as it should.

Data augmentation (bench/train/augment.py) is applied on the device to each minibatch after the loader, not in
``TensorBatches``: that way it reaches every loader (ours, Avalanche's, the replay loaders that replace ours) with
the same draws in the same order, and the two paths stay identical with augmentation on.
"""
from __future__ import annotations

import types
from typing import Any, Callable

import torch
from torch.utils.data import TensorDataset
from torch.utils.data._utils.collate import default_collate

__all__ = ["TensorBatches", "enable", "report", "resolve_tensors", "uses_fast_path"]

_STATS_ATTR = "_bench_fastpath"  # the strategy attribute holding, per experience, which loader it trained on
EPOCH_COPY_BYTES = 256 * 2**20  # up to this size an epoch's data is gathered in one go; above it, per minibatch


class TensorBatches:
    """Iterable of ``[x, y, t]`` minibatches sliced from whole tensors, one permutation per epoch.

    Each pass draws from torch's global generator exactly what ``DataLoader(shuffle=shuffle)`` draws (its base
    seed, then the sampler's seed), so the random stream of the run is the same as on Avalanche's path. Small
    datasets are permuted with one gather per epoch and then sliced (views, nothing per step); larger ones are
    gathered minibatch by minibatch, so the training set is never held twice."""

    def __init__(self, tensors: list[torch.Tensor], *, batch_size: int, shuffle: bool = True,
                 drop_last: bool = False, log: dict | None = None, epoch_copy_bytes: int = EPOCH_COPY_BYTES) -> None:
        self.tensors = tensors
        self.n = len(tensors[0])
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.log = log if log is not None else {}  # {"epochs": passes served}: what actually trained on it
        self.gather_epoch = sum(t.element_size() * t.numel() for t in tensors) <= epoch_copy_bytes

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def _order(self) -> torch.Tensor | None:
        torch.empty((), dtype=torch.int64).random_()  # the DataLoader iterator's base seed (workers' seeds)
        if not self.shuffle:
            return None
        seed = int(torch.empty((), dtype=torch.int64).random_().item())  # RandomSampler's own seed
        gen = torch.Generator()
        gen.manual_seed(seed)
        return torch.randperm(self.n, generator=gen)

    def __iter__(self):
        # A generator: like DataLoader's, nothing is drawn until the first minibatch is asked for.
        order = self._order()
        self.log["epochs"] = self.log.get("epochs", 0) + 1
        stop = len(self) * self.batch_size if self.drop_last else self.n
        if order is not None and not self.gather_epoch:
            for idx in order[:stop].to(self.tensors[0].device).split(self.batch_size):
                yield [t.index_select(0, idx) for t in self.tensors]
            return
        if order is None:
            epoch = self.tensors
        else:
            order = order.to(self.tensors[0].device)
            epoch = [t.index_select(0, order) for t in self.tensors]  # one gather per epoch, not per step
        splits = [t[:stop].split(self.batch_size) for t in epoch]  # views: slicing costs nothing per step
        for batch in zip(*splits, strict=True):
            yield list(batch)


# -- resolving an Avalanche dataset into whole tensors ------------------------------------------------------------
def _identity_transform(groups: Any, group: str) -> bool:
    if groups is None:
        return True
    try:
        t = groups[group]
    except KeyError:
        return True
    if t is None:
        return True
    inner = getattr(t, "transforms", None)
    return type(t).__name__ == "TupleTransform" and inner is not None and all(x is None for x in inner)


def _resolve_flat(data: Any, group: str, place: Callable[[torch.Tensor], torch.Tensor]) -> list[torch.Tensor] | None:
    """The samples of one of Avalanche's flat datasets as per-slot tensors, as ``default_collate`` would stack
    them (`place` puts each source tensor on the device); None when they are not plain tensors without
    transforms."""
    from avalanche.benchmarks.utils.classification_dataset import _TensorClassificationDataset
    from avalanche.benchmarks.utils.data import _FlatDataWithTransform

    if type(data) is TensorDataset:
        return [place(t) for t in data.tensors]
    if type(data) is _TensorClassificationDataset:  # its __getitem__ turns the label into a Python number
        slots = [place(t) for t in data.tensors]
        if len(slots) < 2 or slots[1].dtype.is_floating_point or slots[1].dtype == torch.bool:
            return None
        slots[1] = slots[1].long()
        return slots
    if not isinstance(data, _FlatDataWithTransform):
        return None
    if not (_identity_transform(data._transform_groups, group)
            and _identity_transform(data._frozen_transform_groups, group)):
        return None
    parts = [_resolve_flat(d, group, place) for d in data._datasets]
    if not parts or any(p is None for p in parts) or len({len(p) for p in parts}) != 1:
        return None
    try:
        slots = [p[0] if len(parts) == 1 else torch.cat(p) for p in zip(*parts, strict=True)]
    except (RuntimeError, TypeError):
        return None
    if data._indices is not None:
        idx = torch.as_tensor(list(data._indices), dtype=torch.long)
        slots = [s.index_select(0, idx.to(s.device)) for s in slots]
    return slots


def resolve_tensors(dataset: Any, device: torch.device | str = "cpu", *,
                    place: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[torch.Tensor] | None:
    """``[x, y, t]`` (every slot a dataset item holds, in order) on `device` for a whole Avalanche dataset with a
    single task label, exactly as Avalanche's loader would collate them; None where the fast path does not
    apply. `place` moves a source tensor to the device (default: ``.to(device)``; a caller may cache it)."""
    device = torch.device(device)
    place = place or (lambda t: t.to(device))
    flat = getattr(dataset, "_flat_data", None)
    attrs = getattr(dataset, "_data_attributes", None)
    if flat is None or attrs is None or getattr(dataset, "collate_fn", None) is not default_collate:
        return None
    group = flat._transform_groups.current_group if flat._transform_groups is not None else "train"
    slots = _resolve_flat(flat, group, place)
    if slots is None:
        return None
    n = len(dataset)
    task_attr = attrs.get("targets_task_labels")
    if task_attr is None or len(task_attr.uniques) != 1:
        return None  # several tasks: Avalanche balances them with one sampler per task
    for attr in attrs.values():
        if not attr.use_in_getitem:
            continue
        if len(attr.uniques) != 1:
            return None
        value = next(iter(attr.uniques))
        if not isinstance(value, int):
            return None
        slots.append(torch.full((n,), value, dtype=torch.long, device=device))
    if any(len(s) != n for s in slots):
        return None
    return slots


# -- patching a strategy --------------------------------------------------------------------------------------------
def uses_fast_path(strategy: Any) -> bool:
    """Whether `enable` patched this strategy (its class keeps Avalanche's own make_train_dataloader)."""
    return hasattr(strategy, _STATS_ATTR)


def report(strategy: Any) -> dict[str, int]:
    """Per training experience so far, which loader it trained on: {"fast": n, "replaced": n, "avalanche": n}.
    "replaced": our loader was built, but a plugin installed its own before training (ReplayPlugin)."""
    out = {"fast": 0, "replaced": 0, "avalanche": 0}
    for entry in getattr(strategy, _STATS_ATTR, []):
        if entry["path"] == "avalanche":
            out["avalanche"] += 1
        else:
            out["fast" if entry.get("epochs", 0) else "replaced"] += 1
    return out


def enable(strategy: Any) -> bool:
    """Make `strategy` build its training loader from whole tensors on its device. Returns False (and changes
    nothing) when its class brings its own ``make_train_dataloader``. `report(strategy)` tells, per experience,
    which loader it trained on."""
    from avalanche.training.templates.base_sgd import BaseSGDTemplate

    if type(strategy).make_train_dataloader is not BaseSGDTemplate.make_train_dataloader:
        return False
    original = strategy.make_train_dataloader
    # Source tensors already copied to the device, per experience dataset (the entry keeps the source alive, so
    # its id is not reused): cumulative and replay datasets revisit the same tensors.
    cache: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def placer(device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        def place(t: torch.Tensor) -> torch.Tensor:
            if t.device.type == device.type and (device.index is None or t.device.index == device.index):
                return t
            key = (id(t), str(device))
            if key not in cache:
                cache[key] = (t, t.to(device))
            return cache[key][1]
        return place

    def make_train_dataloader(self, num_workers=0, shuffle=True, pin_memory=None, persistent_workers=False,
                              drop_last=False, **kwargs):
        log = getattr(self, _STATS_ATTR)
        device = torch.device(self.device)
        # Extra loader arguments (e.g. ffcv_args) keep Avalanche's path.
        slots = None if kwargs else resolve_tensors(self.adapted_dataset, device, place=placer(device))
        if slots is None:
            log.append({"path": "avalanche"})
            return original(num_workers=num_workers, shuffle=shuffle, pin_memory=pin_memory,
                            persistent_workers=persistent_workers, drop_last=drop_last, **kwargs)
        entry = {"path": "fast", "epochs": 0}
        log.append(entry)
        self.dataloader = TensorBatches(slots, batch_size=self.train_mb_size, shuffle=shuffle, drop_last=drop_last,
                                        log=entry)

    setattr(strategy, _STATS_ATTR, [])
    strategy.make_train_dataloader = types.MethodType(make_train_dataloader, strategy)
    return True
