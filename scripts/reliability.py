"""Reliability figures: bad inputs tried and rejected cleanly, faults injected and survived, and a sustained
concurrent load on one store (writers x readers x minutes, rows written = rows read).

    python scripts/reliability.py [--minutes 1.0] [--writers 4] [--readers 2]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import bad_imports  # scripts/bad_imports.py: the bad import files, kind by kind

from bench.cli import main as cli
from bench.execute import jobs
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.train.runner import run

RUN = ["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "naive"]


def bad_cli_inputs(tmp: Path) -> list[list[str]]:
    store = ["--store", str(tmp / "never.duckdb")]
    corrupt = tmp / "corrupt.duckdb"
    corrupt.write_bytes(b"garbage" * 64)
    cases = [
        ["run", "--benchmark", "nope", "--scenario", "class", "--strategy", "naive"],
        ["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "magic"],
        ["run", "--benchmark", "split-digits", "--scenario", "diagonal", "--strategy", "naive"],
        ["run", "--benchmark", "split-digits", "--scenario", "task", "--strategy", "der"],
        ["run", "--benchmark", "split-digits", "--scenario", "task", "--strategy", "icarl"],
        ["run", "--benchmark", "permuted-digits", "--scenario", "class", "--strategy", "naive"],
        ["run", "--benchmark", "facts", "--scenario", "class", "--strategy", "naive"],
        [*RUN, "--bench-param", "n_experiences=11"],  # more experiences than classes
        [*RUN, "--bench-param", "n_experiences=1"],
        [*RUN, "--bench-param", "n_experiences=abc"],
        [*RUN, "--bench-param", "colour=blue"],
        [*RUN, "--bench-param", "novalue"],
        [*RUN, "--bench-param", "class_order=random"],
    ]
    for flag, values in {"--epochs": ["0", "-1", "1e9", "nan", "three", "2.5"],
                         "--batch-size": ["0", "-32", "99999999", "inf"],
                         "--lr": ["nan", "inf", "-0.1", "0", "1e9", "fast"],
                         "--seed": ["-1", "x", "1e30"],
                         "--device": ["gpu", "tpu", "cuda:9"], "--optimizer": ["rmsprop"],
                         "--eval-every": ["-5"], "--grad-clip": ["-1", "nan"]}.items():
        cases += [[*RUN, flag, v] for v in values]
    ewc = ["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "ewc", "--param"]
    cases += [[*ewc, v] for v in ("ewc_lambda=-1", "ewc_lambda=nan", "ewc_lambda=1e99", "mode=sometimes",
                                  "lamda=10", "=3", "decay_factor=2")]
    cases += [["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "replay", "--param", v]
              for v in ("mem_size=0", "mem_size=-5", "mem_size=lots", "buffer=fifo")]
    cases = [c + store for c in cases]
    cases += [
        [*RUN, "--store", str(tmp / "missing-dir" / "s.duckdb")],
        [*RUN, "--store", str(tmp)],  # a directory
        [*RUN, "--store", str(corrupt)],
        ["run", "--benchmark", "split-cifar10", "--scenario", "class", "--strategy", "naive",
         "--data-dir", str(tmp / "no-data"), *store],
        ["run", "--config", str(tmp / "missing.json"), *store],
        ["sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies", "naive,magic", *store],
        ["sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies", "naive", "--seeds", "0,x",
         *store],
        ["sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies", "naive",
         "--param", "mem_size=10", *store],
        ["export", "--store", str(tmp / "nothing.duckdb"), "--out", str(tmp / "out")],
        ["list", "things"],
    ]
    for i, text in enumerate(['{"benchmark": "split-digits"}', "[1, 2, 3]", "not json",
                              '{"benchmark": "split-digits", "scenario": "class", "strategy": "naive", "x": 1}',
                              '{"benchmark": "split-digits", "scenario": "class", "strategy": "naive", "lr": "NaN"}']):
        f = tmp / f"config{i}.json"
        f.write_text(text)
        cases.append(["run", "--config", str(f), *store])
    return cases


def check_bad_inputs(tmp: Path) -> tuple[int, list[str]]:
    cases, failures = bad_cli_inputs(tmp), []
    before = sorted(p.name for p in tmp.iterdir())
    for args in cases:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli(args)
        text = err.getvalue().strip()
        if code != 2 or "\n" in text or not text.startswith("error: ") or "Traceback" in text:
            failures.append(f"{' '.join(args[:8])} -> exit {code}: {text[:120]}")
    after = sorted(p.name for p in tmp.iterdir())
    if after != before:
        failures.append(f"a rejected input wrote a file: {sorted(set(after) - set(before))}")
    return len(cases), failures


# -- faults ----------------------------------------------------------------------------------------
def fault_nan(tmp: Path) -> str:
    s = Store(tmp / "nan.duckdb")
    r = run(RunConfig(benchmark="split-digits", scenario="class", strategy="ewc", params={"ewc_lambda": 1e7},
                      grad_clip=0.0, epochs=2), store=s)
    row = s.run_row(r["run_id"])
    assert row["status"] == "failed" and "loss became" in row["error"], row["status"]
    return "loss became NaN/inf -> run marked failed with the iteration, earlier rows kept"


def fault_sigkill(tmp: Path) -> str:
    s = Store(tmp / "kill.duckdb")
    jobs.ensure_pool(s, workers=2)
    try:
        # max_resumes=0: the killed run stays interrupted (with resumes it is re-queued at once and goes on from its
        # last checkpoint, which tests/test_resume.py checks row for row)
        long = RunConfig(benchmark="split-mnist-lite", scenario="class", strategy="naive", epochs=200, eval_every=500,
                         max_resumes=0)
        victim, other = jobs.submit([long, long.with_seed(1)], store=s)
        deadline = time.monotonic() + 120
        while s.run_row(victim)["status"] != "running" or not (s.run_row(victim)["iteration"] or 0):
            assert time.monotonic() < deadline, "run never started"
            time.sleep(0.2)
        os.kill(int(s.run_row(victim)["worker_pid"]), signal.SIGKILL)
        jobs.wait(s, [victim], timeout=60)
        assert s.run_row(victim)["status"] == "interrupted"
        assert s.query("SELECT count(*) AS n FROM evaluations WHERE run_id = ?", [victim]).n[0] > 0
        jobs.cancel(s, other)
        jobs.wait(s, [other], timeout=60)
        (quick,) = jobs.submit([RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1)],
                               store=s)
        assert jobs.wait(s, [quick], timeout=120)[quick] == "finished"
    finally:
        jobs.stop_pool(s)
    return "worker SIGKILLed mid-run -> run interrupted, its rows kept, worker replaced, next run finished"


def fault_old_schema(tmp: Path) -> str:
    import duckdb

    path = tmp / "old.duckdb"
    Store(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.execute("INSERT INTO runs (run_id, status) VALUES ('keep-me', 'finished')")
    con.close()
    try:
        Store(path)
        raise AssertionError("old schema accepted")
    except BadInput:
        pass
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # refused, not touched
    con.close()
    return "store of an older schema version -> refused with a clear message, file untouched"


# -- load ------------------------------------------------------------------------------------------
def _writer(path: str, wid: int, seconds: float, out) -> None:
    s = Store(path)
    until = time.time() + seconds
    run_id = f"load-{wid}"
    s.insert_runs([{"run_id": run_id, "status": "running", "created_at": time.time(), "config_json": "{}"}])
    n = point = 0
    while time.time() < until:
        rows = [{"point": point, "kind": "dense", "trained_exp": 0, "iteration": point, "test_exp": j,
                 "accuracy": 0.5, "loss": 0.1, "n": 1} for j in range(20)]
        s.write(run_id, {"evaluations": rows}, {"iteration": point, "heartbeat_at": time.time()})
        n += len(rows)
        point += 1
        time.sleep(0.02)
    s.update_run(run_id, status="finished")
    out.put(("w", n, 0))


def _reader(path: str, seconds: float, out) -> None:
    s = Store(path)
    until = time.time() + seconds
    polls = errors = 0
    while time.time() < until:
        try:
            s.query("SELECT r.status, count(e.point) FROM runs r LEFT JOIN evaluations e USING (run_id) GROUP BY 1")
            polls += 1
        except Exception:
            errors += 1
        time.sleep(0.1)
    out.put(("r", polls, errors))


def load(tmp: Path, *, writers: int, readers: int, minutes: float) -> dict:
    path = str(tmp / "load.duckdb")
    Store(path)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, w, 60 * minutes, out)) for w in range(writers)]
    procs += [ctx.Process(target=_reader, args=(path, 60 * minutes, out)) for _ in range(readers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60 * minutes + 300) for _ in procs]
    for p in procs:
        p.join(30)
    written = sum(n for k, n, _ in results if k == "w")
    errors = sum(e for k, _, e in results if k == "r")
    polls = sum(n for k, n, _ in results if k == "r")
    s = Store(path)
    stored = int(s.query("SELECT count(*) AS n FROM evaluations").n[0])
    distinct = int(s.query("SELECT count(*) AS n FROM (SELECT DISTINCT run_id, point, test_exp FROM evaluations)").n[0])
    return {"writers": writers, "readers": readers, "minutes": minutes, "rows_written": written,
            "rows_read": stored, "distinct_rows": distinct, "reader_polls": polls, "reader_errors": errors}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "inputs").mkdir()
    tried, failures = check_bad_inputs(tmp / "inputs")
    (tmp / "imports").mkdir()
    imports_tried, import_failures = bad_imports.check(tmp / "imports")
    from reliability_own import check_own_kinds  # bad own data and bad plugins (scripts/reliability_own.py)

    own_tried, own_failures = check_own_kinds(tmp / "own")
    faults, broken = [], []
    for fault in (fault_nan, fault_sigkill, fault_old_schema):
        try:
            faults.append(fault(tmp))
        except Exception as exc:  # report every fault, do not stop at the first
            broken.append(f"{fault.__name__}: {type(exc).__name__}: {exc}")
    held = load(tmp, writers=args.writers, readers=args.readers, minutes=args.minutes)
    ok = not failures and not import_failures and not own_failures and not broken \
        and held["rows_written"] == held["rows_read"] == held["distinct_rows"] and held["reader_errors"] == 0
    print("== reliability ==")
    print(f"bad inputs: {tried} tried, {tried - len(failures)} rejected cleanly (exit 2, one line, nothing written)")
    for f in failures:
        print(f"  NOT CLEAN: {f}")
    print(f"bad imports: {imports_tried} kinds tried, {imports_tried - len(import_failures)} refused cleanly "
          "(exit 2, one line, store unchanged)")
    for f in import_failures:
        print(f"  NOT CLEAN: {f}")
    print(f"bad own data and plugins: {own_tried} kinds tried, {own_tried - len(own_failures)} rejected cleanly "
          f"(exit 2, one line, store, cache and data unchanged)")
    for f in own_failures:
        print(f"  NOT CLEAN: {f}")
    print(f"faults: {len(faults)} injected and survived, {len(broken)} not")
    for f in faults:
        print(f"  survived: {f}")
    for f in broken:
        print(f"  BROKEN: {f}")
    print(f"concurrent load: {held['writers']} writers x {held['readers']} readers x {held['minutes']} min: "
          f"{held['rows_written']} rows written, {held['rows_read']} rows read "
          f"({held['distinct_rows']} distinct), {held['reader_polls']} reader polls, {held['reader_errors']} errors")
    if args.json:
        print(json.dumps({"bad_inputs": tried, "rejected": tried - len(failures), "bad_imports": imports_tried,
                          "bad_imports_rejected": imports_tried - len(import_failures), "own_kinds": own_tried,
                          "own_rejected": own_tried - len(own_failures), "faults_survived": len(faults),
                          "faults_broken": len(broken), "load": held, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
