"""Config -> Avalanche benchmark + strategy -> train/eval loop -> rows in the store and a result dict."""
from __future__ import annotations

import logging
import math
import os
import socket
import time
import traceback
import uuid
import warnings
from typing import Protocol

import numpy as np
import torch

from bench.benchmarks import get_benchmark
from bench.benchmarks.base import Stream
from bench.models import build_model, param_count
from bench.registry import validate
from bench.spec.config import RunConfig
from bench.spec.status import Status
from bench.strategies import BuildContext, get_strategy
from bench.train import metrics
from bench.train.accounting import kept_memory, method_memory_mb, peak_rss_mb, reset_peak_rss
from bench.train.optim import Recipe, make_optimizer
from bench.train.recorder import GradClip, Recorder, RunCancelled

log = logging.getLogger(__name__)
TARGET_POINTS_PER_EXP = 25


class Store(Protocol):
    """What the runner needs of a results store: bench.results.store.Store, or a relay to one (a Ray task)."""

    def insert_runs(self, rows: list[dict]) -> None: ...
    def update_run(self, run_id: str, **fields) -> None: ...
    def write(self, run_id: str, rows: dict[str, list[dict]], run_fields: dict | None = None) -> None: ...
    def cancel_requested(self, run_id: str) -> bool: ...


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        from bench.spec.params import BadInput

        raise BadInput("device='cuda' is not available on this machine: use auto or cpu")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    from avalanche.training.determinism.rng_manager import RNGManager

    RNGManager.set_random_seeds(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def to_avalanche(stream: Stream):
    """Turn our tensors into an Avalanche benchmark with task labels attached (the old generator API,
    which every strategy in the registry accepts)."""
    from avalanche.benchmarks import dataset_benchmark
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset as make

    train = [make(e.train_x, e.train_y, task_labels=e.task_label, targets=e.train_y) for e in stream.experiences]
    test = [make(e.test_x, e.test_y, task_labels=e.task_label, targets=e.test_y) for e in stream.experiences]
    return dataset_benchmark(train, test)


def auto_eval_every(stream: Stream, cfg: RunConfig) -> int:
    if cfg.eval_every > 0:
        return cfg.eval_every
    per_exp = np.mean([math.ceil(len(e.train_x) / cfg.batch_size) for e in stream.experiences]) * cfg.epochs
    return max(1, int(round(per_exp / TARGET_POINTS_PER_EXP)))


def new_run_row(cfg: RunConfig, *, run_id: str | None = None, status: Status, sweep_id: str | None = None) -> dict:
    strat = get_strategy(cfg.strategy)
    return {
        "run_id": run_id or uuid.uuid4().hex[:12], "group_id": cfg.group_key(), "sweep_id": sweep_id,
        "benchmark": cfg.benchmark, "scenario": cfg.scenario, "strategy": cfg.strategy, "family": strat.family,
        "seed": cfg.seed, "config_json": cfg.to_json(), "status": status, "created_at": time.time(),
        "n_experiences": cfg.benchmark_params.get("n_experiences"), "cancel_requested": False,
    }


def run(cfg: RunConfig, *, store: Store, run_id: str | None = None, sweep_id: str | None = None,
        avalanche_eval: bool = False) -> dict:
    """Validate and execute one run, recording it in `store`. Never raises for a run that fails:
    the failure is recorded and returned. Bad configs raise BadInput before anything is written."""
    cfg = validate(cfg)
    if run_id is None:
        row = new_run_row(cfg, status=Status.RUNNING, sweep_id=sweep_id)
        row.update(started_at=time.time(), host=socket.gethostname(), worker_pid=os.getpid())
        store.insert_runs([row])
        run_id = row["run_id"]
    result = {"run_id": run_id, "benchmark": cfg.benchmark, "scenario": cfg.scenario, "strategy": cfg.strategy,
              "params": cfg.params, "benchmark_params": cfg.benchmark_params, "seed": cfg.seed,
              "device": None, "metrics": {}, "accuracy_matrix": [], "error": None}
    try:
        with warnings.catch_warnings():  # Avalanche's deprecation chatter is not the user's business
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.showwarning = lambda *a, **k: None  # Avalanche's @deprecated re-enables its own warnings
            result.update(_execute(cfg, store=store, run_id=run_id, avalanche_eval=avalanche_eval))
        status = Status.FINISHED
    except RunCancelled:
        status, result["error"] = Status.CANCELLED, "cancelled by the user"
    except Exception as exc:  # a failed run is data, not a crash: record it and go on
        log.warning("run %s failed: %s", run_id, exc)
        status = Status.FAILED
        result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        store.update_run(run_id, error=result["error"] + "\n\n" + traceback.format_exc())
    if status != Status.FINISHED:  # a finished run's status was written with its results
        store.update_run(run_id, status=status, finished_at=time.time())
    result["status"] = status
    return result


def _execute(cfg: RunConfig, *, store: Store, run_id: str, avalanche_eval: bool) -> dict:
    t0 = time.perf_counter()
    # Small models run fastest on one thread, and parallel workers must not fight over cores.
    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
    device = resolve_device(cfg.device)
    bench, strat = get_benchmark(cfg.benchmark), get_strategy(cfg.strategy)
    seed_everything(cfg.seed)
    stream = bench.build(cfg.benchmark_params, cfg.scenario, seed=cfg.seed, data_dir=cfg.data_dir)
    n_exp = len(stream.experiences)
    model = (strat.make_model(stream, cfg.params) if strat.make_model else
             build_model(bench.default_model, input_shape=stream.input_shape, n_outputs=stream.n_outputs,
                         n_heads=stream.n_heads, info=stream.info))
    optimizer = make_optimizer(cfg, model)
    eval_every = auto_eval_every(stream, cfg)
    est = int(sum(math.ceil(len(e.train_x) / cfg.batch_size) for e in stream.experiences) * cfg.epochs)
    recorder = Recorder(stream=stream, device=device, eval_every=eval_every,
                        sink=lambda rows, fields: store.write(run_id, rows, fields),
                        should_stop=lambda: store.cancel_requested(run_id), joint=strat.trains_jointly,
                        run_fields={"device": str(device), "n_experiences": n_exp, "est_iterations": est})
    try:
        return _train(cfg, store=store, run_id=run_id, avalanche_eval=avalanche_eval, recorder=recorder,
                      stream=stream, device=device, t0=t0, eval_every=eval_every, model=model, optimizer=optimizer)
    except BaseException:
        store.write(run_id, *recorder.take())  # keep every row recorded before the failure
        raise


def _train(cfg: RunConfig, *, store: Store, run_id: str, avalanche_eval: bool, recorder: Recorder, stream: Stream,
           device: torch.device, t0: float, eval_every: int, model, optimizer) -> dict:
    """Build the strategy, train through the stream, and write the results with the last rows."""
    from avalanche.training.plugins import EvaluationPlugin

    strat = get_strategy(cfg.strategy)
    n_exp = len(stream.experiences)
    with warnings.catch_warnings():  # "no loggers" is what we want: our recorder does the logging
        warnings.simplefilter("ignore", UserWarning)
        evaluator = EvaluationPlugin(*_avalanche_metrics() if avalanche_eval else (), loggers=[])
    ctx = BuildContext(model=model, optimizer=optimizer, criterion=torch.nn.CrossEntropyLoss(), stream=stream,
                       train_mb_size=cfg.batch_size, train_epochs=cfg.epochs, eval_mb_size=1024, device=device,
                       plugins=[recorder, Recipe.from_config(cfg),
                                *([GradClip(cfg.grad_clip)] if cfg.grad_clip > 0 else [])],
                       evaluator=evaluator)
    strategy = strat.build(ctx, cfg.params)
    if cfg.fast:  # fast path: training minibatches from whole tensors on the device (bench/fastpath.py)
        from bench.train.fastpath import enable

        enable(strategy)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()
    recorder.evaluate_initial(strategy.model.to(device))
    benchmark = to_avalanche(stream)
    reference = []
    t_train = time.perf_counter()
    if strat.trains_jointly:
        strategy.train(benchmark.train_stream, num_workers=0)
    else:
        for exp in benchmark.train_stream:
            strategy.train(exp, num_workers=0)
            if avalanche_eval:
                reference.append(strategy.eval(benchmark.test_stream, num_workers=0))
    train_time = time.perf_counter() - t_train
    R = [recorder.matrix[i] for i in sorted(recorder.matrix)]
    summary = metrics.summary(np.array(R), np.array(recorder.initial))
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mb()
    n_params, stored = param_count(strategy.model), strat.memory(cfg.params, n_exp)
    extra = {
        "time_s": time.perf_counter() - t0, "train_time_s": train_time, "peak_memory_mb": peak,
        "param_count": n_params, "buffer_size": stored,
        "method_memory_mb": method_memory_mb(n_params, stored, stream.input_shape),
        **kept_memory(strategy.model, stored, stream.input_shape),
        "iterations": recorder.iteration, "eval_every": eval_every,
    }
    all_metrics = {**summary, **extra}
    rows, fields = recorder.take()
    rows["run_metrics"] = [{"metric": k, "value": float(v)} for k, v in all_metrics.items()]
    store.write(run_id, rows, {**fields, "status": Status.FINISHED, "finished_at": time.time()})
    out = {"device": str(device), "metrics": {k: _json_float(v) for k, v in all_metrics.items()},
           "accuracy_matrix": R, "initial_accuracy": recorder.initial}
    if avalanche_eval:
        out["avalanche"] = reference
    return out


def _avalanche_metrics():
    from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics

    return (accuracy_metrics(experience=True, stream=True), bwt_metrics(experience=True, stream=True),
            forgetting_metrics(experience=True, stream=True))


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
