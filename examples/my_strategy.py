"""An example plugin: `l2_anchor`, fine-tuning with an L2 penalty that pulls every trained weight back towards its
value at the end of the previous experience.

This is the "L2" baseline of Kirkpatrick et al. 2017, "Overcoming catastrophic forgetting in neural networks"
(PNAS, Fig. 2A): EWC with every weight counted as equally important, loss = CE + lambda / 2 * sum (w - w*)^2. Two
choices are this plugin's own: the anchor is the weights at the end of the latest experience only (one copy, as
online EWC keeps), and a weight that no experience has changed yet (a later task's head in the task-incremental
scenario) is not anchored, so that it stays free to learn. Like the bench's EWC, the anchor copy is not counted
in the run's kept memory.

Use it without touching the bench:

    BENCH_PLUGINS=examples/my_strategy.py python -m bench list strategies
    BENCH_PLUGINS=examples/my_strategy.py python -m bench run --benchmark permuted-digits --scenario domain \\
        --strategy l2_anchor --param l2_lambda=0.5

A plugin module declares lists of specs: STRATEGIES here (BENCHMARKS and BACKBONES work the same way). It imports
only the bench's spec types at import time; torch and Avalanche are imported when a run builds the strategy, so the
app's pages stay quick to open."""
from __future__ import annotations

from bench.spec.params import ParamSpec
from bench.strategies.base import ALL_SCENARIOS, StrategySpec, avalanche


def _plugin(strength: float):
    """The Avalanche plugin, defined when a run needs it (Avalanche's import takes seconds)."""
    import torch

    class L2AnchorPlugin(avalanche("SupervisedPlugin")):
        def __init__(self) -> None:
            super().__init__()
            self.anchor: dict[str, torch.Tensor] = {}
            self.start: dict[str, torch.Tensor] = {}

        def before_training_exp(self, strategy, **kwargs) -> None:
            # clone: detach() alone would be a view of the live weights (the bug that made Avalanche's SI a no-op)
            self.start = {n: p.detach().clone() for n, p in strategy.model.named_parameters()}

        def before_backward(self, strategy, **kwargs) -> None:
            if not self.anchor or strength == 0:
                return
            params = dict(strategy.model.named_parameters())
            penalty = sum(((params[n] - w) ** 2).sum() for n, w in self.anchor.items() if n in params)
            strategy.loss = strategy.loss + strength / 2 * penalty

        def after_training_exp(self, strategy, **kwargs) -> None:
            for n, p in strategy.model.named_parameters():
                trained = n in self.start and not torch.equal(self.start[n], p.detach())
                if trained or n in self.anchor:
                    self.anchor[n] = p.detach().clone()

    return L2AnchorPlugin()


def _build(ctx, params):
    kw = ctx.kwargs()
    kw["plugins"] = [*kw["plugins"], _plugin(params["l2_lambda"])]
    return avalanche("Naive")(**kw)


STRATEGIES = [
    StrategySpec(
        name="l2_anchor", family="regularization", scenarios=ALL_SCENARIOS, build=_build,
        paper="Kirkpatrick et al. 2017, Overcoming catastrophic forgetting in neural networks (the L2 baseline)",
        description="Fine-tuning with an L2 pull of every trained weight towards its value after the previous "
                    "experience (EWC with equal importance for all weights). An example plugin (examples/).",
        params=(
            ParamSpec(name="l2_lambda", type="float", default=0.5, min=0.0, max=1e4, log=True,
                      help="Strength of the pull; 0 is plain fine-tuning."),
        ),
    ),
]
