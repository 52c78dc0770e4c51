"""The regularization plugins the bench implements itself, imported when a run builds one (see regularization.py).

Synaptic Intelligence (Zenke, Poole & Ganguli 2017, official code ganguli-lab/pathint) replaces Avalanche's
`SynapticIntelligencePlugin`: that one stores ``param.detach().cpu().flatten()``, which on a CPU tensor is a view of
the live parameter, so on CPU the "old" and "new" weights alias, the path integral and the penalty stay 0 and SI
trains exactly like fine-tuning (on CUDA ``.cpu()`` copies, so the same config behaved differently by device). It
also clamps every importance at 0.001, which the paper does not. Every snapshot here is a clone.

EWC and MAS keep Avalanche's plugins (their snapshots are clones) but compute their importances from per-sample
gradients, as the papers define them, instead of from minibatch means: the square (EWC) or absolute value (MAS) of a
minibatch-mean gradient shrinks as the batch grows (a summed Fisher of 35.0 at batch 1 against 13.5 at batch 32 on
split digits), so the same lambda meant a different penalty in every batch-size sweep.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from avalanche.models import MultiTaskModule
from avalanche.training.plugins import EWCPlugin, MASPlugin
from avalanche.training.utils import ParamData
from torch.utils.data import DataLoader

CHUNK_FLOATS = 2**23  # per-sample gradients held at once (32 MB of float32; larger chunks ran slower here)


def _trainable(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p for k, p in model.named_parameters() if p.requires_grad}


def _forward(model: torch.nn.Module, x: torch.Tensor, task: int) -> torch.Tensor:
    return model(x, task) if isinstance(model, MultiTaskModule) else model(x)


def per_sample_sum(model: torch.nn.Module, dataset, device, *,
                   loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   reduce: Callable[[torch.Tensor], torch.Tensor],
                   use_vmap: bool = True) -> tuple[dict[str, torch.Tensor], int]:
    """Sum over the samples of `dataset` of reduce(d loss(f(x), y) / d theta), one gradient per sample, and the
    sample count. `loss` maps one sample's output row (1, C) and label (1,) to a scalar. The model is evaluated in
    eval mode. Per-sample gradients come from torch.func (vmap of grad) in chunks; a model torch.func cannot map
    (a fused transformer kernel) falls back to one backward pass per sample, with the same result."""
    from torch.func import functional_call, grad, vmap

    was_training = model.training
    model.eval()
    params = {k: p.detach() for k, p in _trainable(model).items()}
    buffers = {k: b.detach() for k, b in model.named_buffers()}
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    n_params = sum(p.numel() for p in params.values())
    chunk = max(1, min(256, CHUNK_FLOATS // max(n_params, 1)))
    loader = DataLoader(dataset, batch_size=chunk, collate_fn=getattr(dataset, "collate_fn", None))
    n = 0
    vmapped = use_vmap
    for batch in loader:
        x, y, t = batch[0].to(device), batch[1].to(device), batch[-1]
        for task in torch.unique(t).tolist():
            mask = (t == task).to(device)
            xs, ys = x[mask], y[mask]

            def one(prm, xi, yi, task=int(task)):
                out = functional_call(model, (prm, buffers), (xi[None], task) if isinstance(
                    model, MultiTaskModule) else (xi[None],))
                return loss(out, yi[None])

            grads = None
            if vmapped:
                try:
                    grads = vmap(grad(one), in_dims=(None, 0, 0))(params, xs, ys)
                except (RuntimeError, NotImplementedError):
                    vmapped = False
            if grads is None:
                grads = _looped(model, xs, ys, int(task), loss)
            for k, g in grads.items():
                total[k] += reduce(g).sum(0)
            n += len(xs)
    model.train(was_training)
    return total, n


def _looped(model, xs, ys, task, loss) -> dict[str, torch.Tensor]:
    params = _trainable(model)
    out = {k: [] for k in params}
    for xi, yi in zip(xs, ys, strict=True):
        gs = torch.autograd.grad(loss(_forward(model, xi[None], task), yi[None]), list(params.values()),
                                 allow_unused=True)
        for (k, p), g in zip(params.items(), gs, strict=True):
            out[k].append(torch.zeros_like(p) if g is None else g)
    return {k: torch.stack(v) for k, v in out.items()}


def _nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y)


def _sq_norm(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return out.pow(2).sum()


class PerSampleEWCPlugin(EWCPlugin):
    """Avalanche's EWC penalty, lambda * sum_i F_i (theta_i - theta*_i)^2, with the empirical Fisher of Kirkpatrick
    et al. 2017 computed per sample: F_i = mean over the experience's training samples of (d log p(y|x) / d theta_i)^2,
    with the true labels. The paper writes the penalty as (lambda / 2) sum_i F_i (...)^2: its lambda is twice ours."""

    def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size, num_workers=0):
        total, n = per_sample_sum(model, dataset, device, loss=_nll, reduce=lambda g: g.pow(2))
        out = {}
        for k, p in model.named_parameters():
            imp = total[k] / max(n, 1) if k in total else torch.zeros_like(p)
            out[k] = ParamData(k, p.shape, device=p.device, init_tensor=imp.detach())
        return out


class PerSampleMASPlugin(MASPlugin):
    """Avalanche's MAS (penalty lambda * sum_i Omega_i (theta_i - theta*_i)^2, importances blended across experiences
    by `alpha`) with the importance of Aljundi et al. 2018 computed per sample: Omega_i = mean over the experience's
    samples of |d ||f(x)||_2^2 / d theta_i|. The paper sums the importances of successive tasks; alpha blends them."""

    def _get_importance(self, strategy):
        total, n = per_sample_sum(strategy.model, strategy.experience.dataset, strategy.device, loss=_sq_norm,
                                  reduce=torch.abs)
        out = {}
        for k, p in strategy.model.named_parameters():
            imp = total[k] / max(n, 1) if k in total else torch.zeros_like(p)
            out[k] = ParamData(k, p.shape, device=p.device, init_tensor=imp.detach())
        return out


class SynapticIntelligencePlugin(SupervisedPlugin):
    """Synaptic Intelligence as in Zenke et al. 2017 and its official code (ganguli-lab/pathint, PATH_INT_PROTOCOL).

    During an experience, omega_i accumulates -g_i * delta_i over the steps, with g the gradient of the task loss
    alone (the surrogate's gradient, known in closed form, is subtracted) and delta the update the optimizer made. At
    the experience's end Omega_i <- relu(Omega_i + omega_i / (Delta_i^2 + xi)), Delta being how far the parameter
    moved over the experience, and the anchor theta* becomes the current weights. The penalty added to the loss is
    c * sum_i Omega_i (theta_i - theta*_i)^2. Deviation: the gradient-norm clipping and the learning-rate schedule of
    the run act on the update as they would on any other strategy's."""

    def __init__(self, *, si_lambda: float, eps: float) -> None:
        super().__init__()
        self.c, self.xi = si_lambda, eps
        self.omega_total: dict[str, torch.Tensor] = {}  # Omega, summed over experiences
        self.anchor: dict[str, torch.Tensor] = {}  # theta*, the weights at the last experience's end
        self.start: dict[str, torch.Tensor] = {}  # the weights at this experience's start
        self.path: dict[str, torch.Tensor] = {}  # omega, this experience's path integral
        self._before: dict[str, torch.Tensor] = {}
        self._grad: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def before_training_exp(self, strategy, **kwargs) -> None:
        params = _trainable(strategy.model)
        self.start = {k: p.detach().clone() for k, p in params.items()}
        self.path = {k: torch.zeros_like(p) for k, p in params.items()}

    def penalty(self, model: torch.nn.Module) -> torch.Tensor | None:
        terms = [(self.omega_total[k] * (p - self.anchor[k]).pow(2)).sum()
                 for k, p in _trainable(model).items() if k in self.omega_total]
        return self.c * torch.stack(terms).sum() if terms else None

    def before_backward(self, strategy, **kwargs) -> None:
        loss = self.penalty(strategy.model)
        if loss is not None:
            strategy.loss = strategy.loss + loss

    @torch.no_grad()
    def after_backward(self, strategy, **kwargs) -> None:
        self._before, self._grad = {}, {}
        for k, p in _trainable(strategy.model).items():
            if p.grad is None:
                continue
            g = p.grad.detach().clone()
            if k in self.omega_total:  # the task loss's gradient: remove d/dtheta of c Omega (theta - theta*)^2
                g -= 2 * self.c * self.omega_total[k] * (p.detach() - self.anchor[k])
            self._grad[k] = g
            self._before[k] = p.detach().clone()

    @torch.no_grad()
    def after_update(self, strategy, **kwargs) -> None:
        params = _trainable(strategy.model)
        for k, g in self._grad.items():
            if k in self.path:
                self.path[k] -= g * (params[k].detach() - self._before[k])

    @torch.no_grad()
    def after_training_exp(self, strategy, **kwargs) -> None:
        for k, p in _trainable(strategy.model).items():
            if k not in self.path:
                continue
            moved = (p.detach() - self.start[k]).pow(2)
            total = self.omega_total.get(k, torch.zeros_like(p)) + self.path[k] / (moved + self.xi)
            self.omega_total[k] = torch.relu(total)
            self.anchor[k] = p.detach().clone()
