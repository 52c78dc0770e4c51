"""Runs as Ray tasks on a cluster; their rows flow back to the submitting machine's DuckDB store.

Workers on other machines cannot write the store file, so each task runs the ordinary runner against a
`RelaySink` that forwards every write to a `Relay` actor; the submitting process (the only writer) drains
the relay into the store every fraction of a second, which keeps progress live on the Runs page. Cancel
requests travel the other way: the driver copies the store's cancel flags into the relay, the task's
recorder polls them as it does the store's.

Checkpoints travel the same way: a task's checkpoint bytes go through the relay to the submitting machine, which
writes them next to its store; a task that resumes an interrupted run gets its latest checkpoint with the task's
arguments. A lost task (its worker or node died) is queued again to resume, like a killed local worker
(bench/execute/resume.py).
"""
from __future__ import annotations

import os
import socket
import time
from typing import Iterator

from bench.execute import resume
from bench.results.store import Store
from bench.spec.status import TERMINAL

DRAIN_S = 0.25


class RelaySink:
    """The store interface the runner needs (update_run, write, cancel_requested, truncate_run, checkpoint_sink), over
    a Ray actor. `checkpoint`: the (experience, bytes) of the latest checkpoint of the run this task resumes."""

    def __init__(self, relay, *, checkpoint: tuple[int, bytes] | None = None) -> None:
        self.relay = relay
        self.checkpoint = checkpoint

    def truncate_run(self, run_id: str, *, point: int, iteration: int) -> None:
        self.relay.push.remote(("truncate", run_id, None, {"point": point, "iteration": iteration}))

    def checkpoint_sink(self, run_id: str) -> "RelayCheckpoints":
        return RelayCheckpoints(self.relay, run_id, self.checkpoint)

    def update_run(self, run_id: str, **fields) -> None:
        self.relay.push.remote(("update", run_id, None, fields))

    def write(self, run_id: str, rows: dict, run_fields: dict | None = None) -> None:
        self.relay.push.remote(("write", run_id, rows, run_fields))

    def cancel_requested(self, run_id: str) -> bool:
        import ray

        return ray.get(self.relay.is_cancelled.remote(run_id))


class RelayCheckpoints:
    """A run's checkpoint sink on a Ray worker: saves and the final pruning go to the submitting machine's files."""

    def __init__(self, relay, run_id: str, latest: tuple[int, bytes] | None) -> None:
        self.relay, self.run_id, self._latest = relay, run_id, latest

    def latest(self) -> tuple[int, bytes] | None:
        return self._latest

    def save(self, exp: int, data: bytes, *, keep_all: bool = False) -> None:
        self.relay.push.remote(("checkpoint", self.run_id, None, {"exp": exp, "data": data, "keep_all": keep_all}))

    def finish(self, keep: str) -> None:
        self.relay.push.remote(("finish", self.run_id, None, {"keep": keep}))


class _Relay:
    def __init__(self) -> None:
        self.messages: list = []
        self.cancelled: set = set()

    def push(self, message) -> None:
        self.messages.append(message)

    def drain(self) -> list:
        out, self.messages = self.messages, []
        return out

    def ping(self) -> bool:
        """A barrier: answered after every earlier push from the same caller was applied."""
        return True

    def cancel(self, run_id: str) -> None:
        self.cancelled.add(run_id)

    def is_cancelled(self, run_id: str) -> bool:
        return run_id in self.cancelled


def _task(config: dict, run_id: str, relay, resume: bool = False, checkpoint: tuple | None = None) -> dict:
    import ray

    from bench.spec.config import RunConfig
    from bench.train.runner import run

    result = run(RunConfig.from_dict(config), store=RelaySink(relay, checkpoint=checkpoint), run_id=run_id,
                 resume=resume)
    ray.get(relay.ping.remote())  # every row pushed above has reached the relay before we report done
    return {"run_id": run_id, "status": result["status"]}


def init(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Connect to a cluster (address) or start a local Ray instance; idempotent."""
    import ray

    if ray.is_initialized():
        return
    # Ray's workers import the installed `bench` package, as the pool's workers do (pip install .).
    kwargs = {"address": address} if address else {"num_cpus": num_cpus, "include_dashboard": False}
    ray.init(**kwargs, log_to_driver=False, ignore_reinit_error=True)


def _apply(store: Store, messages: list) -> None:
    for kind, run_id, rows, fields in messages:
        if kind == "write":
            store.write(run_id, rows, fields)
        elif kind == "truncate":
            store.truncate_run(run_id, **fields)
        elif kind == "checkpoint":
            store.checkpoint_sink(run_id).save(fields["exp"], fields["data"], keep_all=fields["keep_all"])
        elif kind == "finish":
            store.checkpoint_sink(run_id).finish(fields["keep"])
        else:
            store.update_run(run_id, **fields)


class RayDriver:
    """Submits claimed runs as Ray tasks and relays their rows into the store; the one writer."""

    def __init__(self, store: Store, *, address: str | None = None) -> None:
        import ray

        init(address)
        self.store = store
        self.relay = ray.remote(_Relay).options(num_cpus=0).remote()
        self.task = ray.remote(_task)
        self.has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.refs: dict = {}

    def submit(self, run_id: str) -> bool:
        """Claim a queued run and start it as a Ray task (a GPU is asked for when the run will use CUDA)."""
        job = self.store.claim(run_id, host=self.host, pid=self.pid)
        if job is None:
            return False
        device = job["config"].get("device", "auto")
        gpus = 1 if device == "cuda" or (device == "auto" and self.has_gpu) else 0
        checkpoint = self.store.checkpoint_sink(run_id).latest() if job["resume"] else None
        ref = self.task.options(num_cpus=1, num_gpus=gpus, max_retries=0).remote(
            job["config"], run_id, self.relay, job["resume"], checkpoint)
        self.refs[ref] = run_id
        return True

    def step(self, timeout: float = DRAIN_S) -> list[str]:
        """Relay pending rows and cancel flags; return the runs that ended since the last step (a lost run queued
        again to resume has not ended)."""
        import ray

        done, _ = ray.wait(list(self.refs), timeout=timeout, num_returns=1) if self.refs else ([], [])
        if not self.refs:
            time.sleep(timeout)
        self._drain()
        for run_id in self.store.cancel_flags(list(self.refs.values())):
            self.relay.cancel.remote(run_id)
        ended = []
        for ref in done:
            run_id = self.refs.pop(ref)
            try:
                ray.get(ref)
            except Exception as exc:  # the task itself died (worker crash, node lost, ray.cancel)
                self._drain()
                if _mark_lost(self.store, run_id, exc, crashed=True) is not None:
                    continue  # queued again: it resumes
            ended.append(run_id)
        return ended

    def _drain(self) -> None:
        import ray

        _apply(self.store, ray.get(self.relay.drain.remote()))

    def close(self) -> None:
        import ray

        for ref, run_id in self.refs.items():
            ray.cancel(ref, force=True)
            _mark_lost(self.store, run_id, RuntimeError("the submitting process stopped"), crashed=False)
        self.refs.clear()
        ray.kill(self.relay)


def run_ray(store: Store, run_ids: list[str], *, address: str | None = None) -> Iterator[str]:
    """Run queued `run_ids` as Ray tasks, rows written into `store` as they arrive; yield each run id as it ends."""
    driver = RayDriver(store, address=address)
    try:
        for run_id in run_ids:
            driver.submit(run_id)
        while driver.refs:
            yield from driver.step()
            for run_id in store.queued(run_ids):  # a lost task queued again to resume
                driver.submit(run_id)
    finally:
        driver.close()


def serve(store: Store, *, address: str | None = None, exit_when_idle: bool = False) -> None:
    """The pool daemon's Ray flavour: keep claiming queued runs from the store and submit them to Ray."""
    driver = RayDriver(store, address=address)
    try:
        while True:
            queued = store.queued()
            for run_id in queued:
                driver.submit(run_id)
            driver.step()
            if exit_when_idle and not driver.refs and not queued:
                return
    finally:
        driver.close()


def _mark_lost(store: Store, run_id: str, exc: Exception, *, crashed: bool) -> int | None:
    """Mark a run whose task is gone interrupted (a crashed one is queued again: returns its attempt)."""
    row = store.run_row(run_id)
    if row is None or row["status"] in TERMINAL:
        return None
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return resume.interrupt(store, run_id, f"the Ray task was lost ({type(exc).__name__}: {first})", crashed=crashed)
