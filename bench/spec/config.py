"""Run configuration: a frozen, validated, JSON-round-trippable description of one run."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from bench.models import MODEL_CHOICES, model_help
from bench.spec.params import BadInput, ParamSpec

SCENARIOS = ("class", "task", "domain")
DEVICES = ("auto", "cpu", "cuda")
AUGMENTS = ("auto", "none", "crop_flip")  # bench/train/augment.py
NORMALIZATIONS = ("auto", "none", "mean_std")  # bench/models/nets.py Normalize, the stream's declared statistics
CHECKPOINT_KEEPS = ("none", "last", "all")  # what is left of a run's checkpoints when it ends

SCHEDULES = ("constant", "multistep", "cosine")
RESET_CHOICES = ("auto", "true", "false")
LAST_BATCH = ("drop_small", "keep")

# Settings every run has, declared once like strategy and benchmark parameters. The training recipe (optimizer,
# momentum, schedule, batch composition) applies per experience (bench/train/optim.py); the defaults were chosen by
# `python scripts/protocol_report.py` (README, "Default protocol").
RUN_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(name="epochs", type="int", default=20, min=1, max=1000,
              help="Training epochs per experience (20: each experience trained to a stable end, README 'Default "
                   "protocol')."),
    ParamSpec(name="batch_size", type="int", default=32, min=1, max=4096, help="Training minibatch size."),
    ParamSpec(name="lr", type="float", default=0.01, min=1e-6, max=10.0, log=True,
              help="Peak learning rate (after any warm-up, before any decay); with momentum 0.9 a step moves about "
                   "ten times this."),
    ParamSpec(name="optimizer", type="str", default="sgd", choices=("sgd", "adam"),
              help="SGD (with the momentum below) or Adam."),
    ParamSpec(name="momentum", type="float", default=0.9, min=0.0, max=0.999,
              help="SGD momentum (heavy ball); Adam keeps its own betas and ignores it."),
    ParamSpec(name="weight_decay", type="float", default=0.0, min=0.0, max=1.0,
              help="L2 weight decay added to the gradient by the optimizer (SGD and Adam)."),
    ParamSpec(name="lr_schedule", type="str", default="constant", choices=SCHEDULES,
              help="Learning rate within each experience: constant; multistep (times lr_gamma at each of "
                   "lr_milestones); cosine (from lr down to 0 at the experience's last step). Restarts at every "
                   "experience."),
    ParamSpec(name="lr_milestones", type="str", default="",
              help="multistep only: epochs of each experience after which the rate is multiplied by lr_gamma, "
                   "comma-separated (e.g. 30,45)."),
    ParamSpec(name="lr_gamma", type="float", default=0.1, min=0.0, max=1.0,
              help="multistep only: factor applied at each milestone."),
    ParamSpec(name="warmup", type="float", default=0.0, min=0.0, max=1000.0,
              help="Epochs at the start of each experience over which the rate ramps linearly up to lr; 0: none."),
    ParamSpec(name="reset_optimizer", type="str", default="auto", choices=RESET_CHOICES,
              help="Re-create the optimizer's state (momentum, Adam moments) at each experience; auto: the "
                   "strategy's own default (on for the prompt methods and GDumb, as in their official code)."),
    ParamSpec(name="last_batch", type="str", default="drop_small", choices=LAST_BATCH,
              help="drop_small: an epoch's last minibatch is skipped when it holds under half a batch (a step on a "
                   "few samples, or a few new samples against a full replay batch); keep: train on it (Avalanche)."),
    ParamSpec(name="grad_clip", type="float", default=0.0, min=0.0, max=1e6,
              help="Clip the gradient norm to this value before each update; 0 turns clipping off (the default: "
                   "of the papers here only GDumb clips, and its spec does so itself)."),
    ParamSpec(name="seed", type="int", default=0, min=0, max=2**31 - 1, help="Seed of everything random in the run."),
    ParamSpec(name="device", type="str", default="auto", choices=DEVICES,
              help="auto uses CUDA when present, else the CPU."),
    ParamSpec(name="eval_every", type="int", default=0, min=0, max=10**6,
              help="Dense evaluation every K training iterations; 0 picks K for about 25 points per experience."),
    # backbones and what they are fed (bench/models/, bench/train/augment.py)
    ParamSpec(name="model", type="str", default="auto", choices=MODEL_CHOICES, help=model_help()),
    ParamSpec(name="augment", type="str", default="auto", choices=AUGMENTS,
              help="Training-data augmentation, on the run's device, seeded by the run's seed: crop_flip = random "
                   "crop after zero padding (4 px at 32x32) and horizontal flip with p=0.5 (torchvision's "
                   "RandomCrop(32, padding=4) + RandomHorizontalFlip, as Mammoth's CIFAR streams). auto: the stream's "
                   "recipe (crop_flip on CIFAR-10/100, none on the digits and MNIST streams)."),
    ParamSpec(name="normalize", type="str", default="auto", choices=NORMALIZATIONS,
              help="Subtract the stream's per-channel mean and divide by its std (mean_std; CIFAR-10/100 declare "
                   "Mammoth's values) as the model's first layer, so training and every evaluation see the same "
                   "inputs. auto: mean_std where the stream declares them and the backbone is the registry's; the "
                   "prompt methods' ViTs use their own pretraining statistics."),
    ParamSpec(name="bf16", type="bool", default=False,
              help="bf16 autocast for the ResNet backbones on CUDA (they also run channels-last there). Refused "
                   "with device=cpu; ignored where the run lands on a CPU or the backbone is not a ResNet (the run's "
                   "metrics bf16_autocast and channels_last say what was on)."),
    ParamSpec(name="val_fraction", type="float", default=0.0, min=0.0, max=0.5,
              help="Fraction of each experience's training data held out as its validation set (seeded by the run's "
                   "seed, stratified by class). Its accuracies are recorded beside the test ones, and sweeps and "
                   "Compare pick settings on them; the test numbers stay the ones reported. 0: no validation split."),
    ParamSpec(name="first_experiences", type="int", default=0, min=0, max=1000,
              help="Train and evaluate on the first K experiences of the stream only (0: the whole stream), as the "
                   "trials of the first-experiences tuning protocol do (python -m bench tune --protocol "
                   "first-experiences): settings are chosen on what a continual learner has seen by then."),
    # checkpoints and resume (bench/train/checkpoint.py, bench/execute/resume.py): how a run is kept, not what it is
    ParamSpec(name="keep_checkpoints", type="str", default="none", choices=CHECKPOINT_KEEPS,
              help="A run checkpoints its whole state at every experience end, so an interrupted run resumes from its "
                   "last finished experience. When it ends: none deletes them, last keeps the final one, all keeps "
                   "one per experience."),
    ParamSpec(name="max_resumes", type="int", default=2, min=0, max=20,
              help="How many times a run whose process died (a killed worker, a lost Ray task) is re-queued "
                   "automatically to resume from its last checkpoint; 0: only by hand (python -m bench resume)."),
    # fast path (bench/fastpath.py): same minibatches in the same order, so it is not part of a run's identity
    ParamSpec(name="fast", type="bool", default=True,
              help="Fast data path: training minibatches sliced from whole tensors on the device instead of "
                   "Avalanche's per-sample DataLoader; the same minibatches in the same order, identical results."),
)
_DEFAULT = {p.name: p.default for p in RUN_PARAMS}

# What a run stored before a setting existed did: a config read back from a store fills a missing setting with this
# value, not with today's default, so an old run is never taken for a run of the new recipe (lessons reuse runs).
LEGACY = {"momentum": 0.0, "weight_decay": 0.0, "lr_schedule": "constant", "lr_milestones": "", "lr_gamma": 0.1,
          "warmup": 0.0, "reset_optimizer": "false", "last_batch": "keep"}


def parse_milestones(raw: str) -> tuple[int, ...]:
    """lr_milestones as increasing positive epoch numbers; '' is none."""
    text = str(raw).replace(" ", "")
    try:
        out = tuple(int(s) for s in text.split(",") if s != "")
    except ValueError:
        out = (-1,)
    if any(m < 1 for m in out) or list(out) != sorted(set(out)):
        raise BadInput(f"run.lr_milestones={raw!r} is not valid: expected increasing epoch numbers >= 1, "
                       f"comma-separated (e.g. 30,45)")
    return out


def check_recipe(run: dict) -> None:
    """Settings that are valid one by one but not together."""
    milestones = parse_milestones(run["lr_milestones"])
    if run["lr_schedule"] == "multistep" and not milestones:
        raise BadInput("run.lr_schedule='multistep' needs run.lr_milestones (epochs, e.g. 30,45)")


# Settings added after the first release (schema 1), with the value every run had before they existed: they enter a
# run's identity (group_key, config_key) only when they differ from it, so a run stored before they existed keeps
# its group and the lessons still find it. "auto" counts as before too: an old stored config read back has the field's
# default, and validate() resolves augment and normalize, so a validated config names what it ran.
LATER_SETTINGS: dict[str, object] = {"model": "auto", "augment": "none", "normalize": "none", "bf16": False,
                                     "val_fraction": 0.0, "first_experiences": 0, **LEGACY}


# How a run is kept and restarted, not what it computes: never part of its group or config key.
NOT_IDENTITY = ("keep_checkpoints", "max_resumes")


def without_later_defaults(d: dict) -> dict:
    """`d` (a config dict) without the later settings that hold their before-they-existed value or auto."""
    for k, before in LATER_SETTINGS.items():
        if k in d and (d[k] == before or d[k] == "auto"):
            del d[k]
    return d


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    benchmark: str
    scenario: str
    strategy: str
    benchmark_params: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    epochs: int = _DEFAULT["epochs"]
    batch_size: int = _DEFAULT["batch_size"]
    lr: float = _DEFAULT["lr"]
    optimizer: str = _DEFAULT["optimizer"]
    momentum: float = _DEFAULT["momentum"]
    weight_decay: float = _DEFAULT["weight_decay"]
    lr_schedule: str = _DEFAULT["lr_schedule"]
    lr_milestones: str = _DEFAULT["lr_milestones"]
    lr_gamma: float = _DEFAULT["lr_gamma"]
    warmup: float = _DEFAULT["warmup"]
    reset_optimizer: str = _DEFAULT["reset_optimizer"]
    last_batch: str = _DEFAULT["last_batch"]
    grad_clip: float = _DEFAULT["grad_clip"]
    seed: int = 0
    device: str = "auto"
    eval_every: int = 0
    model: str = "auto"
    augment: str = "auto"
    normalize: str = "auto"
    bf16: bool = False
    val_fraction: float = 0.0
    first_experiences: int = 0  # 0: the whole stream
    keep_checkpoints: str = "none"
    max_resumes: int = 2
    fast: bool = True  # fast path (bench/fastpath.py)
    data_dir: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict, *, stored: bool = False) -> "RunConfig":
        """`stored`: `d` was read back from a store, so a setting it lacks predates that setting (LEGACY)."""
        if not isinstance(d, dict):
            raise BadInput(f"config must be a JSON object, got {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise BadInput(f"unknown config field {unknown[0]!r}: allowed {', '.join(sorted(known))}")
        missing = [k for k in ("benchmark", "scenario", "strategy") if k not in d]
        if missing:
            raise BadInput(f"config is missing {missing[0]!r}")
        if stored:
            d = {**LEGACY, **d}
        return cls(**d)

    @classmethod
    def from_json(cls, text: str, *, stored: bool = False) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(text), stored=stored)
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
        for k in NOT_IDENTITY:
            d.pop(k)
        without_later_defaults(d)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def config_key(self) -> str:
        """Stable hash of the whole scientific config (seed included, device excluded)."""
        d = self.to_dict()
        d.pop("device")
        d.pop("data_dir")
        d.pop("fast")  # fast path: identical results, same config
        for k in NOT_IDENTITY:
            d.pop(k)
        without_later_defaults(d)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

