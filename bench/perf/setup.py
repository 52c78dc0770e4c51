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


WORKLOADS = {
    "split-digits": Workload("split-digits", "split-digits", "class", {"n_experiences": 5},
                             note="class-incremental, MLP"),
    "permuted-digits": Workload("permuted-digits", "permuted-digits", "domain", {"n_experiences": 5},
                                note="domain-incremental, MLP"),
    "cifar-synthetic": Workload("cifar-synthetic", "perf-synthetic-cifar", "class", {"n_experiences": 5},
                                batch_size=128, lr=0.05, gpu_only=True,
                                note="CNN on synthetic 3x32x32 tensors, 10 classes; figure: images/s"),
}
QUICK_EPOCHS = 1


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

    return BenchmarkSpec(name="perf-synthetic-cifar", kind="split", params=(n_experiences_param(), CLASS_ORDER),
                         scenarios=("class",), load=load, default_model="cnn",
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

    def __init__(self, w: Workload, device: torch.device, seed: int = 0) -> None:
        from bench.benchmarks import get_benchmark
        from bench.registry import validate
        from bench.spec.config import RunConfig
        from bench.train.runner import auto_eval_every

        self.w, self.device, self.seed = w, device, seed
        self.cfg = validate(RunConfig(benchmark=w.benchmark, scenario=w.scenario, strategy="naive",
                                      benchmark_params=w.benchmark_params, epochs=w.epochs, batch_size=w.batch_size,
                                      lr=w.lr, grad_clip=0.0, seed=seed, device=device.type,
                                      # the plain loop's recipe: constant-rate SGD over every minibatch
                                      momentum=0.0, lr_schedule="constant", warmup=0.0, last_batch="keep"))
        self.spec = get_benchmark(w.benchmark)
        self.stream = self.spec.build(self.cfg.benchmark_params, w.scenario, seed=seed)
        self.eval_every = auto_eval_every(self.stream, self.cfg)
        self.n_train = sum(len(e.train_x) for e in self.stream.experiences)
        self.iterations = sum(math.ceil(len(e.train_x) / w.batch_size) for e in self.stream.experiences) * w.epochs
        self.tests = [(e.test_x.to(device), e.test_y.to(device), e.task_label) for e in self.stream.experiences]
        self._avalanche = None

    def model(self):
        from bench.models import build_model

        torch.manual_seed(self.seed)
        s = self.stream
        return build_model(self.spec.default_model, input_shape=s.input_shape, n_outputs=s.n_outputs,
                           n_heads=s.n_heads).to(self.device)

    def avalanche_benchmark(self):
        from bench.train.runner import to_avalanche

        if self._avalanche is None:
            self._avalanche = to_avalanche(self.stream)
        return self._avalanche


# -- way 1: a plain PyTorch loop -------------------------------------------------------------------------------------
@torch.no_grad()
def plain_evaluate(model, tests) -> list[float]:
    was = model.training
    model.eval()
    accs = [float((_forward(model, x, t).argmax(1) == y).float().mean()) for x, y, t in tests]
    model.train(was)
    return accs
