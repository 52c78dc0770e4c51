"""Searches started from the app: queued in the store, then run by a detached `python -m bench tune --queued IDS`
process (a Streamlit rerun would kill a search run inside the page), which outlives the browser tab like the pool."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

from bench.execute import jobs
from bench.execute.tune import outcome
from bench.execute.tune.request import TuneRequest
from bench.results import tunes as T
from bench.results.store import Store
from bench.spec.status import Status


def queue(store: Store, requests: list[TuneRequest], *, address: str | None = None,
          workers: int | None = None) -> list[str]:
    """Queue the searches (checked requests, one per strategy; they run one after the other, then the chosen
    settings' whole-stream runs) and start the process that runs them. Returns their tune ids."""
    ids = [uuid.uuid4().hex[:12] for _ in requests]
    for tune_id, req in zip(ids, requests, strict=True):
        T.insert_tune(store, outcome.new_row(tune_id, req, status=Status.QUEUED))
    extra = (["--ray-address", address] if address else []) + (["--workers", str(workers)] if workers else [])
    log = store.path.with_name(f"{store.path.name}.tune-{ids[0]}.log")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "tune", "--queued", ",".join(ids), "--store", str(store.path), *extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    host = outcome.this_process()["host"]
    for tune_id in ids:  # who runs them, so a search whose process died can be shown as interrupted
        T.update_tune(store, tune_id, host=host, pid=proc.pid)
    return ids


def reap(store: Store) -> int:
    """Mark the queued or running searches of this host whose process is gone as interrupted. Returns how many."""
    host, n = outcome.this_process()["host"], 0
    for r in T.active(store).itertuples():
        if r.host == host and r.pid == r.pid and not jobs.pid_alive(int(r.pid)):
            T.update_tune(store, r.tune_id, status=Status.INTERRUPTED, finished_at=time.time(),
                          error="interrupted: the process running the search stopped before it finished")
            n += 1
    return n


def cancel(store: Store, tune_id: str) -> str | None:
    """Cancel a search: at once when queued; a running one stops at the process's next check (about a second)."""
    return T.request_cancel(store, tune_id)
