"""The run's optimizer, built from its config."""
from __future__ import annotations

import torch

from bench.spec.config import RunConfig


def make_optimizer(cfg: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Plain SGD or Adam over every parameter of the model, at the run's learning rate."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr)
