"""`python -m bench resume`: go on with interrupted runs from their last checkpoints (bench/execute/resume.py)."""
from __future__ import annotations

import os
import socket
import sys

from bench.spec.params import BadInput
from bench.spec.status import Status


def register(sub) -> dict:
    from bench.cli.runs import executor_args

    rs = sub.add_parser("resume", help="resume interrupted runs from their last checkpoint (here, or queued for the "
                                       "worker pool with --queue)")
    rs.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="the interrupted runs (Runs and Run detail show ids)")
    rs.add_argument("--all", action="store_true", help="every interrupted run of the store")
    rs.add_argument("--queue", action="store_true",
                    help="only queue them again: the worker pool (python -m bench pool, or the app) resumes them")
    rs.add_argument("--store")
    rs.add_argument("--json", action="store_true")
    executor_args(rs)
    return {"resume": cmd_resume}


def cmd_resume(args) -> int:
    from bench.cli.runs import _emit
    from bench.execute import jobs, resume
    from bench.results.queries import run_result, run_resumes
    from bench.results.store import Store, resolve_store_path

    path = resolve_store_path(args.store)
    if not path.exists():
        raise BadInput(f"store {str(path)!r} does not exist: name it with --store")
    store = Store(path)
    jobs.reap(store)  # a run whose process died unseen is shown as running: it is interrupted (and maybe queued)
    run_ids = list(dict.fromkeys(args.run_ids + (store.interrupted() if args.all else [])))
    if not run_ids:
        raise BadInput("no run to resume: name RUN_IDs or pass --all (there is no interrupted run)" if args.all
                       else "no run to resume: name RUN_IDs or pass --all")
    requeued = set(run_resumes(store, run_ids).run_id)
    status = store.statuses(run_ids)
    for run_id in run_ids:  # all or nothing: every one must be interrupted (or queued to resume) before any is queued
        if not (status.get(run_id) == Status.INTERRUPTED or (status.get(run_id) == Status.QUEUED
                                                            and run_id in requeued)):
            raise BadInput(f"run {run_id} is {status.get(run_id, 'not in the store')}: only an interrupted run "
                           "resumes")
    for run_id in run_ids:
        if status[run_id] == Status.INTERRUPTED:
            resume.request(store, run_id)
        found = resume.latest_checkpoint(store, run_id)
        where = f"after experience {found}" if found is not None else "from the start (it has no checkpoint)"
        print(f"{run_id}: queued to resume {where}", file=sys.stderr, flush=True)
    if args.queue:
        return 0
    if args.executor == "ray":
        from bench.execute.ray_cluster import run_ray

        ended = list(run_ray(store, run_ids, address=args.ray_address))
    else:
        ended = [_run_here(store, run_id) for run_id in run_ids]
    failed = 0
    for run_id in ended:
        result = run_result(store, run_id)
        result["resumed_from_exp"] = _int(store.run_row(run_id).get("resumed_from_exp"))
        failed += result["status"] != Status.FINISHED
        _emit(result, args.json)
    return 1 if failed else 0


def _run_here(store, run_id: str) -> str:
    """Take the queued run and train it in this process, from its checkpoint."""
    from bench.spec.config import RunConfig
    from bench.train.runner import run

    job = store.claim(run_id, host=socket.gethostname(), pid=os.getpid())
    if job is None:
        raise BadInput(f"run {run_id} was taken by another worker (a pool is running for this store)")
    run(RunConfig.from_dict(job["config"], stored=True), store=store, run_id=run_id, resume=True)
    return run_id


def _int(v) -> int | None:
    return None if v is None or v != v else int(v)
