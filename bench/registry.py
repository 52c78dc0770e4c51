"""The registries in one place (task streams, strategies, backbones, with what plugins add: bench/plugins.py) and the
check of a run config against them.

Importing this is cheap: the registries declare their specs without importing torch or Avalanche, which are
imported when a run builds its stream, model and strategy."""
from __future__ import annotations

from dataclasses import replace

from bench.benchmarks import BenchmarkSpec, benchmarks, get_benchmark, validation
from bench.models.run_settings import check_run_settings
from bench.plugins import (  # noqa: F401  (the registry's public face: plugins are part of it)
    ENTRY_POINT_GROUP,
    KINDS,
    PLUGINS_ENV,
    Plugin,
    check_benchmark_spec,
    check_strategy_spec,
    plugin_note,
    plugin_of,
    plugin_specs,
    plugins,
    reset_plugins,
)
from bench.spec.config import RUN_PARAMS, SCENARIOS, RunConfig, check_recipe
from bench.spec.params import BadInput, validate_params
from bench.strategies import StrategySpec, get_strategy, strategies

__all__ = ["ENTRY_POINT_GROUP", "KINDS", "PLUGINS_ENV", "BenchmarkSpec", "Plugin", "StrategySpec", "benchmarks",
           "get_benchmark", "get_strategy", "plugin_of", "plugin_specs", "plugins", "strategies", "validate"]

def _hook(fn, *args, kind: str, name: str) -> None:
    """Call a spec's check hook. A plugin's hook that raises anything but BadInput is reported in one line, so that
    a buggy plugin cannot crash the form or the CLI."""
    origin = plugin_of(kind, name)
    if origin is None:
        fn(*args)
        return
    try:
        fn(*args)
    except BadInput:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise BadInput(f"{name} (plugin {origin}): its check raised {type(exc).__name__}: {detail}") from None


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
    _hook(bench.check, bparams, kind="benchmarks", name=bench.name)
    bench.check_split(bparams, cfg.scenario)  # no empty or one-class experiences
    if bench.check_scenario is not None:
        _hook(bench.check_scenario, bparams, cfg.scenario, kind="benchmarks", name=bench.name)
    sparams = validate_params(strat.params, cfg.params, owner=strat.name)
    run = validate_params(RUN_PARAMS, {k: getattr(cfg, k) for k in (p.name for p in RUN_PARAMS)}, owner="run")
    check_recipe(run)
    if run["reset_optimizer"] == "auto":  # the stored config says what the run did
        run["reset_optimizer"] = "true" if strat.reset_optimizer else "false"
    validation.check(bench, run["val_fraction"])
    n_exp = bparams.get("n_experiences")
    if isinstance(n_exp, int) and 0 < n_exp < run["first_experiences"]:  # streams that count their experiences
        raise BadInput(f"first_experiences={run['first_experiences']} is out of range: {bench.name} has {n_exp} "
                       f"experiences (n_experiences), expected 0..{n_exp}")
    _hook(strat.check, sparams, bparams, bench, kind="strategies", name=strat.name)
    run = check_run_settings(run, bench=bench, strategy=strat, params=sparams)  # model, normalize, augment, bf16
    if cfg.data_dir is not None and not isinstance(cfg.data_dir, str):
        raise BadInput(f"data_dir={cfg.data_dir!r} is not valid: expected a directory path")
    if bench.check_data is not None:
        _hook(bench.check_data, cfg.data_dir, kind="benchmarks", name=bench.name)
    return replace(cfg, benchmark_params=bparams, params=sparams, **run)
