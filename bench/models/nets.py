"""The small backbones (MLP, CNN, the facts nets), the input normalisation layer, and the heads every backbone gets."""
from __future__ import annotations

import math

import torch
from avalanche.models import MultiTaskModule
from torch import nn


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


class Normalize(nn.Module):
    """(x - mean) / std per channel, the stream's published statistics: inside the model, so training, every
    evaluation (the recorder's whole test tensors), replay buffers and iCaRL's class means all see the same
    inputs, while the data itself stays in [0, 1] (a VAE generator needs that). Constants, not parameters."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FactsMLP(nn.Module):
    """Embeddings of the entity and the relation, concatenated, through a hidden layer."""

    def __init__(self, *, n_entities: int, n_relations: int, dim: int = 64, hidden: int = 256) -> None:
        super().__init__()
        self.entity = nn.Embedding(n_entities, dim)
        self.relation = nn.Embedding(n_relations, dim)
        self.body = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU())
        self.out_dim = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([self.entity(x[:, 0]), self.relation(x[:, 1])], dim=1))


class FactsTransformer(nn.Module):
    """A tiny transformer encoder over the two tokens (entity, relation); the relation token's output is read."""

    def __init__(self, *, n_entities: int, n_relations: int, dim: int = 64, layers: int = 1, heads: int = 4) -> None:
        super().__init__()
        self.entity = nn.Embedding(n_entities, dim)
        self.relation = nn.Embedding(n_relations, dim)
        self.position = nn.Parameter(torch.zeros(2, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = torch.stack([self.entity(x[:, 0]), self.relation(x[:, 1])], dim=1) + self.position
        return self.encoder(tokens)[:, 1]


def facts_features(input_shape: tuple[int, ...], info: dict) -> tuple[nn.Module, int]:
    kw = {"n_entities": info["n_entities"], "n_relations": info["n_relations"]}
    net = FactsTransformer(**kw, layers=info.get("layers", 1)) if info.get("model") == "transformer" else FactsMLP(**kw)
    return net, net.out_dim


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
        return per_task_heads(self.heads, self.features(x), task_labels)


def per_task_heads(heads: nn.ModuleList, feats: torch.Tensor, task_labels: torch.Tensor) -> torch.Tensor:
    """Each sample's features through the head of its own task (a minibatch may mix tasks)."""
    out = torch.empty(feats.shape[0], heads[0].out_features, device=feats.device, dtype=feats.dtype)
    for task in torch.unique(task_labels).tolist():
        mask = task_labels == task
        out[mask] = heads[int(task)](feats[mask])
    return out


def with_head(features: nn.Module, feat_dim: int, *, n_outputs: int, n_heads: int) -> nn.Module:
    """The single-head model, or the multi-head one (task-incremental: one head per experience)."""
    if n_heads > 1:
        return MultiHeadNet(features=features, feat_dim=feat_dim, n_outputs=n_outputs, n_heads=n_heads)
    return SingleHeadNet(features=features, feat_dim=feat_dim, n_outputs=n_outputs)
