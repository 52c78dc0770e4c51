"""The search space and the request of `python -m bench tune`, without Ray: how the registry and the sweep grammar
become domains, what is searched by default, and every bad input refused in one line with nothing stored."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bench.cli import main
from bench.execute.tune import space as sp
from bench.execute.tune.request import TuneRequest, make_request
from bench.registry import get_strategy, validate
from bench.spec.config import RUN_PARAMS, RunConfig
from bench.spec.params import BadInput, ParamSpec

EWC, REPLAY, NAIVE = (get_strategy(n) for n in ("ewc", "replay", "naive"))
DIGITS = dict(benchmark="split-digits", scenario="class")


@pytest.mark.parametrize("text, kind, low, high, values", [
    ("log 10 10000 4", "loguniform", 10, 10000, (10.0, 100.0, 1000.0, 10000.0)),
    ("100:1000", "uniform", 100, 1000, (100.0, 1000.0)),
    ("1,10,100", "choice", None, None, (1.0, 10.0, 100.0)),
    ("1:10:3", "choice", None, None, (1.0, 4.0, 7.0, 10.0)),  # a step: the values it stands for
    ("0, log 1 1000 4", "choice", None, None, (0.0, 1.0, 10.0, 100.0, 1000.0)),  # several parts: a choice
])
def test_the_sweep_grammar_maps_to_a_domain(text, kind, low, high, values):
    d = sp.domain_for(EWC, "ewc_lambda", text)
    assert (d.kind, d.low, d.high, d.values, d.where) == (kind, low, high, values, "param")


def test_the_grid_takes_the_values_of_every_text_and_three_points_of_a_registry_range():
    assert sp.domain_for(EWC, "ewc_lambda", "log 10 10000 4", grid=True).values == (10.0, 100.0, 1000.0, 10000.0)
    assert sp.domain_for(EWC, "lr", None, grid=True).values == (0.001, 0.01, 0.1)  # default 0.01, a decade each side
    assert sp.domain_for(EWC, "mode", None, grid=True).values == ("separate", "online")
    with pytest.raises(BadInput, match="gives 1000 values, more than 100"):  # a:b on the grid steps by 1, as sweeps
        sp.domain_for(EWC, "ewc_lambda", "1:1000", grid=True)


def test_registry_ranges_come_from_the_param_specs():
    lr = sp.domain_for(EWC, "lr", None)
    spec = {p.name: p for p in RUN_PARAMS}["lr"]
    assert (lr.kind, lr.low, lr.high, lr.where) == ("loguniform", spec.default / 10, spec.default * 10, "run")
    lam = sp.domain_for(EWC, "ewc_lambda", None)
    assert (lam.kind, lam.low, lam.high) == ("loguniform", 10.0, 1000.0)  # default 100
    assert sp.domain_for(EWC, "decay_factor", None).describe() == "uniform in [0, 1]"  # a fraction: all of it
    assert sp.domain_for(EWC, "optimizer", None).values == ("sgd", "adam")
    assert sp.domain_for(EWC, "bf16", None).values == (False, True)
    assert sp.domain_for(EWC, "epochs", "1:5").describe() == "uniform integers in [1, 5]"
    with pytest.raises(BadInput, match="run.epochs has no search range in the registry"):  # 1..1000 is validity
        sp.domain_for(EWC, "epochs", None)


def test_defaults_search_lr_and_log_params_but_never_a_memory_budget():
    assert sp.is_budget(REPLAY, REPLAY.params[0]) and REPLAY.params[0].name == "mem_size"
    assert not any(sp.is_budget(EWC, p) for p in EWC.params)
    assert sp.default_names(EWC, set()) == ["lr", "ewc_lambda"]
    assert sp.default_names(REPLAY, set()) == ["lr"]  # mem_size is log-scaled but a budget
    assert sp.default_names(NAIVE, set()) == ["lr"]
    assert sp.default_names(EWC, {"lr"}) == ["ewc_lambda"]  # what the user fixed is not searched


def test_a_run_setting_added_later_is_searchable_without_a_change_here(monkeypatch):
    """Run settings come from RUN_PARAMS when asked, so a new optimizer setting (momentum, ...) is searchable."""
    momentum = ParamSpec(name="momentum", type="float", default=0.9, min=0.0, max=1.0, help="SGD momentum.")
    monkeypatch.setattr(sp, "RUN_PARAMS", (*RUN_PARAMS, momentum))
    assert sp.lookup(EWC, "momentum") == ("run", momentum)
    assert sp.domain_for(EWC, "momentum", None).describe() == "uniform in [0, 1]"


def test_settings_that_are_not_searchable_are_refused_with_the_reason():
    for name in sp.NOT_SEARCHABLE:
        with pytest.raises(BadInput, match=f"^{name} is not searchable: "):
            sp.domain_for(EWC, name, "1")
    with pytest.raises(BadInput, match="'mem_size' is not a setting of ewc: searchable are .*ewc_lambda"):
        sp.domain_for(EWC, "mem_size", None)
    with pytest.raises(BadInput, match="is both fixed and searched"):
        sp.build_space(EWC, {"lr": None}, fixed={"lr"}, grid=False)
    with pytest.raises(BadInput, match="nothing to search for naive"):
        sp.build_space(NAIVE, {}, fixed={"lr"}, grid=False)


def test_a_request_round_trips_and_makes_trial_and_whole_stream_configs():
    req = make_request(**DIGITS, strategy="ewc", search={"lr": "log 0.01 1 3", "mode": None},
                       protocol="first-experiences", first=2, run={"epochs": 1}, params={"decay_factor": 0.5},
                       trials=4, final_seeds=(1, 2))
    assert TuneRequest.from_json(req.to_json()) == req
    assert (req.n_experiences, req.trial_experiences, req.final_seeds) == (5, 2, (1, 2))
    assert req.objective == "validation ACC over the first 2 of 5 experiences"
    setting = req.typed_setting({"lr": np.float64(0.05), "mode": np.str_("online")})  # what Ray's samplers give
    assert setting == {"lr": 0.05, "mode": "online"} and type(setting["lr"]) is float
    trial = validate(req.trial_config(setting))
    assert (trial.first_experiences, trial.val_fraction, trial.seed, trial.epochs) == (2, 0.1, 0, 1)
    assert trial.params == {**EWC_DEFAULTS, "mode": "online", "decay_factor": 0.5} and trial.lr == 0.05
    whole = validate(req.final_config(setting, 3))
    assert (whole.first_experiences, whole.seed) == (0, 3)
    assert dataclasses.replace(whole, first_experiences=2, seed=0) == trial


EWC_DEFAULTS = {p.name: p.default for p in EWC.params}


def test_the_grid_budget_is_the_grid_and_asha_rungs_follow_the_grace_period():
    req = make_request(**DIGITS, strategy="ewc", search={"lr": "0.01,0.1", "mode": None}, algorithm="grid")
    assert req.trials == 4
    with pytest.raises(BadInput, match="the grid has 4 points, more than --trials 3"):
        make_request(**DIGITS, strategy="ewc", search={"lr": "0.01,0.1", "mode": None}, algorithm="grid", trials=3)
    asha = make_request(**DIGITS, strategy="ewc", search={}, scheduler="asha")
    assert asha.asha_rungs() == [2, 4]  # 5 experiences, grace 2, reduction 2
    assert make_request(**DIGITS, strategy="ewc", search={}, scheduler="asha", protocol="first-experiences",
                        first=2).asha_rungs() == []  # too short to stop anything


def test_first_experiences_is_a_run_setting_that_validates_and_keeps_old_groups():
    cfg = RunConfig(**DIGITS, strategy="naive", first_experiences=2)
    assert validate(cfg).first_experiences == 2
    d = RunConfig(**DIGITS, strategy="naive").to_dict()
    d.pop("first_experiences")
    assert RunConfig.from_dict(d).group_key() == RunConfig(**DIGITS, strategy="naive").group_key() != cfg.group_key()
    with pytest.raises(BadInput, match="first_experiences=6 is out of range: split-digits has 5 experiences"):
        validate(RunConfig(**DIGITS, strategy="naive", first_experiences=6))


BASE = ["tune", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "ewc"]


@pytest.mark.parametrize("extra, message", [
    (["--protocol", "future"], "--protocol 'future' is unknown: expected one of validation, first-experiences"),
    (["--protocol", "first-experiences", "--first", "5"], "--first 5 is out of range: the stream has 5 experiences"),
    (["--protocol", "first-experiences", "--first", "0"], "--first 0 is out of range"),
    (["--protocol", "first-experiences"], "--protocol first-experiences needs --first K"),
    (["--first", "2"], "--first 2 applies to --protocol first-experiences only"),
    (["--search", "seed=0:3"], "seed is not searchable: the seed is the noise"),
    (["--search", "device"], "device is not searchable"),
    (["--search", "mem_size=10:100"], "'mem_size' is not a setting of ewc"),
    (["--lr", "0.05", "--param", "ewc_lambda=10"], "nothing to search for ewc"),
    (["--search", "lr=0.1:0.01"], "is not a range"),
    (["--val-fraction", "0"], "leaves no validation split"),
    (["--algorithm", "bayes"], "--algorithm 'bayes' is unknown: expected one of random, grid, tpe"),
    (["--scheduler", "hyperband"], "--scheduler 'hyperband' is unknown"),
    (["--trials", "0"], "--trials '0' is out of range"),
    (["--executor", "local"], "tuning runs its trials on Ray"),
    (["--first-experiences", "2"], "first_experiences is set by the search itself"),
])
def test_bad_input_is_one_line_and_nothing_is_stored(tmp_path, capsys, extra, message):
    store = tmp_path / "s.duckdb"
    assert main([*BASE, *extra, "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert not store.exists()


def test_with_several_strategies_every_searched_setting_must_exist_in_each(tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    args = ["tune", "--benchmark", "split-digits", "--scenario", "class", "--strategies", "naive,ewc",
            "--search", "ewc_lambda", "--store", str(store)]
    assert main(args) == 2
    assert "--search ewc_lambda is not a setting of naive" in capsys.readouterr().err
    assert not store.exists()


def test_the_request_records_what_the_cli_was_given():
    req = make_request(**DIGITS, strategy="replay", search={}, run={"epochs": 2, "batch_size": 16},
                       params={"mem_size": 100})
    d = json.loads(req.to_json())
    assert d["run"] == {"epochs": 2, "batch_size": 16, "val_fraction": 0.1} and d["params"] == {"mem_size": 100}
    assert [x["name"] for x in d["space"]] == ["lr"]
