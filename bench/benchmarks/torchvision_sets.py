"""Streams over torchvision datasets (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100) read from a data directory.

Nothing is downloaded while a run builds its stream: the files must already be in the data directory
(`data_dir`, else $BENCH_DATA_DIR, else ~/.cache/bench/data), in torchvision's own layout. `download()`
fetches them for users with network access.
"""
from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

import numpy as np

from bench.benchmarks.base import CLASS_ORDER, BenchmarkSpec, RawSplit, n_experiences_param, to_tensors
from bench.benchmarks.digits import permute
from bench.spec.params import BadInput

DATA_DIR_ENV = "BENCH_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/bench/data"


KEYS = ("mnist", "fmnist", "cifar10", "cifar100")


def _datasets() -> dict:
    """dataset key -> (torchvision class, reader class, number of classes); torchvision is imported on first use."""
    from bench.benchmarks.torchvision_readers import DATASETS

    return DATASETS


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory searched: the argument, else $BENCH_DATA_DIR, else ~/.cache/bench/data."""
    raw = data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(raw).expanduser().resolve()


def expected_files(key: str) -> list[str]:
    """The files (relative to the data directory) that torchvision reads for this dataset."""
    cls = _datasets()[key][0]
    if issubclass(cls, _datasets()["mnist"][0]):
        # as in MNIST._check_exists: the resources with their archive extension stripped, under <Class>/raw
        return [f"{cls.__name__}/raw/{os.path.splitext(os.path.basename(url))[0]}" for url, _ in cls.resources]
    names = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [f"{cls.base_folder}/{name}" for name in names]


def missing_files(key: str, root: Path) -> list[str]:
    cls = _datasets()[key][0]
    if issubclass(cls, _datasets()["mnist"][0]):
        # torchvision still accepts the legacy processed/training.pt + test.pt in place of the raw files
        processed = root / cls.__name__ / "processed"
        if all((processed / f).is_file() for f in (cls.training_file, cls.test_file)):
            return []
    return [f for f in expected_files(key) if not (root / f).is_file()]


@functools.lru_cache(maxsize=4)
def _read(key: str, root: str) -> RawSplit:
    """Read torchvision's own train and test splits as float32 (N, C, H, W) in [0, 1]; cached per (key, path)."""
    public, reader, n_classes = _datasets()[key]
    parts = []
    for train in (True, False):
        ds = reader(root, train=train, download=False)
        data = np.asarray(ds.data)
        if data.ndim == 3:  # MNIST family: (N, H, W) uint8
            x = data[:, None, :, :]
        else:  # CIFAR: (N, H, W, C) uint8
            x = data.transpose(0, 3, 1, 2)
        parts += [x.astype(np.float32) / np.float32(255.0), np.asarray(ds.targets, dtype=np.int64)]
    info = {"source": f"torchvision.datasets.{public.__name__} "
                      f"({len(parts[1]):,} train / {len(parts[3]):,} test images)"}
    return to_tensors(*parts, n_classes=n_classes, info=info)


def require_files(key: str, data_dir: str | os.PathLike | None = None, *, name: str | None = None) -> Path:
    """The data directory, or BadInput naming the directory and the missing files (checked before a run starts)."""
    root = resolve_data_dir(data_dir)
    missing = missing_files(key, root)
    if missing:
        cls = _datasets()[key][0]
        raise BadInput(
            f"{name or key}: dataset files not found in {root}: {', '.join(missing)} "
            f"(download them with torchvision, e.g. torchvision.datasets.{cls.__name__}(root, download=True), "
            f"or pass --data-dir)"
        )
    return root


def load_dataset(key: str, data_dir: str | os.PathLike | None = None, *, name: str | None = None) -> RawSplit:
    """Load a dataset from the data directory, or raise BadInput naming the directory and the missing files."""
    root = require_files(key, data_dir, name=name)
    try:
        return _read(key, str(root))
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError, AssertionError,
            pickle.UnpicklingError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise BadInput(f"{name or key}: could not read the dataset files in {root}: {detail}") from e


def download(name: str, data_dir: str | None = None) -> Path:
    """Download a dataset with torchvision into the data directory and return that directory.

    `name` is a dataset key (mnist, fmnist, cifar10, cifar100) or a benchmark name (split-cifar10, ...)."""
    key = _BENCHMARK_DATASET.get(name, name)
    if key not in KEYS:
        allowed = ", ".join([*KEYS, *_BENCHMARK_DATASET])
        raise BadInput(f"unknown dataset {name!r}: expected one of {allowed}")
    root = resolve_data_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    cls = _datasets()[key][0]
    for train in (True, False):
        cls(str(root), train=train, download=True)
    return root


def _loader(name: str, key: str):
    return lambda params, data_dir: load_dataset(key, data_dir, name=name)


def _data_check(name: str, key: str):
    return lambda data_dir: require_files(key, data_dir, name=name) and None


_BENCHMARK_DATASET = {
    "split-mnist": "mnist",
    "permuted-mnist": "mnist",
    "split-fmnist": "fmnist",
    "split-cifar10": "cifar10",
    "split-cifar100": "cifar100",
}

_SPLIT_SCENARIOS = ("class", "task", "domain")

# Per-channel mean and std of the training images in [0, 1], as Mammoth normalises its CIFAR streams
# (datasets/seq_cifar10.py and seq_cifar100.py, MEAN and STD, at commit e75a491c69fd729edeb01431afb753d9157d9a81).
# PyCIL (utils/data.py) uses the same CIFAR-100 values; its CIFAR-10 std (0.2023, 0.1994, 0.2010) is the often
# copied figure that is not the pixels' std.
CIFAR10_NORMALIZATION = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2615))
CIFAR100_NORMALIZATION = ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))

SPECS = [
    BenchmarkSpec(
        name="split-mnist", kind="split", n_classes=10, params=(n_experiences_param(), CLASS_ORDER),
        scenarios=_SPLIT_SCENARIOS, load=_loader("split-mnist", "mnist"), offline=False,
        check_data=_data_check("split-mnist", "mnist"),
        description="Full MNIST (60,000 / 10,000 28x28 digits, torchvision files), split into disjoint classes.",
    ),
    BenchmarkSpec(
        name="permuted-mnist", kind="domain", params=(n_experiences_param(max_=20),), scenarios=("domain", "task"),
        load=_loader("permuted-mnist", "mnist"), transform=permute, offline=False,
        check_data=_data_check("permuted-mnist", "mnist"),
        description="Full MNIST with all ten classes in every experience, each under its own fixed pixel permutation.",
    ),
    BenchmarkSpec(
        name="split-fmnist", kind="split", n_classes=10, params=(n_experiences_param(), CLASS_ORDER),
        scenarios=_SPLIT_SCENARIOS, load=_loader("split-fmnist", "fmnist"), offline=False,
        check_data=_data_check("split-fmnist", "fmnist"),
        description="Fashion-MNIST (60,000 / 10,000 28x28 clothing images), split into disjoint classes.",
    ),
    BenchmarkSpec(
        name="split-cifar10", kind="split", n_classes=10, params=(n_experiences_param(), CLASS_ORDER),
        scenarios=_SPLIT_SCENARIOS, load=_loader("split-cifar10", "cifar10"), offline=False,
        check_data=_data_check("split-cifar10", "cifar10"), default_model="cnn",
        augment="crop_flip", normalization=CIFAR10_NORMALIZATION,
        description="CIFAR-10 (50,000 / 10,000 32x32 colour images), split into disjoint classes.",
    ),
    BenchmarkSpec(
        name="split-cifar100", kind="split", n_classes=100,
        params=(n_experiences_param(default=10, max_=100), CLASS_ORDER),
        scenarios=_SPLIT_SCENARIOS, load=_loader("split-cifar100", "cifar100"), offline=False,
        check_data=_data_check("split-cifar100", "cifar100"), default_model="cnn",
        augment="crop_flip", normalization=CIFAR100_NORMALIZATION,
        description="CIFAR-100 (50,000 / 10,000 32x32 colour images, 100 fine classes), split into disjoint classes.",
    ),
]
