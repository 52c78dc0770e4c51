"""Runs as Ray tasks on a cluster; their rows flow back to the submitting machine's DuckDB store.

Workers on other machines cannot write the store file, so each task runs the ordinary runner against a
`RelaySink` that forwards every write to a `Relay` actor; the submitting process (the only writer) drains
the relay into the store every fraction of a second, which keeps progress live on the Runs page. Cancel
requests travel the other way: the driver copies the store's cancel flags into the relay, the task's
recorder polls them as it does the store's.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Iterator

from bench.results.store import Store
from bench.spec.status import TERMINAL, Status

DRAIN_S = 0.25


class RelaySink:
    """The store interface the runner needs (update_run, write, cancel_requested), over a Ray actor."""

    def __init__(self, relay) -> None:
        self.relay = relay

    def update_run(self, run_id: str, **fields) -> None:
        self.relay.push.remote(("update", run_id, None, fields))

    def write(self, run_id: str, rows: dict, run_fields: dict | None = None) -> None:
        self.relay.push.remote(("write", run_id, rows, run_fields))

    def cancel_requested(self, run_id: str) -> bool:
        import ray

        return ray.get(self.relay.is_cancelled.remote(run_id))


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


def _task(config: dict, run_id: str, relay) -> dict:
    import ray

    from bench.spec.config import RunConfig
    from bench.train.runner import run

    result = run(RunConfig.from_dict(config), store=RelaySink(relay), run_id=run_id)
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
        ref = self.task.options(num_cpus=1, num_gpus=gpus, max_retries=0).remote(job["config"], run_id, self.relay)
        self.refs[ref] = run_id
        return True

    def step(self, timeout: float = DRAIN_S) -> list[str]:
        """Relay pending rows and cancel flags; return the runs that ended since the last step."""
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
                _mark_lost(self.store, run_id, exc)
            ended.append(run_id)
        return ended

    def _drain(self) -> None:
        import ray

        _apply(self.store, ray.get(self.relay.drain.remote()))

    def close(self) -> None:
        import ray

        for ref, run_id in self.refs.items():
            ray.cancel(ref, force=True)
            _mark_lost(self.store, run_id, RuntimeError("the submitting process stopped"))
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


def _mark_lost(store: Store, run_id: str, exc: Exception) -> None:
    row = store.run_row(run_id)
    if row is not None and row["status"] not in TERMINAL:
        store.update_run(run_id, status=Status.INTERRUPTED, finished_at=time.time(),
                         error=f"interrupted: the Ray task was lost ({type(exc).__name__}: {str(exc)[:200]})")
