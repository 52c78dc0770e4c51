"""Small backbones: an MLP and a CNN, with a shared head or one head per task (task-incremental)."""
from __future__ import annotations

import math

import torch
from avalanche.models import MultiTaskModule
from torch import nn

MODELS = ("mlp", "cnn")


def mlp_features(input_shape: tuple[int, ...], hidden: int = 256) -> tuple[nn.Module, int]:
    n_in = math.prod(input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()), hidden


def cnn_features(input_shape: tuple[int, ...], width: int = 32) -> tuple[nn.Module, int]:
    c = input_shape[0]
    body = nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    return body, 4 * width


class SingleHeadNet(nn.Module):
    """features -> one linear classifier shared by all experiences."""

    def __init__(self, *, features: nn.Module, feat_dim: int, n_outputs: int) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(feat_dim, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MultiHeadNet(MultiTaskModule):
    """features -> one fixed-size linear head per task; the task label picks the head."""

    def __init__(self, *, features: nn.Module, feat_dim: int, n_outputs: int, n_heads: int) -> None:
        super().__init__()
        self.features = features
        self.heads = nn.ModuleList(nn.Linear(feat_dim, n_outputs) for _ in range(n_heads))
        self.n_outputs = n_outputs

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        return self.heads[int(task_label)](self.features(x))

    def forward(self, x: torch.Tensor, task_labels) -> torch.Tensor:  # fixed width, works before adaptation
        if task_labels is None:  # every known head's output, as a dict (LwF distils through this)
            return self.forward_all_tasks(x)
        if isinstance(task_labels, int):
            return self.forward_single_task(x, task_labels)
        feats = self.features(x)
        out = torch.empty(x.shape[0], self.n_outputs, device=x.device, dtype=feats.dtype)
        for task in torch.unique(task_labels).tolist():
            mask = task_labels == task
            out[mask] = self.heads[int(task)](feats[mask])
        return out


def build_model(kind: str, *, input_shape: tuple[int, ...], n_outputs: int, n_heads: int) -> nn.Module:
    features, dim = (mlp_features if kind == "mlp" else cnn_features)(input_shape)
    if n_heads > 1:
        return MultiHeadNet(features=features, feat_dim=dim, n_outputs=n_outputs, n_heads=n_heads)
    return SingleHeadNet(features=features, feat_dim=dim, n_outputs=n_outputs)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
