"""A search as the store records it: the row that starts one, and its result read back from stored rows only (what
`python -m bench tune --json` prints, the tuning view shows and scripts/tune_report.py tabulates)."""
from __future__ import annotations

import json
import math
import os
import socket
import time

import numpy as np

from bench.execute.tune.request import ALGORITHMS, SCHEDULERS, TuneRequest
from bench.execute.tune.space import run_specs
from bench.results import queries as q
from bench.results import tunes as T
from bench.results.store import Store
from bench.spec.status import Status


def this_process() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def new_row(tune_id: str, req: TuneRequest, *, status: Status) -> dict:
    return {"tune_id": tune_id, "status": status, "created_at": time.time(), "cancel_requested": False,
            "benchmark": req.benchmark, "scenario": req.scenario, "strategy": req.strategy, "protocol": req.protocol,
            "objective": req.objective, "first_experiences": req.first, "n_experiences": req.n_experiences,
            "algorithm": req.algorithm, "scheduler": req.scheduler, "trials": req.trials, "spec_json": req.to_json()}


def choose(store: Store, tune_id: str, *, finished: list[str], cancelled: bool = False, error: str | None = None,
           wall_s: float | None = None) -> None:
    """Record the search's end and its choice: rank 1 on validation ACC (queries.rank_on_validation, as sweeps and
    Compare choose) among the finished trial runs `finished`; ties go to the earlier trial. A cancelled search, or
    one where no trial finished, chooses nothing."""
    fields: dict = {"finished_at": time.time(), "wall_s": wall_s}
    ranked = q.rank_on_validation(store, finished) if finished else None
    if cancelled:
        fields.update(status=Status.CANCELLED, error="cancelled by the user")
    elif error or ranked is None or ranked.empty:
        fields.update(status=Status.FAILED, error=error or "no trial finished: nothing to choose from")
    else:
        top = set(ranked.group_id[ranked["rank"] == 1])
        trials = T.trials(store, tune_id)
        trials = trials[trials.run_id.isin(finished) & trials.group_id.isin(top)].sort_values("trial")
        best = trials.iloc[0]
        fields.update(status=Status.FINISHED, best_run_id=best.run_id, best_setting_json=best.setting_json,
                      best_objective=float(ranked.val_mean[ranked.group_id.isin(top)].iloc[0]))
    T.update_tune(store, tune_id, **fields)


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def budget(req: TuneRequest) -> dict:
    """What each trial costs and how many there are: the same for every strategy of a fair comparison."""
    epochs = req.run.get("epochs", run_specs()["epochs"].default)
    searched_epochs = any(d.name == "epochs" for d in req.space)
    return {"trials": req.trials, "experiences_per_trial": req.trial_experiences,
            "epochs_per_experience": "searched" if searched_epochs else epochs,
            "algorithm": ALGORITHMS[req.algorithm], "scheduler": SCHEDULERS[req.scheduler],
            "asha_rungs": req.asha_rungs() if req.scheduler == "asha" else None,
            "concurrency": req.concurrency or "as the Ray resources allow"}


def summary(store: Store, tune_id: str) -> dict:
    """The result of one search: protocol, objective, budget, space, every trial, the chosen setting with its
    objective, and (when run) the whole-stream runs of the chosen setting with their test ACC, reported apart."""
    row = T.tune_row(store, tune_id)
    if row is None:
        raise KeyError(tune_id)
    req = TuneRequest.from_json(row["spec_json"])
    trials = T.trials(store, tune_id)
    out = {
        "tune_id": tune_id, "status": row["status"], "error": row["error"] if isinstance(row["error"], str) else None,
        "benchmark": req.benchmark, "scenario": req.scenario, "strategy": req.strategy, "protocol": req.protocol,
        "first_experiences": req.first or None, "n_experiences": req.n_experiences, "objective": req.objective,
        "budget": budget(req), "space": {d.name: d.describe() for d in req.space},
        "fixed": {**req.params, **{k: v for k, v in req.run.items()}}, "seed": req.seed,
        "wall_s": _num(row["wall_s"]),
        "trials": [{"trial": int(t.trial), "run_id": t.run_id if isinstance(t.run_id, str) else None,
                    "setting": json.loads(t.setting_json) if isinstance(t.setting_json, str) else {},
                    "objective": _num(t.objective), "experiences": None if t.experiences != t.experiences
                    else int(t.experiences), "outcome": t.outcome, "status": t.status if isinstance(t.status, str)
                    else None} for t in trials.itertuples()],
        "best": None, "final": None,
    }
    out["trial_run_ids"] = [t["run_id"] for t in out["trials"] if t["run_id"]]
    if isinstance(row["best_run_id"], str):
        best = {"setting": json.loads(row["best_setting_json"]), "run_id": row["best_run_id"],
                "objective": _num(row["best_objective"])}
        chosen = q.run_result(store, row["best_run_id"])
        best["group_id"] = q.runs(store, run_ids=[row["best_run_id"]]).group_id.iloc[0]
        best["at_edge"] = at_edge(req, best["setting"])
        vals = trials.val_acc[trials.outcome == "finished"].dropna()
        best["ties"] = int(np.isclose(vals, best["objective"], rtol=0, atol=1e-12).sum())  # the earliest was chosen
        if req.protocol == "validation":  # the chosen trial trained on the whole stream: its test ACC is a report
            best["test_acc"] = _num(chosen["metrics"].get("acc"))
        out["best"] = best
    if isinstance(row["final_run_ids"], str):
        out["final"] = _final(store, json.loads(row["final_run_ids"]), req)
    return out


def at_edge(req: TuneRequest, setting: dict, *, margin: float = 0.05) -> list[str]:
    """The searched ranges whose chosen value lies in the outer `margin` of the range (log space for log ranges):
    the best may lie beyond, so widen the range there before trusting the choice."""
    out = []
    for d in req.space:
        if d.kind == "choice" or d.name not in setting or d.low is None or d.high is None or d.high <= d.low:
            continue
        f = math.log if d.log else float
        where = (f(setting[d.name]) - f(d.low)) / (f(d.high) - f(d.low))
        if where <= margin or where >= 1 - margin:
            out.append(d.name)
    return out


def _final(store: Store, run_ids: list[str], req: TuneRequest) -> dict:
    results = q.run_results(store, run_ids)
    done = [r for r in results if r["status"] == Status.FINISHED]
    test, test_std = _mean_std([r["metrics"].get("acc") for r in done])
    val, _ = _mean_std([r["val_metrics"].get("acc") for r in done])
    groups = q.runs(store, run_ids=run_ids).group_id
    return {"run_ids": run_ids, "seeds": list(req.final_seeds), "n_finished": len(done),
            "experiences": req.n_experiences, "test_acc": test, "test_acc_std": test_std, "val_acc": val,
            "group_ids": sorted(set(groups))}


def compare_groups(summaries: list[dict]) -> list[str]:
    """The groups that show the chosen settings side by side on Compare: their whole-stream runs where there are,
    else the chosen trial's group (validation protocol)."""
    out: list[str] = []
    for s in summaries:
        if s.get("final") and s["final"]["group_ids"]:
            out += s["final"]["group_ids"]
        elif s.get("best") and s["protocol"] == "validation":
            out.append(s["best"]["group_id"])
    return list(dict.fromkeys(out))
