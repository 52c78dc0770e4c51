"""The model every prompt strategy trains: a frozen ViT, a prompt method, and a linear head (one per experience in
the task-incremental scenario); and the Avalanche plugin that adds the method's loss and masks the logits."""
from __future__ import annotations

import torch
from avalanche.core import SupervisedPlugin
from avalanche.models import MultiTaskModule
from torch import nn

from bench.models import per_task_heads
from bench.prompt.backbones import BackboneInfo, InputAdapter
from bench.prompt.vit_ops import query


class PromptNet(MultiTaskModule):
    def __init__(self, *, backbone: nn.Module, info: BackboneInfo, method: nn.Module, n_outputs: int,
                 n_heads: int, freeze: bool = True) -> None:
        super().__init__()
        self.freeze = freeze
        self.backbone = backbone.requires_grad_(not freeze).eval() if freeze else backbone
        self.adapter = InputAdapter(info)
        self.method = method
        self.heads = nn.ModuleList(nn.Linear(backbone.embed_dim, n_outputs) for _ in range(n_heads))
        for head in self.heads:  # an unseen class scores 0 until it is trained, instead of a random logit
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.task = 0
        self.aux_loss = torch.zeros(())

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.backbone.eval()  # frozen means frozen: no dropout or drop-path either
        return self

    def start_task(self, task: int) -> None:
        self.task = task
        if hasattr(self.method, "start_task"):
            self.method.start_task(task)

    def prompt_floats(self) -> int:
        """Numbers the method keeps to fight forgetting: prompts, keys, attention vectors (not the head)."""
        return sum(p.numel() for p in self.method.parameters())

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.adapter(x)
        feat, self.aux_loss = self.method(self.backbone, x, query(self.backbone, x),
                                          self.task if self.training else None)
        return feat

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        return self.heads[int(task_label) if len(self.heads) > 1 else 0](self._features(x))

    def forward(self, x: torch.Tensor, task_labels=None) -> torch.Tensor:
        feat = self._features(x)
        if len(self.heads) == 1 or task_labels is None:
            return self.heads[0](feat)
        if isinstance(task_labels, int):
            return self.heads[task_labels](feat)
        return per_task_heads(self.heads, feat, task_labels)


class PromptPlugin(SupervisedPlugin):
    """Tells the model which experience trains, adds the method's loss (pull constraint, orthogonality), and in the
    class-incremental scenario masks the logits of classes outside the current experience while training, as all
    three papers do, so the shared head is not pushed to forget the old classes."""

    def __init__(self, class_groups: list[tuple[int, ...]] | None) -> None:
        super().__init__()
        self.class_groups = class_groups  # None: no masking (task- and domain-incremental)
        self.keep: torch.Tensor | None = None

    def before_training_exp(self, strategy, **kwargs) -> None:
        t = strategy.experience.current_experience
        strategy.model.start_task(t)
        self.keep = None if self.class_groups is None else torch.tensor(self.class_groups[t])

    def after_forward(self, strategy, **kwargs) -> None:
        if self.keep is not None:
            out = strategy.mb_output
            mask = torch.ones(out.shape[1], dtype=torch.bool, device=out.device)
            mask[self.keep.to(out.device)] = False
            strategy.mb_output = out.masked_fill(mask, float("-inf"))

    def before_backward(self, strategy, **kwargs) -> None:
        strategy.loss = strategy.loss + strategy.model.aux_loss
