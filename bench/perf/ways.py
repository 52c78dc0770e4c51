"""The three ways of doing the harness's work (bench/perf/harness.py times them): a plain PyTorch loop, Avalanche as
shipped, and the bench's runner recording into a DuckDB store whose accesses are timed; plus one evaluation pass of
each, alone."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.perf.setup import Setup, _forward, _sync, plain_evaluate
from bench.spec.status import Status


def plain(s: Setup, *, evals: bool = True) -> dict:
    model = s.model()
    opt = torch.optim.SGD(model.parameters(), lr=s.w.lr)
    crit = torch.nn.CrossEntropyLoss()
    data = [(e.train_x.to(s.device), e.train_y.to(s.device), e.task_label) for e in s.stream.experiences]
    augment = s.augmenter()  # the same crop and flip on the device as the runner's, or None
    torch.manual_seed(s.seed)
    n_evals, it, row = 0, 0, []
    if evals:
        plain_evaluate(model, s.tests)  # the initial row, before the timed span (as the runner does)
    _sync(s.device)
    t0 = time.perf_counter()
    for x, y, task in data:
        for _ in range(s.w.epochs):
            for idx in torch.randperm(len(x), device=s.device).split(s.w.batch_size):
                opt.zero_grad()
                xb = x[idx] if augment is None else augment(x[idx])
                loss = crit(_forward(model, xb, task), y[idx])
                loss.backward()
                opt.step()
                it += 1
                if evals and it % s.eval_every == 0:
                    plain_evaluate(model, s.tests)
                    n_evals += 1
        if evals:
            row = plain_evaluate(model, s.tests)
            n_evals += 1
    _sync(s.device)
    dt = time.perf_counter() - t0
    return {"s": dt, "evals": n_evals, "iterations": it, "acc": float(np.mean(row)) if row else None}


# -- way 2: Avalanche as shipped ---------------------------------------------------------------------------------------
def avalanche_strategy(s: Setup, *, metrics: bool, evals: bool, fast: bool = False):
    from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    model = s.model()
    ms = (accuracy_metrics(experience=True, stream=True), forgetting_metrics(experience=True, stream=True))
    evaluator = EvaluationPlugin(*(ms if metrics else ()), loggers=[])
    # As shipped, augmentation is the datasets' torchvision transform (per sample); with the bench's fast path it is
    # the runner's on-device plugin, since the fast path steps aside for datasets with transforms.
    plugins = [s.augmenter()] if fast and s.augmented else []
    strategy = Naive(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=s.w.lr),
                     criterion=torch.nn.CrossEntropyLoss(), train_mb_size=s.w.batch_size, train_epochs=s.w.epochs,
                     eval_mb_size=1024, device=s.device, evaluator=evaluator, plugins=plugins,
                     eval_every=s.eval_every if evals else -1, peval_mode="iteration")
    if fast:
        from bench.train.fastpath import enable

        enable(strategy)
    return strategy


def avalanche(s: Setup, *, metrics: bool = True, evals: bool = True, fast: bool = False) -> dict:
    strategy = avalanche_strategy(s, metrics=metrics, evals=evals, fast=fast)
    bench = s.avalanche_benchmark(transforms=not fast)
    counter = {"n": 0}
    original_eval = strategy.eval

    def counting_eval(*a, **k):
        counter["n"] += 1
        return original_eval(*a, **k)

    strategy.eval = counting_eval
    torch.manual_seed(s.seed)
    _sync(s.device)
    t0 = time.perf_counter()
    for exp in bench.train_stream:
        strategy.train(exp, eval_streams=[bench.test_stream] if evals else [], num_workers=0)
    _sync(s.device)
    dt = time.perf_counter() - t0
    acc = None
    if metrics and evals:
        last = strategy.evaluator.get_last_metrics()
        accs = [v for k, v in last.items() if k.startswith("Top1_Acc_Exp/eval_phase/test_stream")]
        acc = float(np.mean(accs)) if accs else None
    strategy.eval = original_eval
    return {"s": dt, "evals": counter["n"], "iterations": int(strategy.clock.train_iterations), "acc": acc,
            "strategy": strategy}


# -- way 3: the bench's runner, recording into DuckDB ------------------------------------------------------------------
def timed_store(path: Path):
    """A Store that logs the duration of every access (what the runner pays for recording)."""
    from bench.results.store import Store

    class TimedStore(Store):
        def __init__(self, *a, **k):
            self.calls: list[tuple[str, float, bool]] = []  # (method, seconds, wrote run_metrics)
            super().__init__(*a, **k)

        def _timed(self, name, fn, *a, final=False, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.calls.append((name, time.perf_counter() - t, final))

        def write(self, run_id, rows, run_fields=None):
            return self._timed("write", super().write, run_id, rows, run_fields, final="run_metrics" in rows)

        def update_run(self, run_id, **fields):
            return self._timed("update_run", super().update_run, run_id, **fields)

        def insert_runs(self, rows):
            return self._timed("insert_runs", super().insert_runs, rows)

        def query(self, sql, params=None):
            return self._timed("query", super().query, sql, params)

    return TimedStore(path)


def runner(s: Setup, store, *, fast: bool = True) -> dict:
    from bench.train.runner import run

    cfg = replace(s.cfg, fast=fast)
    store.calls.clear()
    t0 = time.perf_counter()
    result = run(cfg, store=store)
    total = time.perf_counter() - t0
    if result["status"] != Status.FINISHED:
        raise RuntimeError(f"runner failed: {result['error']}")
    m = result["metrics"]
    # Store accesses inside the timed training phase: every access before the final write of the results (the
    # first-step write, which also carries the initial evaluation, and any on the 2 s cadence), minus the run's
    # insert; the final write with the results comes after the timed span, as the plain loop's bookkeeping would.
    calls = store.calls
    last = next(i for i, c in enumerate(calls) if c[2])
    io = [c for c in calls[:last] if c[0] != "insert_runs"]
    return {"s": m["train_time_s"], "total_s": total, "evals": int(m["iterations"] // m["eval_every"]) + len(
        result["accuracy_matrix"]), "iterations": int(m["iterations"]), "acc": m["acc"],
            "io_s": sum(c[1] for c in io), "io_calls": len(io)}


# -- evaluation passes alone -------------------------------------------------------------------------------------------
def eval_passes(s: Setup, strategy, n: int) -> dict[str, list[float]]:
    """One evaluation of every test experience, n times each way, round-robin, on the same trained model."""
    from bench.train.recorder import Recorder

    model = strategy.model
    recorder = Recorder(stream=s.stream, device=s.device, eval_every=s.eval_every, sink=lambda rows, fields: None)
    test_stream = s.avalanche_benchmark().test_stream
    ways = {
        "plain_eval": lambda: plain_evaluate(model, s.tests),
        "avalanche_eval": lambda: strategy.eval(test_stream, num_workers=0),
        "recorder_eval": lambda: recorder.evaluate(model, kind="dense"),
    }
    out: dict[str, list[float]] = {k: [] for k in ways}
    for rep in range(n + 1):
        for k, fn in ways.items():
            _sync(s.device)
            t = time.perf_counter()
            fn()
            _sync(s.device)
            if rep:
                out[k].append(time.perf_counter() - t)
    return out


# -- one workload ------------------------------------------------------------------------------------------------------
