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
from dataclasses import replace
from typing import Callable, Protocol

import numpy as np
import torch

from bench.benchmarks import get_benchmark, validation
from bench.benchmarks.base import Stream
from bench.models import build_model, gpu_ready, gpu_state, param_count, resolve_model
from bench.registry import validate
from bench.spec.config import RunConfig
from bench.spec.status import Status
from bench.strategies import BuildContext, get_strategy
from bench.train import metrics
from bench.train.accounting import kept_memory, method_memory_mb, peak_rss_mb, reset_peak_rss
from bench.train.optim import Recipe, make_optimizer
from bench.train.recorder import GradClip, Recorder, RunCancelled
from bench.train.run_checkpoints import FRESH, LATEST, OVER, ResumeFailed, RunCheckpoints

log = logging.getLogger(__name__)
TARGET_POINTS_PER_EXP = 25


class Store(Protocol):
    """What the runner needs of a results store: bench.results.store.Store, or a relay to one (a Ray task)."""

    def insert_runs(self, rows: list[dict]) -> None: ...
    def update_run(self, run_id: str, **fields) -> None: ...
    def write(self, run_id: str, rows: dict[str, list[dict]], run_fields: dict | None = None) -> None: ...
    def cancel_requested(self, run_id: str) -> bool: ...
    def truncate_run(self, run_id: str, *, point: int, iteration: int) -> None: ...
    # Optional: `checkpoint_sink(run_id)`, where the run's checkpoints go (bench/train/run_checkpoints.py).


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


def normalized(stream: Stream, bench, normalize: str) -> Stream:
    """The stream with its per-channel statistics in `info["normalization"]` when the run normalises: the
    registry's models (and iCaRL's, built from it) put them in front of the backbone."""
    if normalize != "mean_std":
        return stream
    return replace(stream, info={**stream.info, "normalization": bench.normalization})


def augmentation(cfg: RunConfig, stream: Stream, device: torch.device) -> list:
    """The run's augmentation plugin ([] without one): first, so every other plugin sees the augmented batch."""
    if cfg.augment == "none":
        return []
    from bench.train.augment import Augment

    return [Augment(seed=cfg.seed, device=device, height=stream.input_shape[-2])]


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
        avalanche_eval: bool = False, resume: bool = False,
        on_experience: Callable[[int, dict], None] | None = None) -> dict:
    """Validate and execute one run, recording it in `store`. Never raises for a run that fails:
    the failure is recorded and returned. Bad configs raise BadInput before anything is written.
    `resume`: the run was started before (an interrupted run, re-queued): it goes on from its latest checkpoint, or
    starts over, its earlier rows replaced (bench/train/run_checkpoints.py).
    `on_experience(exp, accuracies)` is called after each experience's evaluation with split -> accuracy per
    experience (a tuning trial reports its objective there; raising RunCancelled from it cancels the run)."""
    cfg = validate(cfg)
    if run_id is None:
        row = new_run_row(cfg, status=Status.RUNNING, sweep_id=sweep_id)
        row.update(started_at=time.time(), host=socket.gethostname(), worker_pid=os.getpid())
        store.insert_runs([row])
        run_id = row["run_id"]
    result = {"run_id": run_id, "benchmark": cfg.benchmark, "scenario": cfg.scenario, "strategy": cfg.strategy,
              "params": cfg.params, "benchmark_params": cfg.benchmark_params, "seed": cfg.seed,
              "device": None, "metrics": {}, "accuracy_matrix": [], "val_metrics": {}, "val_accuracy_matrix": [],
              "error": None}
    state: dict = {}  # what _execute learned before it could fail (the device)
    try:
        with warnings.catch_warnings():  # Avalanche's deprecation chatter is not the user's business
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.showwarning = lambda *a, **k: None  # Avalanche's @deprecated re-enables its own warnings
            result.update(_resumed(cfg, store=store, run_id=run_id, avalanche_eval=avalanche_eval, state=state,
                                   resume=LATEST if resume else FRESH, on_experience=on_experience))
        status = Status.FINISHED
    except RunCancelled:
        status, result["error"] = Status.CANCELLED, "cancelled by the user"
    except KeyboardInterrupt:  # Ctrl-C on `python -m bench run`: resumable (python -m bench resume RUN_ID)
        store.update_run(run_id, status=Status.INTERRUPTED, finished_at=time.time(),
                         error="interrupted: stopped by the user (Ctrl-C)", device=state.get("device"))
        raise
    except Exception as exc:  # a failed run is data, not a crash: record it and go on
        log.warning("run %s failed: %s", run_id, exc)
        status = Status.FAILED
        result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        store.update_run(run_id, error=result["error"] + "\n\n" + traceback.format_exc())
    if status != Status.FINISHED:  # a finished run's status (and device) was written with its results
        # Every run that started names its device, also one that failed before its first training step; a device
        # that could not be had (cuda on a machine without one) is recorded as asked for.
        result["device"] = state.get("device") or device_name(cfg.device)
        store.update_run(run_id, status=status, finished_at=time.time(), device=result["device"])
    result["status"] = status
    return result


def _resumed(cfg: RunConfig, *, resume: str | None, **kw) -> dict:
    """_execute, started over from scratch when the run's checkpoint cannot be restored."""
    try:
        return _execute(cfg, resume=resume, **kw)
    except ResumeFailed as exc:
        log.warning("run %s starts over: %s", kw["run_id"], exc)
        return _execute(cfg, resume=OVER, **kw)


def device_name(requested: str) -> str:
    """The device a run asking for `requested` uses here, as stored in runs.device; never raises."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(requested)


def first_experiences(stream: Stream, k: int) -> Stream:
    """The stream's first `k` experiences (the run setting first_experiences; 0 keeps the whole stream)."""
    n = len(stream.experiences)
    if k == 0:
        return stream
    if k > n:
        from bench.spec.params import BadInput

        raise BadInput(f"first_experiences={k} is out of range: {stream.benchmark} has {n} experiences, "
                       f"expected 0..{n}")
    return replace(stream, experiences=stream.experiences[:k], info={**stream.info, "stream_experiences": n})


def _execute(cfg: RunConfig, *, store: Store, run_id: str, avalanche_eval: bool, state: dict,
             resume: str | None = FRESH, on_experience: Callable[[int, dict], None] | None = None) -> dict:
    t0 = time.perf_counter()
    # Small models run fastest on one thread, and parallel workers must not fight over cores.
    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
    device = resolve_device(cfg.device)
    state["device"] = str(device)
    bench, strat = get_benchmark(cfg.benchmark), get_strategy(cfg.strategy)
    seed_everything(cfg.seed)
    stream = bench.build(cfg.benchmark_params, cfg.scenario, seed=cfg.seed, data_dir=cfg.data_dir)
    stream = first_experiences(normalized(stream, bench, cfg.normalize), cfg.first_experiences)
    stream = validation.hold_out(stream, cfg.val_fraction, seed=cfg.seed)
    n_exp = len(stream.experiences)
    model = (strat.make_model(stream, cfg.params) if strat.make_model else
             build_model(resolve_model(cfg.model, bench), input_shape=stream.input_shape, n_outputs=stream.n_outputs,
                         n_heads=stream.n_heads, info=stream.info))
    gpu_ready(model, device, bf16=cfg.bf16)  # channels-last (and bf16) for the ResNets on CUDA
    optimizer = make_optimizer(cfg, model)
    eval_every = auto_eval_every(stream, cfg)
    est = int(sum(math.ceil(len(e.train_x) / cfg.batch_size) for e in stream.experiences) * cfg.epochs)
    recorder = Recorder(stream=stream, device=device, eval_every=eval_every,
                        sink=lambda rows, fields: store.write(run_id, rows, fields),
                        should_stop=lambda: store.cancel_requested(run_id), joint=strat.trains_jointly,
                        on_experience_end=on_experience,
                        run_fields={"device": str(device), "n_experiences": n_exp, "est_iterations": est})
    try:
        return _train(cfg, store=store, run_id=run_id, avalanche_eval=avalanche_eval, recorder=recorder,
                      stream=stream, device=device, t0=t0, eval_every=eval_every, model=model, optimizer=optimizer,
                      resume=resume)
    except ResumeFailed:  # nothing of this attempt is written: the run is rebuilt and starts over
        raise
    except BaseException:
        store.write(run_id, *recorder.take())  # keep every row recorded before the failure
        raise


def _train(cfg: RunConfig, *, store: Store, run_id: str, avalanche_eval: bool, recorder: Recorder, stream: Stream,
           device: torch.device, t0: float, eval_every: int, model, optimizer, resume: str | None) -> dict:
    """Build the strategy, train through the stream (from a checkpoint when resuming, saving one at every experience
    end), and write the results with the last rows."""
    from avalanche.training.plugins import EvaluationPlugin

    strat = get_strategy(cfg.strategy)
    n_exp = len(stream.experiences)
    augment = augmentation(cfg, stream, device)
    with warnings.catch_warnings():  # "no loggers" is what we want: our recorder does the logging
        warnings.simplefilter("ignore", UserWarning)
        evaluator = EvaluationPlugin(*_avalanche_metrics() if avalanche_eval else (), loggers=[])
    ctx = BuildContext(model=model, optimizer=optimizer, criterion=torch.nn.CrossEntropyLoss(), stream=stream,
                       train_mb_size=cfg.batch_size, train_epochs=cfg.epochs, eval_mb_size=1024, device=device,
                       plugins=[*augment, recorder, Recipe.from_config(cfg),
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
    keeper = RunCheckpoints(cfg=cfg, store=store, run_id=run_id, recorder=recorder, device=device, n_exp=n_exp,
                            joint=strat.trains_jointly)
    prior = keeper.start(strategy, resume=resume) or {}  # the time and memory of the run before it was interrupted
    if not prior:
        recorder.evaluate_initial(strategy.model.to(device))
    spent = _Spent(t0=t0, device=device, prior=prior)
    try:
        reference = _train_stream(strategy, to_avalanche(stream), keeper=keeper, first=prior.get("exp", -1) + 1,
                                  joint=strat.trains_jointly, avalanche_eval=avalanche_eval, spent=spent)
    except Exception:
        keeper.finish()  # a failed or cancelled run is never resumed
        raise
    done = spent()
    train_time, peak = done["train_time_s"], done["peak_memory_mb"]
    R, summary = _split_metrics(recorder, "test", cfg.scenario)
    val_R, val_summary = _split_metrics(recorder, "val", cfg.scenario)
    n_params, stored = param_count(strategy.model), strat.memory(cfg.params, n_exp)
    extra = {
        "time_s": done["time_s"], "train_time_s": train_time, "peak_memory_mb": peak,
        "param_count": n_params, "buffer_size": stored,
        "method_memory_mb": method_memory_mb(n_params, stored, stream.input_shape),
        **kept_memory(strategy.model, stored, stream.input_shape),
        "iterations": recorder.iteration, "eval_every": eval_every,
        **gpu_state(strategy.model), "augmented_batches": sum(a.batches for a in augment),
    }
    all_metrics = {**summary, **extra}
    rows, fields = recorder.take()
    # Run-level measures (time, memory) are filed under the test split, the one every run has.
    rows["run_metrics"] = ([{"metric": k, "value": float(v), "split": "test"} for k, v in all_metrics.items()]
                           + [{"metric": k, "value": float(v), "split": "val"} for k, v in val_summary.items()])
    store.write(run_id, rows, {**fields, "status": Status.FINISHED, "finished_at": time.time()})
    keeper.finish()
    out = {"device": str(device), "metrics": {k: _json_float(v) for k, v in all_metrics.items()},
           "accuracy_matrix": R, "initial_accuracy": recorder.initial,
           "val_metrics": {k: _json_float(v) for k, v in val_summary.items()}, "val_accuracy_matrix": val_R}
    if avalanche_eval:
        out["avalanche"] = reference
    return out


class _Spent:
    """Time and peak memory since the run began, those of the attempts before an interruption included."""

    def __init__(self, *, t0: float, device: torch.device, prior: dict) -> None:
        self.t0, self.t_train, self.device, self.prior = t0, time.perf_counter(), device, prior

    def __call__(self) -> dict:
        now = time.perf_counter()
        peak = (torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else
                peak_rss_mb())
        return {"time_s": now - self.t0 + self.prior.get("time_s", 0.0),
                "train_time_s": now - self.t_train + self.prior.get("train_time_s", 0.0),
                "peak_memory_mb": max(peak, self.prior.get("peak_memory_mb", 0.0))}


def _train_stream(strategy, benchmark, *, keeper: RunCheckpoints, first: int, joint: bool, avalanche_eval: bool,
                  spent: _Spent) -> list:
    """Train experience `first` onwards (the earlier ones were trained before an interruption), checkpointing at
    every experience end; returns Avalanche's own evaluations when asked for."""
    if joint:
        strategy.train(benchmark.train_stream, num_workers=0)
        return []
    reference = []
    for k, exp in enumerate(benchmark.train_stream):
        if k < first:
            continue
        strategy.train(exp, num_workers=0)
        if avalanche_eval:
            reference.append(strategy.eval(benchmark.test_stream, num_workers=0))
        keeper.save(strategy, k, spent)
    return reference


def _split_metrics(recorder: Recorder, split: str, scenario: str) -> tuple[list, dict]:
    """The accuracy matrix and every metric of one split ([] and {} for a split the run does not have)."""
    rows = recorder.matrices.get(split)
    if not rows:
        return [], {}
    R = [rows[i] for i in sorted(rows)]
    return R, metrics.summary(np.array(R), np.array(recorder.initials[split]), scenario=scenario,
                              curve=recorder.curves.get(split, []))


def _avalanche_metrics():
    from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics

    return (accuracy_metrics(experience=True, stream=True), bwt_metrics(experience=True, stream=True),
            forgetting_metrics(experience=True, stream=True))


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
