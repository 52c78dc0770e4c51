"""How much training a preset's run is (images seen), and how long that takes at a measured rate."""
from __future__ import annotations

from bench.reproduce import quick
from bench.reproduce.presets import Preset

# Training images of torchvision's datasets (their own train splits).
TRAIN_IMAGES = {"mnist": 60_000, "fmnist": 60_000, "cifar10": 50_000, "cifar100": 50_000}


def train_images(preset: Preset) -> int | None:
    """Images a full run of the preset trains on (epochs x the training set; a domain stream sees it once per
    experience), without replayed samples; None for streams of unknown size."""
    from bench.benchmarks import get_benchmark
    from bench.spec.params import BadInput

    key = quick.dataset_key(preset.bench["benchmark"])
    if key is None:
        return None
    try:
        kind = get_benchmark(preset.bench["benchmark"]).kind
    except BadInput:
        return None
    per_pass = TRAIN_IMAGES[key]
    if kind == "domain":
        per_pass *= int(preset.bench["benchmark_params"].get("n_experiences", 1))
    return int(preset.epochs) * per_pass


def duration_s(images: int | None, images_per_s: float | None) -> float | None:
    if not images or not images_per_s or images_per_s <= 0:
        return None
    return images / images_per_s


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
