"""The performance harness's workloads: their definitions, the synthetic CIFAR stream, and the prepared data,
model and test tensors every way of running shares."""
from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Workload:
    name: str
    benchmark: str
    scenario: str
    benchmark_params: dict = field(default_factory=dict)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.1
    gpu_only: bool = False
    note: str = ""
    model: str = "auto"  # the run settings of bench/spec/config.py, the same for every way
    augment: str = "auto"
    normalize: str = "auto"
    cpu_size: tuple[int, int] = (640, 160)  # synthetic train / test images where a CIFAR workload runs on a CPU


WORKLOADS = {
    "split-digits": Workload("split-digits", "split-digits", "class", {"n_experiences": 5},
                             note="class-incremental, MLP"),
    "permuted-digits": Workload("permuted-digits", "permuted-digits", "domain", {"n_experiences": 5},
                                note="domain-incremental, MLP"),
    "cifar-synthetic": Workload("cifar-synthetic", "perf-synthetic-cifar", "class", {"n_experiences": 5},
                                batch_size=128, lr=0.05, gpu_only=True, normalize="none",
                                note="CNN on synthetic 3x32x32 tensors, 10 classes; figure: images/s"),
    "resnet18-cifar": Workload("resnet18-cifar", "perf-synthetic-cifar", "class", {"n_experiences": 5},
                               epochs=1, batch_size=128, lr=0.05, gpu_only=True, model="resnet18",
                               augment="crop_flip", normalize="mean_std", cpu_size=(160, 40),
                               note="ResNet-18 (64 filters, 11.2M parameters) on synthetic 3x32x32 tensors, crop+flip "
                                    "augmentation and CIFAR-10 normalisation; plain and runner augment on the device, "
                                    "Avalanche per sample with torchvision's RandomCrop+RandomHorizontalFlip; "
                                    "figure: images/s"),
}
FULL_SIZE = (10000, 2000)  # synthetic train / test images of a CIFAR workload on a GPU
QUICK_EPOCHS = 1


def parse_size(raw: str | None) -> tuple[int, int] | None:
    """`--size N_TRAIN,N_TEST` for the synthetic CIFAR workloads (None: their defaults)."""
    if raw is None:
        return None
    try:
        n_train, n_test = (int(v) for v in raw.split(","))
    except ValueError:
        raise ValueError(f"--size {raw!r} is not valid: expected N_TRAIN,N_TEST, e.g. 10000,2000") from None
    if min(n_train, n_test) < 10:
        raise ValueError(f"--size {raw!r} is too small: expected at least 10 images each (one per class)")
    return n_train, n_test


# -- the synthetic CIFAR-shaped stream (registered only while the harness runs) -----------------------------------
def synthetic_cifar_spec(n_train: int, n_test: int):
    from bench.benchmarks.base import CLASS_ORDER, BenchmarkSpec, RawSplit, n_experiences_param

    def load(params, data_dir):
        g = torch.Generator().manual_seed(0)
        protos = torch.randn(10, 3, 32, 32, generator=g)

        def make(n):
            y = torch.randint(0, 10, (n,), generator=g)
            return torch.randn(n, 3, 32, 32, generator=g) + 0.5 * protos[y], y

        (trx, tr_y), (tex, te_y) = make(n_train), make(n_test)
        return RawSplit(trx, tr_y, tex, te_y, 10, {"source": "synthetic tensors of CIFAR shape (perf harness)"})

    from bench.benchmarks.torchvision_sets import CIFAR10_NORMALIZATION

    return BenchmarkSpec(name="perf-synthetic-cifar", kind="split", params=(n_experiences_param(), CLASS_ORDER),
                         scenarios=("class",), load=load, default_model="cnn", normalization=CIFAR10_NORMALIZATION,
                         description="Synthetic CIFAR-shaped tensors for the performance harness.")


@contextlib.contextmanager
def registered(spec):
    """Make a benchmark spec visible to the runner for the duration of the block (the harness's own streams)."""
    from bench import benchmarks

    benchmarks._REGISTRY[spec.name] = spec
    try:
        yield
    finally:
        benchmarks._REGISTRY.pop(spec.name, None)


# -- helpers -------------------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")
    return ctx


def _forward(model, x, task: int):
    from bench.models import MultiHeadNet

    return model(x, task) if isinstance(model, MultiHeadNet) else model(x)


class Setup:
    """Everything the three ways share for one workload: the stream, K, fresh models and optimizers."""

    def __init__(self, w: Workload, device: torch.device, seed: int = 0, bf16: bool = False) -> None:
        from bench.benchmarks import get_benchmark
        from bench.registry import validate
        from bench.spec.config import RunConfig
        from bench.train.runner import auto_eval_every, normalized

        self.w, self.device, self.seed = w, device, seed
        self.cfg = validate(RunConfig(benchmark=w.benchmark, scenario=w.scenario, strategy="naive",
                                      benchmark_params=w.benchmark_params, epochs=w.epochs, batch_size=w.batch_size,
                                      lr=w.lr, grad_clip=0.0, seed=seed, device=device.type, model=w.model,
                                      augment=w.augment, normalize=w.normalize, bf16=bf16,
                                      # the plain loop's recipe: constant-rate SGD over every minibatch
                                      momentum=0.0, lr_schedule="constant", warmup=0.0, last_batch="keep"))
        self.spec = get_benchmark(w.benchmark)
        self.stream = normalized(self.spec.build(self.cfg.benchmark_params, w.scenario, seed=seed), self.spec,
                                 self.cfg.normalize)
        self.eval_every = auto_eval_every(self.stream, self.cfg)
        self.n_train = sum(len(e.train_x) for e in self.stream.experiences)
        self.iterations = sum(math.ceil(len(e.train_x) / w.batch_size) for e in self.stream.experiences) * w.epochs
        self.tests = [(e.test_x.to(device), e.test_y.to(device), e.task_label) for e in self.stream.experiences]
        self._avalanche: dict[bool, object] = {}

    def model(self):
        from bench.models import build_model, gpu_ready, resolve_model

        torch.manual_seed(self.seed)
        s = self.stream
        model = build_model(resolve_model(self.cfg.model, self.spec), input_shape=s.input_shape,
                            n_outputs=s.n_outputs, n_heads=s.n_heads, info=s.info)
        gpu_ready(model, self.device, bf16=self.cfg.bf16)  # what the runner does
        return model.to(self.device)

    @property
    def augmented(self) -> bool:
        return self.cfg.augment != "none"

    def augmenter(self):
        """A fresh on-device augmentation (the runner's plugin, callable on a batch), or None without one."""
        from bench.train.augment import Augment

        return Augment(seed=self.seed, device=self.device, height=self.stream.input_shape[-2]) if self.augmented \
            else None

    def avalanche_benchmark(self, *, transforms: bool = False):
        """The stream as Avalanche datasets; `transforms`: with the augmentation as an Avalanche user ships it, a
        torchvision transform applied per sample by the DataLoader (RandomCrop with padding, RandomHorizontalFlip)."""
        from bench.train.runner import to_avalanche

        key = transforms and self.augmented
        if key not in self._avalanche:
            self._avalanche[key] = _with_transforms(self.stream) if key else to_avalanche(self.stream)
        return self._avalanche[key]


def _with_transforms(stream):
    from avalanche.benchmarks import dataset_benchmark
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset as make
    from torchvision import transforms as T

    from bench.train.augment import padding_for

    h = stream.input_shape[-2]
    groups = {"train": (T.Compose([T.RandomCrop(h, padding=padding_for(h)), T.RandomHorizontalFlip()]), None),
              "eval": (None, None)}
    train = [make(e.train_x, e.train_y, task_labels=e.task_label, targets=e.train_y, transform_groups=groups)
             for e in stream.experiences]
    test = [make(e.test_x, e.test_y, task_labels=e.task_label, targets=e.test_y) for e in stream.experiences]
    return dataset_benchmark(train, test)


# -- way 1: a plain PyTorch loop -------------------------------------------------------------------------------------
@torch.no_grad()
def plain_evaluate(model, tests) -> list[float]:
    was = model.training
    model.eval()
    accs = [float((_forward(model, x, t).argmax(1) == y).float().mean()) for x, y, t in tests]
    model.train(was)
    return accs
