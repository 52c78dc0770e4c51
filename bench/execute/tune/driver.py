"""The searching process: Ray Tune's Tuner over the trials (bench/execute/tune/trial.py), the one writer of their
rows, the choice of the best setting on validation, and the whole-stream runs of the chosen settings.

Imported only when a search runs (it imports Ray Tune). Locally the trials use a Ray instance on this machine's
cores; with an address they go to a cluster. A Tune callback drains the relay into the store at every step of the
Tuner's loop and watches the cancel flags: cancelling the search, or any of its trial runs, stops the Tuner (a
stopper's stop_all) and cancels the trials still running.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid

from ray import tune

from bench.execute import jobs
from bench.execute.ray_cluster import _apply as apply_relayed
from bench.execute.ray_cluster import _Relay, init, run_ray
from bench.execute.tune import outcome
from bench.execute.tune.request import TuneRequest
from bench.execute.tune.trial import RELAY_NAME, run_trial, stop_reason
from bench.results import tunes as T
from bench.results.store import Store
from bench.spec.status import TERMINAL, Status

DRAIN_S = 0.25
CANCEL_CHECK_S = 1.0


class Bridge(tune.Callback):
    """Relays the trials' rows into the store, records each trial, and raises the cancel flag."""

    def __init__(self, store: Store, tune_id: str, relay, req: TuneRequest) -> None:
        self.store, self.tune_id, self.relay, self.req = store, tune_id, relay, req
        self.number: dict[str, int] = {}  # trial id -> 1-based trial number
        self.runs: dict[str, str] = {}  # trial id -> run id
        self.outcome: dict[str, str] = {}
        self.last: dict[str, dict] = {}  # trial id -> last reported result
        self.cancelled = False
        self._drained = self._checked = 0.0

    def pump(self, *, force: bool = False) -> None:
        import ray

        now = time.monotonic()
        if force or now - self._drained > DRAIN_S:
            self._drained = now
            for message in ray.get(self.relay.drain.remote()):
                self._apply(message)
        if not self.cancelled and (force or now - self._checked > CANCEL_CHECK_S):
            self._checked = now
            ids = list(self.runs.values())
            if T.cancel_requested(self.store, self.tune_id) or (ids and self.store.cancel_flags(ids)):
                self.cancel()

    def cancel(self) -> None:
        self.cancelled = True
        for run_id in self.runs.values():
            self.relay.cancel.remote(run_id)

    def _apply(self, message: tuple) -> None:
        kind, run_id, rows, _ = message
        if kind == "insert":
            self.store.insert_runs(rows)
        elif kind == "trial":
            self.runs[rows["trial_id"]] = run_id
            T.record_trial(self.store, self.tune_id, self.number[rows["trial_id"]], run_id=run_id,
                           setting_json=json.dumps(rows["setting"], sort_keys=True), outcome="running")
            if self.cancelled:  # a trial that started as the search was being cancelled
                self.relay.cancel.remote(run_id)
        else:
            apply_relayed(self.store, [message])

    # -- Tune's hooks (called in this process, by the Tuner's loop) --------------------------------------------
    def on_step_begin(self, iteration, trials, **info) -> None:
        self.pump()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.number.setdefault(trial.trial_id, len(self.number) + 1)
        T.record_trial(self.store, self.tune_id, self.number[trial.trial_id], outcome="running", experiences=0)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.last[trial.trial_id] = result
        T.record_trial(self.store, self.tune_id, self.number[trial.trial_id], objective=float(result["objective"]),
                       experiences=int(result["experiences"]))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        final = self.last.get(trial.trial_id, {}).get("final")
        self._end(trial.trial_id, "finished" if final else "cancelled" if self.cancelled else "stopped_early")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._end(trial.trial_id, "failed")

    def _end(self, trial_id: str, how: str) -> None:
        self.outcome[trial_id] = how
        T.record_trial(self.store, self.tune_id, self.number[trial_id], outcome=how)

    def _settle_outcome(self, trial_id: str, row: dict | None) -> None:
        last, status = self.last.get(trial_id) or {}, (row or {}).get("status")
        if last.get("final") or status == Status.FINISHED:
            self._end(trial_id, "finished")
        elif status == Status.FAILED:
            self._end(trial_id, "failed")
        elif self.cancelled:
            self._end(trial_id, "cancelled")
        elif last or status == Status.CANCELLED:
            self._end(trial_id, "stopped_early")

    def settle(self) -> None:
        """After the Tuner: the last rows in, and a status for every trial run whose process ended before it could
        write one (a trial stopped or killed between two writes)."""
        self.pump(force=True)
        for trial_id, run_id in self.runs.items():
            row = self.store.run_row(run_id)
            if trial_id not in self.outcome:  # Tune ended it without a completion callback (a trial its scheduler
                # stopped can end so; the Tuner is done, so nothing runs any more): its last report and its run say how
                self._settle_outcome(trial_id, row)
            how = self.outcome.get(trial_id)
            last = self.last.get(trial_id, {})
            early = stop_reason(cancelled=False, after=int(last.get("experiences", 0)),
                                of=self.req.trial_experiences, objective=float(last.get("objective", "nan")))
            if row is not None and row["status"] == Status.CANCELLED and how == "stopped_early" and not row["error"]:
                # the trial's process ended before its own reason reached the store: say it here
                self.store.update_run(run_id, error=early)
            if row is None or row["status"] in TERMINAL:
                continue
            if how == "stopped_early":
                status, error = Status.CANCELLED, early
            elif how == "cancelled" or self.cancelled:
                status, error = Status.CANCELLED, stop_reason(cancelled=True, after=0, of=0, objective=0.0)
            elif how == "failed":
                status, error = Status.FAILED, "failed: the trial's process ended with an error"
            else:
                status, error = Status.INTERRUPTED, "interrupted: the search ended before this trial did"
                T.record_trial(self.store, self.tune_id, self.number[trial_id], outcome="interrupted")
            self.store.update_run(run_id, status=status, error=error, finished_at=time.time())


class StopAll(tune.Stopper):
    """Ends the whole search once the bridge saw a cancel (Tune checks stop_all at every step)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.bridge.cancelled


def _domain(d, *, grid: bool):
    values = list(d.values)
    if grid:
        return tune.grid_search(values)
    if d.kind == "choice":
        return tune.choice(values)
    integer = d.type == "int"
    if d.kind == "loguniform":
        return tune.lograndint(int(d.low), int(d.high) + 1) if integer else tune.loguniform(d.low, d.high)
    return tune.randint(int(d.low), int(d.high) + 1) if integer else tune.uniform(d.low, d.high)


def param_space(req: TuneRequest) -> dict:
    """Ray Tune's nested space: {"param": strategy parameters, "run": run settings} (randint's stop is exclusive,
    hence high + 1 for integer ranges)."""
    out: dict = {"param": {}, "run": {}}
    for d in req.space:
        out[d.where][d.name] = _domain(d, grid=req.algorithm == "grid")
    return out


def searcher(req: TuneRequest):
    """Random and grid: Ray's variant generator, seeded. TPE: Optuna's sampler through Ray Tune's OptunaSearch,
    with ceil(trials / 4) (at least 2) random start-up trials instead of Optuna's 10, which would leave a budget of 8
    as pure random search; a trial ASHA stopped is told to Optuna as pruned, not as complete with its partial
    objective (a validation ACC over fewer experiences is not comparable with a whole one)."""
    if req.algorithm != "tpe":
        # the generator limits concurrency itself (Tune ignores max_concurrent_trials for it)
        return tune.search.BasicVariantGenerator(random_state=req.search_seed, max_concurrent=req.concurrency)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    class PrunedAware(OptunaSearch):
        def on_trial_complete(self, trial_id, result=None, error=False):
            if error or not (result or {}).get("final"):
                result = None  # Optuna: FAIL when errored, else PRUNED
            super().on_trial_complete(trial_id, result=result, error=error)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    startup = max(2, -(-req.trials // 4))
    return PrunedAware(sampler=optuna.samplers.TPESampler(seed=req.search_seed, n_startup_trials=startup))


def scheduler(req: TuneRequest):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if req.scheduler != "asha":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", max_t=req.trial_experiences,
                         grace_period=min(req.asha_grace, req.trial_experiences), reduction_factor=req.asha_reduction)


def search(store: Store, req: TuneRequest, *, tune_id: str | None = None, address: str | None = None,
           num_cpus: int | None = None) -> str:
    """Run one search to its end (or its cancel) and record it; returns the tune id. A queued search (from the
    app) passes its id; otherwise a new one is recorded first."""
    import ray

    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # Tune's own result files: the store has all
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if tune_id is None:
        tune_id = uuid.uuid4().hex[:12]
        T.insert_tune(store, outcome.new_row(tune_id, req, status=Status.RUNNING))
    T.update_tune(store, tune_id, status=Status.RUNNING, started_at=time.time(), **outcome.this_process())
    init(address, num_cpus=num_cpus)
    relay = ray.remote(_Relay).options(name=RELAY_NAME.format(tune_id=tune_id), num_cpus=0).remote()
    bridge = Bridge(store, tune_id, relay, req)
    gpus = 1 if req.run.get("device") == "cuda" or (
        req.run.get("device", "auto") == "auto" and ray.cluster_resources().get("GPU", 0) > 0) else 0
    trainable = tune.with_resources(tune.with_parameters(run_trial, request_json=req.to_json(), tune_id=tune_id),
                                    {"cpu": 1, "gpu": gpus})
    folder = tempfile.mkdtemp(prefix=f"bench-tune-{tune_id}-")
    tuner = tune.Tuner(
        trainable, param_space=param_space(req),
        tune_config=tune.TuneConfig(metric="objective", mode="max", search_alg=searcher(req),
                                    scheduler=scheduler(req), num_samples=1 if req.algorithm == "grid" else req.trials,
                                    max_concurrent_trials=(req.concurrency or None) if req.algorithm == "tpe" else None,
                                    reuse_actors=False),
        run_config=tune.RunConfig(name=tune_id, storage_path=folder, callbacks=[bridge], stop=StopAll(bridge),
                                  verbose=0, failure_config=tune.FailureConfig(max_failures=0)))
    t0 = time.perf_counter()
    error = None
    quiet = [logging.getLogger(n) for n in ("ray.tune", "ray.train", "ray.air")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        tuner.fit()
    except Exception as exc:  # the Tuner itself failed: the search is failed, its trials keep what they wrote
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
        bridge.settle()
        ray.kill(relay)
        shutil.rmtree(folder, ignore_errors=True)
    finished = [r for t, r in bridge.runs.items() if bridge.outcome.get(t) == "finished"]
    outcome.choose(store, tune_id, finished=finished, cancelled=bridge.cancelled, error=error,
                   wall_s=time.perf_counter() - t0)
    return tune_id


def run_finals(store: Store, tune_ids: list[str], *, address: str | None = None) -> list[str]:
    """The whole-stream runs of each finished search's chosen setting, with its final seeds, as one sweep (one
    comparison, side by side on Compare); returns their run ids."""
    planned: list[tuple[str, list]] = []
    for tune_id in tune_ids:
        row = T.tune_row(store, tune_id)
        if row["status"] != Status.FINISHED:
            continue
        req = TuneRequest.from_json(row["spec_json"])
        setting = json.loads(row["best_setting_json"])
        planned.append((tune_id, [req.final_config(setting, s) for s in req.final_seeds]))
    configs = [c for _, cs in planned for c in cs]
    if not configs:
        return []
    ids = jobs.submit(configs, store=store, sweep_id=uuid.uuid4().hex[:12])
    at = 0
    for tune_id, cs in planned:
        T.update_tune(store, tune_id, final_run_ids=json.dumps(ids[at:at + len(cs)]))
        at += len(cs)
    for _ in run_ray(store, ids, address=address):
        pass
    return ids
