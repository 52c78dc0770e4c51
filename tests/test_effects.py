"""Every strategy has the effect its paper claims: on an offline stream, in a scenario where the paper says it helps,
its ACC (mean of two seeds) beats its baseline's by the margin its spec names (StrategySpec.claims).

Regularization methods are checked in the domain-incremental scenario (permuted digits, as Kirkpatrick et al. and
Zenke et al. do on permuted MNIST), rehearsal mostly in the class-incremental one, the prompt methods against
fine-tuning the same ViT. scripts/validity_report.py checks the same claims on three seeds and prints the margins."""
import numpy as np
import pytest
from cases import SLOW_STRATEGIES

from bench.spec.config import RunConfig
from bench.strategies import get_strategy, strategies

SEEDS = (0, 1)
WITHOUT_CLAIM = {"naive": "the baseline every claim is measured against",
                 "vit_finetune": "the prompt methods' baseline (their claims are measured against it)"}
CLAIMS = [pytest.param(s.name, i, id=f"{s.name}-{c.benchmark}-{c.scenario}",
                       marks=[pytest.mark.slow] if s.name in SLOW_STRATEGIES else [])
          for s in strategies() for i, c in enumerate(s.claims)]


@pytest.fixture(scope="module")
def acc_of(shared_runs):
    """ACC of a config; each config trains once per session (shared with tests/test_strategies.py)."""
    def acc(cfg: RunConfig) -> float:
        r = shared_runs.run(cfg)
        assert r["status"] == "finished", f"{cfg.strategy}: {r['error']}"
        return r["metrics"]["acc"]
    return acc


def _cfg(name: str, claim, seed: int, *, baseline: bool) -> RunConfig:
    return RunConfig(benchmark=claim.benchmark, scenario=claim.scenario, strategy=claim.against if baseline else name,
                     params=dict(claim.against_params if baseline else claim.params),
                     benchmark_params=dict(claim.bench_params), seed=seed, **claim.run)


@pytest.mark.parametrize("name,i", CLAIMS)
def test_the_papers_claim_holds(acc_of, name, i):
    claim = get_strategy(name).claims[i]
    mine = float(np.mean([acc_of(_cfg(name, claim, s, baseline=False)) for s in SEEDS]))
    theirs = float(np.mean([acc_of(_cfg(name, claim, s, baseline=True)) for s in SEEDS]))
    assert mine - theirs > claim.margin, (
        f"{name}: ACC {mine:.3f} against {claim.against}'s {theirs:.3f} on {claim.benchmark} {claim.scenario}-"
        f"incremental (seeds {SEEDS}): the claim '{claim.describe()}' ({claim.source}) does not hold")


def test_every_strategy_states_its_claim():
    for s in strategies():
        assert s.claims or s.name in WITHOUT_CLAIM, f"{s.name} declares no claim for tests/test_effects.py"
        for c in s.claims:
            assert c.margin > 0 and c.source and c.scenario in s.scenarios, (s.name, c)
