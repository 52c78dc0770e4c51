"""The CIFAR ResNets of the continual-learning literature, as feature extractors (the head is added by the registry).

- ResNet-18, CIFAR variant (3x3 stem, no max-pool, four stages of two basic blocks, widths nf, 2nf, 4nf, 8nf,
  projection shortcuts), as in GEM's `model/common.py` (Lopez-Paz & Ranzato 2017, nf=20, "reduced") and Mammoth's
  `backbone/ResNetBlock.py` (nf=64 for seq-cifar10/100). PyTorch's default initialisation, as both use.
- ResNet-32 for CIFAR (He et al. 2016, section 4.2: 3x3 stem, three stages of five basic blocks, 16/32/64 channels,
  parameter-free "option A" shortcuts that subsample and zero-pad the channels), as PyCIL's `convs/cifar_resnet.py`
  builds it for iCaRL and its other CIFAR-100 methods; He-normal (fan-out) initialisation, as there.

The pooling is global average pooling (GEM's fixed `avg_pool2d(out, 4)` and ResNet-32's `AvgPool2d(8)` are the
same thing on 32x32 inputs), so the nets also run on the smaller digit images. Input channels follow the stream.
On CUDA the registry switches a ResNet to channels-last and, when the run asks, bf16 autocast (`autocast_bf16`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


class PadShortcut(nn.Module):
    """He et al.'s option A: take every other pixel and append zero channels up to the new width (no parameters)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = c_out - c_in, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int, *, shortcut: str) -> None:
        super().__init__()
        self.conv1 = _conv3x3(c_in, c_out, stride)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = _conv3x3(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "projection":  # option B: a strided 1x1 convolution and batch norm
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        else:
            self.shortcut = PadShortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetFeatures(nn.Module):
    """Stem, stages of basic blocks, global average pooling: (N, C, H, W) -> (N, widths[-1])."""

    def __init__(self, *, in_channels: int, widths: tuple[int, ...], blocks: tuple[int, ...], shortcut: str) -> None:
        super().__init__()
        self.out_dim = widths[-1]
        self.autocast_bf16 = False  # set by bench.models.gpu_ready on CUDA when the run asks for bf16
        self.stem = nn.Sequential(_conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c_in = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
            layer = []
            for j in range(n):
                layer.append(BasicBlock(c_in, width, 2 if (i > 0 and j == 0) else 1, shortcut=shortcut))
                c_in = width
            stages.append(nn.Sequential(*layer))
        self.stages = nn.Sequential(*stages)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.autocast_bf16:
            with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
                feats = self._features(x)
            return feats.float()  # the heads, losses and class means stay in float32
        return self._features(x)


def resnet18_features(input_shape: tuple[int, ...], nf: int = 64) -> tuple[nn.Module, int]:
    net = ResNetFeatures(in_channels=input_shape[0], widths=(nf, 2 * nf, 4 * nf, 8 * nf), blocks=(2, 2, 2, 2),
                         shortcut="projection")
    return net, net.out_dim


def resnet32_features(input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
    net = ResNetFeatures(in_channels=input_shape[0], widths=(16, 32, 64), blocks=(5, 5, 5), shortcut="pad")
    for m in net.modules():  # He-normal with fan-out, as PyCIL (normal(0, sqrt(2 / (k * k * out_channels))))
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net, net.out_dim
