"""The three prompt methods, each an nn.Module over a frozen timm ViT: `forward(vit, x, q, task)` returns the
features the classifier reads and the method's auxiliary loss. `q` is the frozen backbone's class token (the query),
`task` the current experience while training (None in evaluation: the prompts are then chosen from `q` alone).

- L2P (Wang et al., CVPR 2022): a pool of prompts with learnable keys; the top-k keys by cosine similarity to the
  query pick the prompts, prepended to the tokens (prompt tuning); the classifier reads the mean of the prompt
  tokens' outputs; a pull constraint λ·Σ(1 - cos(q, k)) draws the chosen keys to the queries.
- DualPrompt (Wang et al., ECCV 2022): one shared G-prompt in the first layers and a pool of E-prompts (one per
  experience) in later layers, both as attention prefixes; the experience's own E-prompt trains (its key pulled to
  the queries), and at test time the nearest key among the experiences trained so far picks it (a pool larger than
  the stream would otherwise offer untrained keys); the classifier reads the class token.
- CODA-Prompt (Smith et al., CVPR 2023): per layer, a prompt is a weighted sum of components, weighted by
  cos(q ⊙ A_m, K_m) with learnable keys K and attention vectors A, all trained end to end through the classifier's
  loss; each experience brings its own slice of components and the slices of earlier experiences are frozen.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.prompt.vit_ops import features


def _uniform(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.empty(*shape).uniform_(-1.0, 1.0))


def cosine(q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """(B, D) x (M, D) -> (B, M) cosine similarities."""
    return F.normalize(q, dim=-1) @ F.normalize(keys, dim=-1).T


def select_top_k(q: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k keys most similar to each query: (indices (B, k) in decreasing similarity, similarities (B, M))."""
    sim = cosine(q, keys)
    return sim.topk(k, dim=1).indices, sim


def _merge(prefixes: dict, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
    if layer in prefixes:
        k0, v0 = prefixes[layer]
        k, v = torch.cat([k0, k], dim=1), torch.cat([v0, v], dim=1)
    prefixes[layer] = (k, v)


class NoPrompt(nn.Module):
    """The backbone's own class token: fine-tuning (or a linear probe on) the same ViT, for comparison."""

    def forward(self, vit, x, q, task):
        return features(vit, x)[:, 0], q.new_zeros(())


class L2P(nn.Module):
    def __init__(self, dim: int, *, pool_size: int = 10, length: int = 5, top_k: int = 5, pull: float = 0.1,
                 readout: str = "prompts") -> None:
        super().__init__()
        self.prompts = _uniform(pool_size, length, dim)
        self.keys = _uniform(pool_size, dim)
        self.top_k, self.pull, self.readout = top_k, pull, readout

    def forward(self, vit, x, q, task):
        idx, sim = select_top_k(q, self.keys, self.top_k)
        tokens = self.prompts[idx].flatten(1, 2)  # (B, k * length, D)
        h = features(vit, x, tokens=tokens)
        feat = h[:, 1:1 + tokens.shape[1]].mean(1) if self.readout == "prompts" else h[:, 0]
        return feat, self.pull * (1.0 - sim.gather(1, idx)).sum(1).mean()


class DualPrompt(nn.Module):
    def __init__(self, dim: int, *, g_layers=(0, 1), g_length: int = 5, e_layers=(2, 3, 4), e_length: int = 20,
                 pool_size: int = 10, pull: float = 1.0) -> None:
        super().__init__()
        self.g_layers, self.e_layers = tuple(g_layers), tuple(e_layers)
        self.g = _uniform(len(self.g_layers), 2, g_length, dim)  # per layer: key prefix, value prefix
        self.e = _uniform(pool_size, len(self.e_layers), 2, e_length, dim)
        self.keys = _uniform(pool_size, dim)
        self.pull = pull
        self.seen = 1  # E-prompts trained so far: only their keys compete at test time

    def start_task(self, task: int) -> None:
        self.seen = max(self.seen, task + 1)

    def select(self, q: torch.Tensor, task: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The E-prompt of each input: the training experience's own, else the nearest seen key; and similarities."""
        sim = cosine(q, self.keys)
        if task is not None:
            return torch.full((len(q),), task, device=q.device), sim
        return sim[:, :self.seen].argmax(1), sim

    def forward(self, vit, x, q, task):
        B = x.shape[0]
        idx, sim = self.select(q, task)
        prefixes: dict = {}
        for j, layer in enumerate(self.g_layers):
            _merge(prefixes, layer, self.g[j, 0].expand(B, -1, -1), self.g[j, 1].expand(B, -1, -1))
        e = self.e[idx]  # (B, layers, 2, length, D)
        for j, layer in enumerate(self.e_layers):
            _merge(prefixes, layer, e[:, j, 0], e[:, j, 1])
        h = features(vit, x, prefixes=prefixes)
        pull = (1.0 - sim.gather(1, idx[:, None])).mean() if task is not None else sim.new_zeros(())
        return h[:, 0], self.pull * pull


ORTHO_SCALE = 1e-6  # the official code's factor on the orthogonality penalty


class CodaPrompt(nn.Module):
    def __init__(self, dim: int, *, n_tasks: int, layers=(0, 1, 2, 3, 4), pool_size: int = 100, length: int = 8,
                 ortho: float = 0.0) -> None:
        super().__init__()
        self.layers = tuple(layers)
        n = len(self.layers)
        self.per_task = pool_size // n_tasks
        self.length, self.ortho, self.task = length, ortho, 0
        self.p = nn.Parameter(torch.empty(n, pool_size, length * dim))
        self.k = nn.Parameter(torch.empty(n, pool_size, dim))
        self.a = nn.Parameter(torch.empty(n, pool_size, dim))
        with torch.no_grad():  # orthogonal components, keys and attention vectors (as far as the dimension allows)
            for t in (self.p, self.k, self.a):
                for j in range(n):
                    nn.init.orthogonal_(t[j])

    def start_task(self, task: int) -> None:
        self.task = task

    def _components(self, t: torch.Tensor, task: int | None) -> torch.Tensor:
        """Components in use: every slice up to the current experience's; earlier slices are frozen in training."""
        s = self.task * self.per_task
        f = s + self.per_task
        if task is None:
            return t[:, :f]
        return torch.cat([t[:, :s].detach(), t[:, s:f]], dim=1)

    def forward(self, vit, x, q, task):
        B, D = q.shape
        P, K, A = (self._components(t, task) for t in (self.p, self.k, self.a))
        prefixes = {}
        for j, layer in enumerate(self.layers):
            alpha = cosine_weights(q, K[j], A[j])  # (B, M)
            prompt = (alpha @ P[j]).view(B, self.length, D)
            half = self.length // 2
            prefixes[layer] = (prompt[:, :half], prompt[:, half:])
        h = features(vit, x, prefixes=prefixes)
        # The paper's code (GT-RIPL/CODA-Prompt at 22948d2, ortho init at the start as here) scales its penalty by
        # 1e-6, so `ortho` means its ortho_mu (0.1 in its CIFAR-100 script).
        loss = sum(ortho_penalty(t[j]) for t in (K, A, P) for j in range(len(self.layers))) * self.ortho * ORTHO_SCALE \
            if (self.ortho > 0 and task is not None) else q.new_zeros(())
        return h[:, 0], loss


def cosine_weights(q: torch.Tensor, keys: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """CODA-Prompt's α_m = cos(q ⊙ A_m, K_m): (B, D), (M, D), (M, D) -> (B, M)."""
    qa = q[:, None, :] * attention[None]  # (B, M, D)
    return F.cosine_similarity(qa, keys[None], dim=-1)


def ortho_penalty(t: torch.Tensor) -> torch.Tensor:
    """||T T^T - I||² (mean): how far the rows of T are from orthonormal."""
    gram = t @ t.T
    return ((gram - torch.eye(len(t), device=t.device)) ** 2).mean()
