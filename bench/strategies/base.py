"""What a strategy spec is, and the context every spec's `build` receives."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from bench.spec.params import ParamSpec

if TYPE_CHECKING:
    from torch import nn

    from bench.benchmarks.base import Stream

FAMILIES = ("baselines", "rehearsal", "regularization", "prompt")
ALL_SCENARIOS = ("class", "task", "domain")


@dataclass(frozen=True, kw_only=True)
class BuildContext:
    """Everything a strategy needs besides its own parameters."""

    model: nn.Module
    optimizer: Any
    criterion: Any
    stream: Stream
    train_mb_size: int
    train_epochs: int
    eval_mb_size: int
    device: Any
    plugins: list
    evaluator: Any

    def kwargs(self) -> dict:
        """The keyword arguments every Avalanche SupervisedTemplate accepts."""
        return dict(
            model=self.model, optimizer=self.optimizer, criterion=self.criterion,
            train_mb_size=self.train_mb_size, train_epochs=self.train_epochs,
            eval_mb_size=self.eval_mb_size, device=self.device, plugins=self.plugins, evaluator=self.evaluator,
        )


@dataclass(frozen=True, kw_only=True)
class Claim:
    """What a strategy's paper claims, as a check: on `benchmark` in `scenario` (with `bench_params` and the strategy's
    `params`), its ACC, mean over seeds, beats `against`'s by at least `margin`. tests/test_effects.py runs every
    claim on two seeds; scripts/validity_report.py on three."""

    benchmark: str
    scenario: str
    margin: float
    source: str  # where the claim comes from: a paper's table or its setting
    against: str = "naive"
    bench_params: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    against_params: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)  # run settings for both sides (e.g. fewer epochs to stay quick)

    def describe(self) -> str:
        where = f"{self.benchmark} {self.scenario}-incremental"
        if self.bench_params:
            where += " (" + ", ".join(f"{k}={v}" for k, v in self.bench_params.items()) + ")"
        return f"ACC > {self.against} + {self.margin:g} on {where}"


# Claims are checked on a shorter stream (3 experiences, 5 epochs) than the run defaults, so that the quick test tier
# runs them all; the effects the papers claim still show there (margins measured with scripts/validity_report.py).
QUICK_CLAIM = {"bench_params": {"n_experiences": 3}, "run": {"epochs": 5}}


def _no_check(params: dict, bench_params: dict, bench: Any) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class StrategySpec:
    """A registered strategy: name, family, typed params, supported scenarios, and how to build it.

    `make_model` lets a strategy bring its own backbone (prompt-based methods); `memory` returns how many
    stored samples the method keeps (its rehearsal buffer), for memory accounting.
    """

    name: str
    family: str
    description: str
    params: tuple[ParamSpec, ...]
    scenarios: tuple[str, ...]
    build: Callable[[BuildContext, dict], Any]
    paper: str = ""
    make_model: Callable[[Stream, dict], nn.Module] | None = None
    memory: Callable[[dict, int], int] = lambda params, n_experiences: 0
    check: Callable[[dict, dict, Any], None] = _no_check
    trains_jointly: bool = False  # JointTraining sees the whole stream at once: one row in the accuracy matrix
    # What the run setting reset_optimizer='auto' means for this strategy: re-create the optimizer state at each
    # experience where the method's official code builds a new optimizer per task.
    reset_optimizer: bool = False
    claims: tuple[Claim, ...] = ()  # the paper's claims the bench checks (tests/test_effects.py)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"strategy {self.name}: family {self.family!r} not in {FAMILIES}")

    def to_dict(self) -> dict:
        return {
            "name": self.name, "family": self.family, "description": self.description, "paper": self.paper,
            "scenarios": list(self.scenarios), "params": [p.to_dict() for p in self.params],
            "reset_optimizer": self.reset_optimizer,
        }


def avalanche(name: str):
    """An Avalanche training class or plugin by name, imported when a run builds its strategy (the registry itself
    is read by pages that never train, and importing Avalanche takes seconds)."""
    import avalanche.training as training
    import avalanche.training.plugins as plugins
    import avalanche.training.storage_policy as storage

    for module in (training, plugins, storage):
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"Avalanche has no training class or plugin {name!r}")


def mem_size_param(default: int = 200) -> ParamSpec:
    return ParamSpec(name="mem_size", type="int", default=default, min=1, max=100_000, log=True,
                     help="Rehearsal buffer size (stored samples).")
