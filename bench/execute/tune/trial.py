"""One trial of a search, as it runs in a Ray Tune worker: an ordinary run (the runner, the recorder, every row)
whose writes are relayed to the searching process, the store's one writer (bench/execute/ray_cluster.py's relay).

The trial reports to Ray Tune after every experience but the last the validation ACC over the experiences trained
so far (the objective so far; ASHA compares trials on it at its rungs), and after the run has finished, its whole
objective with `final` set: a trial that reports `final` is a finished run, whatever the scheduler decides next.
The test split is never reported to Tune, so no searcher or scheduler can choose on it.
"""
from __future__ import annotations

import os
import socket
import time
import uuid

from bench.execute.ray_cluster import RelaySink

RELAY_NAME = "bench-tune-relay-{tune_id}"


class TrialFailed(RuntimeError):
    """The trial's run failed (diverged, raised): Tune marks the trial errored, a searcher learns it failed."""


class TrialSink(RelaySink):
    """The relay sink, plus the run row the trial inserts itself (a search makes its runs as it goes)."""

    def insert_runs(self, rows: list[dict]) -> None:
        self.relay.push.remote(("insert", None, rows, None))


def stop_reason(*, cancelled: bool, after: int, of: int, objective: float) -> str:
    """The error a stopped trial's run keeps (its status is cancelled: no view averages it with finished runs)."""
    if cancelled:
        return "cancelled: the search was cancelled"
    return (f"stopped early by ASHA after experience {after} of {of} (validation ACC so far {objective:.3f}): "
            "a partial run, never averaged with finished ones")


def run_trial(config: dict, *, request_json: str, tune_id: str) -> None:
    """Ray Tune's function trainable. `config` is {"param": {...}, "run": {...}}, the searched values."""
    import numpy as np
    import ray
    from ray import tune

    from bench.execute.tune.request import TuneRequest
    from bench.registry import validate
    from bench.spec.status import Status
    from bench.train.recorder import RunCancelled
    from bench.train.runner import new_run_row, run

    class Stopped(RunCancelled):
        """Tune stopped the trial at a report (ASHA, or the whole search cancelled)."""

    req = TuneRequest.from_json(request_json)
    relay = ray.get_actor(RELAY_NAME.format(tune_id=tune_id))
    sink = TrialSink(relay)
    setting = req.typed_setting({**config.get("param", {}), **config.get("run", {})})
    cfg = validate(req.trial_config(setting))
    run_id = uuid.uuid4().hex[:12]
    row = new_run_row(cfg, run_id=run_id, status=Status.RUNNING, sweep_id=tune_id)
    row.update(started_at=time.time(), host=socket.gethostname(), worker_pid=os.getpid())
    sink.insert_runs([row])
    relay.push.remote(("trial", run_id, {"trial_id": tune.get_context().get_trial_id(), "setting": setting}, None))
    n = req.trial_experiences
    stopped: dict = {}

    def boundary(exp: int, accuracies: dict) -> None:
        if exp >= n - 1:  # the last experience is reported once the run has finished
            return
        so_far = float(np.mean(accuracies["val"][: exp + 1]))
        try:
            tune.report({"objective": so_far, "experiences": exp + 1, "run_id": run_id, "final": False})
        except SystemExit:  # Tune stops a trial at its report: end the run as cancelled, its rows kept
            stopped.update(after=exp + 1, objective=so_far)
            raise Stopped("stopped by the search") from None

    result = run(cfg, store=sink, run_id=run_id, on_experience=boundary)
    if stopped:
        why = stop_reason(cancelled=sink.cancel_requested(run_id), after=stopped["after"], of=n,
                          objective=stopped["objective"])
        sink.update_run(run_id, error=why)
        ray.get(relay.ping.remote())  # every row and the reason reached the relay before Tune ends this thread
        raise SystemExit(0)
    ray.get(relay.ping.remote())
    objective = (result.get("val_metrics") or {}).get("acc")
    if result["status"] == Status.FINISHED and objective is not None:
        tune.report({"objective": float(objective), "experiences": n, "run_id": run_id, "final": True})
    elif result["status"] != Status.CANCELLED:
        raise TrialFailed(f"run {run_id} {result['status']}: {result.get('error')}")
