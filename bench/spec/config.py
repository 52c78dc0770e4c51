"""Run configuration: a frozen, validated, JSON-round-trippable description of one run."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from bench.spec.params import BadInput, ParamSpec

SCENARIOS = ("class", "task", "domain")
DEVICES = ("auto", "cpu", "cuda")

# Settings every run has, declared once like strategy and benchmark parameters.
RUN_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(name="epochs", type="int", default=3, min=1, max=1000, help="Training epochs per experience."),
    ParamSpec(name="batch_size", type="int", default=32, min=1, max=4096, help="Training minibatch size."),
    ParamSpec(name="lr", type="float", default=0.1, min=1e-6, max=10.0, log=True, help="Learning rate."),
    ParamSpec(name="optimizer", type="str", default="sgd", choices=("sgd", "adam"),
              help="Plain SGD or Adam."),
    ParamSpec(name="grad_clip", type="float", default=10.0, min=0.0, max=1e6,
              help="Clip the gradient norm to this value before each update; 0 turns clipping off."),
    ParamSpec(name="seed", type="int", default=0, min=0, max=2**31 - 1, help="Seed of everything random in the run."),
    ParamSpec(name="device", type="str", default="auto", choices=DEVICES,
              help="auto uses CUDA when present, else the CPU."),
    ParamSpec(name="eval_every", type="int", default=0, min=0, max=10**6,
              help="Dense evaluation every K training iterations; 0 picks K for about 25 points per experience."),
    ParamSpec(name="val_fraction", type="float", default=0.0, min=0.0, max=0.5,
              help="Fraction of each experience's training data held out as its validation set (seeded by the run's "
                   "seed, stratified by class). Its accuracies are recorded beside the test ones, and sweeps and "
                   "Compare pick settings on them; the test numbers stay the ones reported. 0: no validation split."),
    # fast path (bench/fastpath.py): same minibatches in the same order, so it is not part of a run's identity
    ParamSpec(name="fast", type="bool", default=True,
              help="Fast data path: training minibatches sliced from whole tensors on the device instead of "
                   "Avalanche's per-sample DataLoader; the same minibatches in the same order, identical results."),
)


# Settings added after the first release (schema 1), with the value every run had before they existed: they enter a
# run's identity (group_key, config_key) only when they differ from it, so a run stored before they existed keeps
# its group and the lessons still find it. Add a new setting here when it changes no stored run's meaning.
LATER_SETTINGS: dict[str, object] = {"val_fraction": 0.0}


def _identity(d: dict) -> dict:
    for k, before in LATER_SETTINGS.items():
        if k in d and d[k] == before:
            del d[k]
    return d


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    benchmark: str
    scenario: str
    strategy: str
    benchmark_params: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.1
    optimizer: str = "sgd"
    grad_clip: float = 10.0
    seed: int = 0
    device: str = "auto"
    eval_every: int = 0
    val_fraction: float = 0.0
    fast: bool = True  # fast path (bench/fastpath.py)
    data_dir: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        if not isinstance(d, dict):
            raise BadInput(f"config must be a JSON object, got {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise BadInput(f"unknown config field {unknown[0]!r}: allowed {', '.join(sorted(known))}")
        missing = [k for k in ("benchmark", "scenario", "strategy") if k not in d]
        if missing:
            raise BadInput(f"config is missing {missing[0]!r}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise BadInput(f"config is not valid JSON: {exc.msg} at line {exc.lineno}") from None

    def with_seed(self, seed: int) -> "RunConfig":
        return replace(self, seed=seed)

    def group_key(self) -> str:
        """Stable hash of everything but the seed: runs that differ only by seed form one group."""
        d = self.to_dict()
        d.pop("seed")
        d.pop("device")
        d.pop("data_dir")
        d.pop("fast")  # fast path: identical results, same group
        _identity(d)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def config_key(self) -> str:
        """Stable hash of the whole scientific config (seed included, device excluded)."""
        d = self.to_dict()
        d.pop("device")
        d.pop("data_dir")
        d.pop("fast")  # fast path: identical results, same config
        _identity(d)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

