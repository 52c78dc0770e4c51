"""A search seeded into a store without Ray (for the view tests): the engine's request, the runner's real trial runs
in the search's sweep, the trial rows the Ray driver would write, and the engine's own choice (outcome.choose). The
Ray side itself is tested in tests/test_tune_engine.py."""
from __future__ import annotations

import json
import uuid

from bench.execute.tune import outcome
from bench.execute.tune.request import make_request
from bench.execute.tune.trial import stop_reason
from bench.results import tunes as T
from bench.results.store import Store
from bench.spec.status import Status
from bench.train.recorder import RunCancelled
from bench.train.runner import run

LRS = (0.005, 0.03, 0.001)  # finished trials (momentum 0.9, the default: 0.1 and above can diverge)
STOPPED_LR = 0.0002  # a trial stopped after its first experience, as ASHA stops one


def seed_search(store: Store, *, strategy: str = "ewc", lrs: tuple = LRS, stopped: float | None = STOPPED_LR) -> str:
    req = make_request(benchmark="split-digits", scenario="class", strategy=strategy, trials=len(lrs) + 1,
                       search={"lr": "log 0.0001 0.1 4", "ewc_lambda": "log 10 10000 4"}, scheduler="asha",
                       run={"epochs": 1})
    tune_id = uuid.uuid4().hex[:12]
    T.insert_tune(store, outcome.new_row(tune_id, req, status=Status.RUNNING))
    finished = []
    for i, lr in enumerate(lrs, 1):
        setting = {"lr": lr, "ewc_lambda": 100.0 * i}
        result = run(req.trial_config(setting), store=store, sweep_id=tune_id)
        assert result["status"] == Status.FINISHED, result["error"]
        T.record_trial(store, tune_id, i, run_id=result["run_id"], setting_json=json.dumps(setting, sort_keys=True),
                       objective=result["val_metrics"]["acc"], experiences=req.trial_experiences, outcome="finished")
        finished.append(result["run_id"])
    if stopped is not None:
        setting = {"lr": stopped, "ewc_lambda": 1000.0}
        seen: dict = {}

        def stop_after_first(exp: int, accuracies: dict) -> None:
            seen["objective"] = sum(accuracies["val"][: exp + 1]) / (exp + 1)
            raise RunCancelled("stopped")

        result = run(req.trial_config(setting), store=store, sweep_id=tune_id, on_experience=stop_after_first)
        store.update_run(result["run_id"], error=stop_reason(cancelled=False, after=1, of=req.trial_experiences,
                                                             objective=seen["objective"]))
        T.record_trial(store, tune_id, len(lrs) + 1, run_id=result["run_id"], outcome="stopped_early",
                       setting_json=json.dumps(setting, sort_keys=True), objective=seen["objective"], experiences=1)
    outcome.choose(store, tune_id, finished=finished, wall_s=1.0)
    return tune_id
