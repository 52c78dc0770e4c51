"""Training-data augmentation on the run's device: random crop after zero padding and horizontal flip, per minibatch.

`crop_flip` is torchvision's ``RandomCrop(size, padding=p)`` followed by ``RandomHorizontalFlip(0.5)`` (Mammoth's
and PyCIL's CIFAR training transform; PyCIL also jitters brightness), done for a whole minibatch at once with two
gathers on the device: no per-sample Python, no host round trip, so a GPU never waits on it. Padding is 4 px at
32x32 (H // 8 in general). The pad value is 0, black, as torchvision's; normalisation comes later, inside the model.

Where it applies (`Augment`, an Avalanche plugin): to each training minibatch right after the loader, in
``before_training_iteration``, whichever loader made it: our fast path's ``TensorBatches``, Avalanche's DataLoader
(``fast=false``), or ReplayPlugin's ``ReplayDataLoader``, which replaces ours from the second experience on and so
brings its replayed samples along. Strategies that draw their replay batch from a loader of their own (DER, ER-ACE
and MIR keep one as ``replay_loader``) get that loader wrapped, so their buffer samples are augmented too, as in
Mammoth (its buffers return transformed samples). Evaluation never is. Plugins that read ``strategy.mb_x`` later
(LwF's and iCaRL's distillation targets) see the augmented batch the model trains on.

Reproducible and harmless to the rest of the run: the draws come from the plugin's own ``torch.Generator`` on the
device, seeded from the run's seed, never from the global generator that the fast path reproduces draw for draw.
Both data paths hand the plugin the same minibatches in the same order, so results with and without the fast path
stay identical (tests/test_augment.py).
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin

AUGMENT_STREAM = 0xA06  # mixed with the run's seed: augmentation draws are their own stream


def padding_for(height: int) -> int:
    """4 px at 32x32, as every CIFAR recipe; H // 8 (at least 1) for other sizes."""
    return max(1, height // 8)


def augment_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """The generator of a run's augmentation draws, on the run's device, seeded from the run's seed."""
    state = int(np.random.SeedSequence([int(seed), AUGMENT_STREAM]).generate_state(1, dtype=np.uint64)[0])
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(state & (2**63 - 1))
    return gen


def crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int) -> torch.Tensor:
    """Each image of (N, C, H, W) cropped back to H x W at a uniform offset in [0, 2p] of its zero-padded copy, then
    flipped left-right with probability 1/2. Draws 3N numbers from `generator` (offsets, then flips)."""
    n, c, h, w = x.shape
    p = padding
    offsets = torch.randint(0, 2 * p + 1, (2, n), generator=generator, device=x.device)
    flips = torch.randint(0, 2, (n,), generator=generator, device=x.device).bool()
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (N, H): source rows in the padded image
    ar = torch.arange(w, device=x.device)
    cols = offsets[1, :, None] + torch.where(flips[:, None], w - 1 - ar, ar)  # (N, W): crop, then flip
    padded = F.pad(x, (p, p, p, p))
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * p))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


class Augment(SupervisedPlugin):
    """Applies `crop_flip` to every training minibatch (and to the strategies' own replay batches); counts them."""

    def __init__(self, *, seed: int, device: torch.device | str, height: int) -> None:
        super().__init__()
        self.device = torch.device(device)
        self.generator = augment_generator(seed, self.device)
        self.padding = padding_for(height)
        self.batches = 0  # minibatches augmented, replay batches included (recorded with the run's metrics)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.batches += 1
        return crop_flip(x, self.generator, self.padding)

    def before_training_iteration(self, strategy, **kwargs) -> None:
        strategy.mbatch[0] = self(strategy.mbatch[0])

    def before_training_exp(self, strategy, **kwargs) -> None:
        # DER and ER-ACE build their replay loader before the plugins' hook; MIR's plugin built its own at the end
        # of the previous experience.
        for owner in (strategy, *strategy.plugins):
            loader = getattr(owner, "replay_loader", None)
            if loader is not None and not isinstance(loader, _AugmentedLoader):
                owner.replay_loader = _AugmentedLoader(loader, self)


class _AugmentedLoader:
    """A replay loader (an endless iterator of [x, y, ...] batches) whose x come out on the device, augmented."""

    def __init__(self, loader: Iterable, augment: Augment) -> None:
        self.loader = iter(loader)
        self.augment = augment

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> list[Any]:
        batch = list(next(self.loader))
        batch[0] = self.augment(batch[0].to(self.augment.device))
        return batch
