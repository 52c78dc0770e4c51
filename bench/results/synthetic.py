"""A synthetic store of many finished runs, shaped like real ones, for load tests (`python -m bench.perf`, the
store tests): about a thousand evaluation rows per run, as a 5-experience run with dense evaluation writes."""
from __future__ import annotations

import time
from pathlib import Path

from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.status import Status

N_EXP = 5
POINTS_PER_EXP = 40  # dense points + the end-of-experience point, per experience
CLASSES_PER_EXP = 2
BENCH_SCENARIOS = (("split-digits", "class"), ("split-digits", "task"), ("permuted-digits", "domain"),
                   ("split-mnist-lite", "class"))
LRS = (0.1, 0.05, 0.01, 0.2, 0.02)
SEEDS = 5


def _strategy_names() -> list[str]:
    from bench.strategies import strategies

    return [s.name for s in strategies()]


def build(path: str | Path, n_runs: int = 1000) -> dict:
    """Fill a new store at `path` with `n_runs` finished synthetic runs: groups of SEEDS seeds over strategies x
    streams x learning rates, one sweep per (stream, learning rate). Returns what was written (row counts)."""
    store = Store(path)
    names = _strategy_names()
    rows, t0 = [], time.time() - 86400
    combos = [(b, s, lr) for lr in LRS for (b, s) in BENCH_SCENARIOS]
    k = 0
    while len(rows) < n_runs:
        bench, scenario, lr = combos[(k // len(names)) % len(combos)]
        sweep = f"sweep{(k // len(names)) % len(combos):03d}r{k // (len(names) * len(combos))}"
        strategy = names[k % len(names)]
        for seed in range(SEEDS):
            if len(rows) >= n_runs:
                break
            cfg = RunConfig(benchmark=bench, scenario=scenario, strategy=strategy, lr=lr, seed=seed,
                            benchmark_params={"n_experiences": N_EXP})
            created = t0 + len(rows) * 10.0
            rows.append({
                "run_id": f"r{len(rows):05d}", "group_id": cfg.group_key(), "sweep_id": sweep, "benchmark": bench,
                "scenario": scenario, "strategy": strategy, "family": "baselines", "seed": seed,
                "config_json": cfg.to_json(), "status": Status.FINISHED, "created_at": created,
                "started_at": created + 1,
                "first_iteration_at": created + 1.2, "finished_at": created + 5, "heartbeat_at": created + 5,
                "device": "cpu", "host": "synthetic", "worker_pid": 1, "n_experiences": N_EXP,
                "current_exp": N_EXP - 1, "iteration": N_EXP * POINTS_PER_EXP * 2,
                "est_iterations": N_EXP * POINTS_PER_EXP * 2, "cancel_requested": False,
            })
        k += 1
    store.insert_runs(rows)
    n_points = N_EXP * POINTS_PER_EXP + 1  # the initial point, then POINTS_PER_EXP per experience
    with store.connect() as con:
        con.execute("SELECT setseed(0.42)")
        con.execute("BEGIN")
        # Synthetic but shaped like real runs: high accuracy on the experience being trained, decaying on older
        # ones at a rate that depends on the run (its "strategy"), chance on unseen ones.
        con.execute(f"""
            CREATE TEMP TABLE pts AS
            SELECT p.point,
                   CASE WHEN p.point = 0 THEN 'initial' WHEN p.point % {POINTS_PER_EXP} = 0 THEN 'end'
                        ELSE 'dense' END AS kind,
                   CASE WHEN p.point = 0 THEN -1 ELSE (p.point - 1) // {POINTS_PER_EXP} END AS trained_exp,
                   p.point * 2 AS iteration
            FROM range({n_points}) p(point)""")
        con.execute(f"""
            INSERT INTO evaluations (run_id, point, kind, trained_exp, iteration, test_exp, accuracy, loss, n)
            SELECT r.run_id, p.point, p.kind, p.trained_exp, p.iteration, t.test_exp,
                   CASE WHEN p.trained_exp < 0 OR t.test_exp > p.trained_exp THEN 0.1 * random()
                        WHEN t.test_exp = p.trained_exp THEN 0.85 + 0.1 * random()
                        ELSE 0.9 * pow(0.3 + 0.6 * (hash(r.group_id) % 100) / 100.0, p.trained_exp - t.test_exp)
                             + 0.05 * random() END AS accuracy,
                   0.2 + random() AS loss, 70 AS n
            FROM runs r, pts p, range({N_EXP}) t(test_exp)""")
        con.execute(f"""
            INSERT INTO class_recall (run_id, point, test_exp, class_id, correct, total)
            SELECT r.run_id, p.point, t.test_exp, t.test_exp * {CLASSES_PER_EXP} + c.c AS class_id,
                   CAST(35 * random() AS INTEGER) AS correct, 35 AS total
            FROM runs r, pts p, range({N_EXP}) t(test_exp), range({CLASSES_PER_EXP}) c(c)""")
        con.execute("""
            INSERT INTO train_curve (run_id, iteration, trained_exp, epoch, loss, accuracy, n)
            SELECT r.run_id, p.iteration, p.trained_exp, 0, random(), random(), 64
            FROM runs r, pts p WHERE p.point > 0""")
        con.execute("""
            INSERT INTO run_metrics (run_id, metric, value)
            SELECT r.run_id, m.metric, random()
            FROM runs r, (VALUES ('acc'), ('avg_incremental_acc'), ('bwt'), ('fwt'), ('forgetting'), ('time_s'),
                                 ('train_time_s'), ('peak_memory_mb'), ('param_count'), ('iterations')) m(metric)""")
        con.execute("COMMIT")
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("runs", "evaluations", "class_recall", "train_curve", "run_metrics")}
    return counts
