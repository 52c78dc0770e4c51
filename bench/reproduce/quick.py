"""--quick: a small copy of a torchvision dataset folder (a few hundred images per experience), in torchvision's own
on-disk formats, so that a preset's runs read it through the same code as the full files.

The copy keeps the first `per_class` training and `test_per_class` test images of every class, in file order, and is
cached under $BENCH_CACHE_DIR (else ~/.cache/bench) by the source folder and the sizes. Streams that read no files
(the offline digits streams) have nothing to shrink."""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

TRAIN_PER_EXPERIENCE = 200  # about this many training images per experience
TEST_PER_CLASS = 20
FOLDER = "quick-data"  # every copy lives in a folder of this name: a run that read one is a quick run


def _cache_root() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "bench") / FOLDER


def is_quick_copy(data_dir) -> bool:
    """Whether a run's data folder is one of these small copies."""
    return isinstance(data_dir, str) and Path(data_dir).parent.name == FOLDER


def dataset_key(benchmark: str) -> str | None:
    """The torchvision dataset a stream reads (mnist, fmnist, cifar10, cifar100), or None for streams without files."""
    from bench.benchmarks import torchvision_sets

    return torchvision_sets._BENCHMARK_DATASET.get(benchmark)  # the streams' own table (one place declares it)


def per_class(benchmark_kind: str, n_classes: int, n_experiences: int) -> int:
    """Training images kept per class for about TRAIN_PER_EXPERIENCE per experience: a split stream's experience
    holds n_classes / n_experiences classes, a domain stream's all of them."""
    classes_per_exp = n_classes / n_experiences if benchmark_kind == "split" else n_classes
    return max(1, math.ceil(TRAIN_PER_EXPERIENCE / classes_per_exp))


def _keep(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of the first n samples of every class, in file order."""
    out = []
    for c in np.unique(y):
        out.extend(np.flatnonzero(y == c)[:n])
    return np.sort(np.asarray(out, dtype=np.int64))


def quick_data(benchmark: str, data_dir: str | None, *, train_per_class: int,
               test_per_class: int = TEST_PER_CLASS) -> str | None:
    """The folder of a small copy of `benchmark`'s dataset (made once, then reused), or None when the stream reads
    no files. BadInput (from the stream's own check) when the source files are missing."""
    from bench.benchmarks import torchvision_sets as tvs

    key = dataset_key(benchmark)
    if key is None:
        return None
    root = tvs.require_files(key, data_dir, name=benchmark)
    stamp = [f"{f}:{(root / f).stat().st_size}:{(root / f).stat().st_mtime_ns}" for f in tvs.expected_files(key)
             if (root / f).is_file()]
    digest = hashlib.sha256("|".join([key, str(root), str(train_per_class), str(test_per_class), *stamp])
                            .encode()).hexdigest()[:12]
    target = _cache_root() / f"{key}-{train_per_class}-{test_per_class}-{digest}"
    if target.is_dir():
        return str(target)
    raw = tvs.load_dataset(key, str(root), name=benchmark)
    parts = {}
    for split, x, y, n in (("train", raw.train_x, raw.train_y, train_per_class),
                           ("test", raw.test_x, raw.test_y, test_per_class)):
        ys = y.numpy()
        idx = _keep(ys, n)
        # the readers scaled uint8 by 1/255: scaling back and rounding gives the original bytes
        parts[split] = (np.rint(x.numpy()[idx] * 255.0).astype(np.uint8), ys[idx])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        _WRITERS[key](tmp, parts)
        try:
            os.replace(tmp, target)
        except OSError:  # another process wrote the same copy meanwhile: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def _idx(path: Path, arr: np.ndarray) -> None:
    """An idx-ubyte file: magic (0x08 = unsigned byte, then the number of dimensions), big-endian sizes, the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


def _mnist_family(folder: str):
    def write(root: Path, parts: dict) -> None:
        for prefix, split in (("train", "train"), ("t10k", "test")):
            x, y = parts[split]
            _idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", x[:, 0])
            _idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    return write


def _rows(x: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) -> CIFAR's rows of 3072 bytes: the red plane, then green, then blue, each row-major."""
    return x.reshape(len(x), -1)


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def _cifar10(root: Path, parts: dict) -> None:
    folder = root / "cifar-10-batches-py"
    (x, y), (tx, ty) = parts["train"], parts["test"]
    for b, chunk in enumerate(np.array_split(np.arange(len(y)), 5)):  # torchvision reads all five batches
        _pickle(folder / f"data_batch_{b + 1}", {"data": _rows(x[chunk]), "labels": [int(v) for v in y[chunk]]})
    _pickle(folder / "test_batch", {"data": _rows(tx), "labels": [int(v) for v in ty]})
    _pickle(folder / "batches.meta", {"label_names": [f"class{c}" for c in range(10)]})


def _cifar100(root: Path, parts: dict) -> None:
    folder = root / "cifar-100-python"
    for split in ("train", "test"):
        x, y = parts[split]
        labels = [int(v) for v in y]
        _pickle(folder / split, {"data": _rows(x), "fine_labels": labels, "coarse_labels": [0] * len(labels)})
    _pickle(folder / "meta", {"fine_label_names": [f"fine{c}" for c in range(100)]})


_WRITERS = {"mnist": _mnist_family("MNIST"), "fmnist": _mnist_family("FashionMNIST"), "cifar10": _cifar10,
            "cifar100": _cifar100}
