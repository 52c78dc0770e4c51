"""Baselines: fine-tuning (the lower bound), joint training (the upper bound) and cumulative retraining."""
from __future__ import annotations

from bench.strategies.base import ALL_SCENARIOS, QUICK_CLAIM, Claim, StrategySpec, avalanche

SPECS = [
    StrategySpec(
        name="naive", family="baselines", params=(), scenarios=ALL_SCENARIOS,
        build=lambda ctx, p: avalanche("Naive")(**ctx.kwargs()),
        description="Fine-tuning: train on each experience in turn with no protection against forgetting.",
    ),
    StrategySpec(
        name="joint", family="baselines", params=(), scenarios=ALL_SCENARIOS, trains_jointly=True,
        build=lambda ctx, p: avalanche("JointTraining")(**ctx.kwargs()),
        description="Joint training on all experiences at once: the upper bound (not continual).",
        claims=(Claim(benchmark="split-digits", scenario="class", margin=0.5, **QUICK_CLAIM,
                      source="the upper bound: every class is trained together, nothing to forget"),),
    ),
    StrategySpec(
        name="cumulative", family="baselines", params=(), scenarios=ALL_SCENARIOS,
        build=lambda ctx, p: avalanche("Cumulative")(**ctx.kwargs()),
        description="At each experience, retrain on the union of all data seen so far.",
        claims=(Claim(benchmark="split-digits", scenario="class", margin=0.5, **QUICK_CLAIM,
                      source="retraining on all data seen so far keeps every old class"),),
    ),
]
