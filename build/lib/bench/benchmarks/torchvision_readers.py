"""torchvision's dataset readers as the torchvision streams use them (imported only when a stream reads files)."""
from __future__ import annotations

from typing import ClassVar

from torchvision import datasets as tvd


class _CIFAR10(tvd.CIFAR10):
    """torchvision's CIFAR-10 reader with integrity meaning "the expected files exist" (no md5 checks)."""

    train_list: ClassVar[list] = [[name, None] for name, _ in tvd.CIFAR10.train_list]
    test_list: ClassVar[list] = [[name, None] for name, _ in tvd.CIFAR10.test_list]
    meta: ClassVar[dict] = {**tvd.CIFAR10.meta, "md5": None}


class _CIFAR100(tvd.CIFAR100):
    """torchvision's CIFAR-100 reader (fine labels) with integrity meaning "the expected files exist"."""

    train_list: ClassVar[list] = [[name, None] for name, _ in tvd.CIFAR100.train_list]
    test_list: ClassVar[list] = [[name, None] for name, _ in tvd.CIFAR100.test_list]
    meta: ClassVar[dict] = {**tvd.CIFAR100.meta, "md5": None}


# dataset key -> (torchvision class, reader class, number of classes). MNIST's readers are torchvision's own:
# its `_check_exists` only tests that the raw files exist (no md5), and a subclass would change its folder name.
DATASETS: dict[str, tuple[type, type, int]] = {
    "mnist": (tvd.MNIST, tvd.MNIST, 10),
    "fmnist": (tvd.FashionMNIST, tvd.FashionMNIST, 10),
    "cifar10": (tvd.CIFAR10, _CIFAR10, 10),
    "cifar100": (tvd.CIFAR100, _CIFAR100, 100),
}
