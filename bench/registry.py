"""The registries in one place (task streams, strategies, backbones) and the check of a run config against them.

Importing this is cheap: the registries declare their specs without importing torch or Avalanche, which are
imported when a run builds its stream, model and strategy."""
from __future__ import annotations

from dataclasses import replace

from bench.benchmarks import BenchmarkSpec, benchmarks, get_benchmark
from bench.spec.config import RUN_PARAMS, SCENARIOS, RunConfig, check_recipe
from bench.spec.params import BadInput, validate_params
from bench.strategies import StrategySpec, get_strategy, strategies

__all__ = ["BenchmarkSpec", "StrategySpec", "benchmarks", "get_benchmark", "get_strategy", "strategies", "validate"]


def validate(cfg: RunConfig) -> RunConfig:
    """Check every field against the registries; return a normalised config (defaults filled, types
    coerced) or raise BadInput naming the bad value and what is allowed."""
    if not isinstance(cfg.benchmark, str) or not isinstance(cfg.strategy, str):
        raise BadInput(f"benchmark and strategy must be names, got {cfg.benchmark!r} and {cfg.strategy!r}")
    bench = get_benchmark(cfg.benchmark)
    strat = get_strategy(cfg.strategy)
    if cfg.scenario not in SCENARIOS:
        raise BadInput(f"scenario {cfg.scenario!r} is unknown: expected one of {', '.join(SCENARIOS)}")
    if cfg.scenario not in bench.scenarios:
        raise BadInput(
            f"benchmark {bench.name!r} does not support the {cfg.scenario}-incremental scenario: "
            f"it supports {', '.join(bench.scenarios)}"
        )
    if cfg.scenario not in strat.scenarios:
        raise BadInput(
            f"strategy {strat.name!r} does not support the {cfg.scenario}-incremental scenario: "
            f"it supports {', '.join(strat.scenarios)}"
        )
    if not isinstance(cfg.benchmark_params, dict) or not isinstance(cfg.params, dict):
        raise BadInput("benchmark_params and params must be JSON objects")
    bparams = validate_params(bench.params, cfg.benchmark_params, owner=bench.name)
    bench.check(bparams)
    bench.check_scenario(bparams, cfg.scenario)
    sparams = validate_params(strat.params, cfg.params, owner=strat.name)
    run = validate_params(RUN_PARAMS, {k: getattr(cfg, k) for k in (p.name for p in RUN_PARAMS)}, owner="run")
    check_recipe(run)
    if run["reset_optimizer"] == "auto":  # the stored config says what the run did
        run["reset_optimizer"] = "true" if strat.reset_optimizer else "false"
    strat.check(sparams, bparams, bench)
    if cfg.data_dir is not None and not isinstance(cfg.data_dir, str):
        raise BadInput(f"data_dir={cfg.data_dir!r} is not valid: expected a directory path")
    if bench.check_data is not None:
        bench.check_data(cfg.data_dir)
    return replace(cfg, benchmark_params=bparams, params=sparams, **run)
