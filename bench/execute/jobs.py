"""Background execution: warm worker processes that take queued runs from the store.

The queue *is* the store: `submit` inserts queued rows, workers claim them atomically, and every
status change is written by the worker itself. A supervisor (`python -m bench pool`) keeps N warm
workers alive, belongs to no browser session, replaces a worker that died and marks that worker's run
interrupted. Anyone (app tabs, the CLI) shares it through the store file.
"""
from __future__ import annotations

import fcntl
import json
import logging
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from bench.execute import resume
from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.status import TERMINAL, Status

log = logging.getLogger(__name__)
POLL_S = 0.2
# A worker that has found no work for IDLE_AFTER_S polls every IDLE_POLL_S instead: each poll opens the store
# (~20-30 ms of CPU), so two idle workers at POLL_S kept about a quarter of a core busy doing nothing.
IDLE_AFTER_S = 10.0
IDLE_POLL_S = 1.0


def default_workers() -> int:
    """One per GPU when there are GPUs, else one per core (each run uses one torch thread)."""
    return gpu_count() or max(1, os.cpu_count() or 1)


def gpu_count() -> int:
    """NVIDIA GPUs this process may use, without importing torch (the app's pages stay light): the devices listed
    by the driver under /proc, narrowed by CUDA_VISIBLE_DEVICES. The workers themselves ask torch."""
    try:
        found = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return found
    return min(found, len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"]))


def submit(configs: list[RunConfig], *, store: Store, sweep_id: str | None = None) -> list[str]:
    """Validate every config (all or nothing), then queue them. Returns the new run ids in order."""
    from bench.train.runner import new_run_row

    valid = [validate(c) for c in configs]
    rows = [new_run_row(c, status=Status.QUEUED, sweep_id=sweep_id) for c in valid]
    base = time.time()
    for i, row in enumerate(rows):  # keep submission order in the queue
        row["created_at"] = base + i * 1e-6
    store.insert_runs(rows)
    return [r["run_id"] for r in rows]


def cancel(store: Store, run_id: str) -> str | None:
    return store.request_cancel(run_id)


def delete(store: Store, run_ids: list[str]) -> None:
    store.delete_runs(run_ids)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def reap(store: Store, *, stale_s: float = 60.0) -> int:
    """Mark runs shown as running whose worker is gone as interrupted (and queue them again to resume, within their
    max_resumes: bench/execute/resume.py). Returns how many."""
    host = socket.gethostname()
    df = store.running()
    now, n = time.time(), 0
    for r in df.itertuples():
        dead = (r.host == host and not pid_alive(r.worker_pid)) or (
            r.host != host and r.heartbeat_at is not None and now - r.heartbeat_at > stale_s)
        if dead:
            resume.interrupt(store, r.run_id, "the process running it stopped before the run finished", crashed=True)
            n += 1
    return n


def wait(store: Store, run_ids: list[str], *, timeout: float | None = None, poll: float = 0.5) -> dict[str, str]:
    """Block until every run is in a terminal state (or timeout); returns run_id -> status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = store.statuses(run_ids)
        if all(status.get(r) in TERMINAL for r in run_ids) or (deadline and time.monotonic() > deadline):
            return status
        time.sleep(poll)


# -- workers ---------------------------------------------------------------------------------------
def worker_loop(store_path: str, *, exit_when_idle: bool = False, gpu: int | None = None) -> None:
    """Claim queued runs and execute them, forever (or until the queue is empty)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when we stop
    parent = os.getppid()
    _die_with_parent()
    from bench.train.runner import run  # the expensive import (torch + Avalanche) happens once per worker

    store = Store(store_path)
    host, pid = socket.gethostname(), os.getpid()
    idle_since = time.monotonic()
    while True:
        if os.getppid() != parent:  # our supervisor is gone: take no more work
            return
        job = store.claim_next(host=host, pid=pid)
        if job is None:
            if exit_when_idle:
                return
            time.sleep(POLL_S if time.monotonic() - idle_since < IDLE_AFTER_S else IDLE_POLL_S)
            continue
        try:
            run(RunConfig.from_dict(job["config"], stored=True), store=store, run_id=job["run_id"],
                resume=job["resume"])
        except Exception as exc:  # e.g. a config that no longer validates: never kill the worker
            store.update_run(job["run_id"], status=Status.FAILED, finished_at=time.time(),
                             error=f"{type(exc).__name__}: {exc}", device=_device_of(job["config"]))
        idle_since = time.monotonic()


def _device_of(config) -> str | None:
    """The device this worker would have run `config` on (runs.device is filled for every run a worker took)."""
    from bench.train.runner import device_name

    requested = config.get("device", "auto") if isinstance(config, dict) else "auto"
    return device_name(requested if requested in ("auto", "cpu", "cuda") else "auto")


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its supervisor dies, so a killed pool cannot leave an orphan
    worker training unseen; its run is then shown as interrupted by `reap`."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_pool(store_path: str, *, workers: int, exit_when_idle: bool = False) -> None:
    """Supervise `workers` warm worker processes; replace any that dies and mark its run interrupted."""
    ctx = mp.get_context("spawn")
    store = Store(store_path)
    gpus = _gpu_count()

    def start(slot: int):
        p = ctx.Process(target=worker_loop, args=(str(store.path),),
                        kwargs={"exit_when_idle": exit_when_idle, "gpu": slot % gpus if gpus else None},
                        daemon=True)
        p.start()
        return p

    procs = {slot: start(slot) for slot in range(workers)}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping:
            for slot, p in list(procs.items()):
                if p.is_alive():
                    continue
                if p.exitcode != 0:
                    _interrupt_runs_of(store, p.pid, f"the worker process died (exit code {p.exitcode})", crashed=True)
                    procs[slot] = start(slot)
                elif exit_when_idle:
                    del procs[slot]
            if exit_when_idle and not procs:
                return
            time.sleep(POLL_S)
    finally:
        for p in procs.values():
            if p.is_alive():
                p.terminate()
        for p in procs.values():
            p.join(5)
            if p.pid:
                _interrupt_runs_of(store, p.pid, "the worker pool was stopped", crashed=False)


def _interrupt_runs_of(store: Store, pid: int, why: str, *, crashed: bool) -> None:
    for run_id in store.running_on(host=socket.gethostname(), pid=pid):
        resume.interrupt(store, run_id, why, crashed=crashed)


def _gpu_count() -> int:
    """GPUs torch can use here (the supervisor hands one to each worker)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA install: run on the CPU
        return 0


# -- the detached pool daemon ----------------------------------------------------------------------
def _pidfile(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".pool.json")


def pool_status(store: Store) -> dict | None:
    """The running pool daemon for this store ({'pid', 'workers', 'started_at'}), or None."""
    try:
        info = json.loads(_pidfile(store).read_text())
    except (OSError, ValueError):
        return None
    return info if pid_alive(info.get("pid")) else None


def ensure_pool(store: Store, *, workers: int | None = None, executor: str = "local",
                ray_address: str | None = None) -> dict:
    """Start the pool daemon for this store if none is alive; it outlives the caller (app or CLI).
    With executor='ray' the daemon submits queued runs to a Ray cluster instead of local workers.
    A lock makes two simultaneous callers (two tabs, two clicks) start one pool, not two."""
    fd = os.open(store.path.with_name(store.path.name + ".pool.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _start_pool(store, workers=workers, executor=executor, ray_address=ray_address)
    finally:
        os.close(fd)


def _start_pool(store: Store, *, workers: int | None, executor: str, ray_address: str | None) -> dict:
    info = pool_status(store)
    if info:
        return info
    reap(store)
    n = workers or default_workers()
    extra = ["--executor", executor] + (["--ray-address", ray_address] if ray_address else [])
    log_path = store.path.with_name(store.path.name + ".pool.log")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "pool", "--store", str(store.path), "--workers", str(n), *extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    info = {"pid": proc.pid, "workers": n, "executor": executor, "started_at": time.time()}
    _pidfile(store).write_text(json.dumps(info))
    return info


def stop_pool(store: Store, *, timeout: float = 10.0) -> bool:
    info = pool_status(store)
    if not info:
        return False
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    _pidfile(store).unlink(missing_ok=True)
    return True


def run_local(store: Store, run_ids: list[str], *, workers: int) -> Iterator[str]:
    """Run queued `run_ids` on `workers` fresh local processes; yield each run id as it ends."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker_loop, args=(str(store.path),), kwargs={"exit_when_idle": True}, daemon=True)
             for _ in range(max(1, min(workers, len(run_ids))))]
    for p in procs:
        p.start()
    pending, reaped = list(run_ids), set()
    try:
        while pending:
            done = {r for r, s in store.statuses(pending).items() if s in TERMINAL}
            for run_id in [r for r in pending if r in done]:
                pending.remove(run_id)
                yield run_id
            for p in procs:
                if not p.is_alive() and p.exitcode not in (0, None) and p.pid not in reaped:
                    reaped.add(p.pid)
                    _interrupt_runs_of(store, p.pid, f"the worker process died (exit code {p.exitcode})", crashed=True)
            if pending and not any(p.is_alive() for p in procs):
                # our workers are gone; anything still queued gets a fresh worker
                if store.queued(pending):
                    p = ctx.Process(target=worker_loop, args=(str(store.path),), kwargs={"exit_when_idle": True},
                                    daemon=True)
                    p.start()
                    procs.append(p)
            time.sleep(POLL_S)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(5)
            if p.pid and p.pid not in reaped:  # stopped, not crashed: resumed only when asked
                _interrupt_runs_of(store, p.pid, "the sweep was stopped", crashed=False)
