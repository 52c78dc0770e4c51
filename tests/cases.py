"""Which registered strategies make a test case slow, to mark such cases `slow` (run by the full suite only)."""
from __future__ import annotations

from bench.strategies import strategies

# A ViT (the prompt methods and their fine-tuning baseline) or a VAE trained per experience: tens of seconds a run.
SLOW_STRATEGIES = frozenset(s.name for s in strategies()
                            if s.family == "prompt" or s.name in ("vit_finetune", "generative_replay"))
