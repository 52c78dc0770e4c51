"""What a launch is: the product of strategies x parameter settings x seeds over one stream and scenario, checked
against the registries, with duplicates merged and the runs already in the store counted. The Launch page and
`python -m bench sweep` both build their runs here."""
from __future__ import annotations

from dataclasses import dataclass

from bench.registry import validate
from bench.spec.config import RunConfig
from bench.spec.params import BadInput

MAX_RUNS = 500  # one click or one command should not queue more than this (a sweep grid grows fast)


@dataclass(frozen=True)
class LaunchPlan:
    configs: list[RunConfig]  # validated and normalised, one per distinct run, in product order
    errors: list[str]  # distinct one-line reasons nothing can start; empty when the launch can go
    existing: int  # how many of the runs the store already has (finished, running or queued)

    @property
    def ok(self) -> bool:
        return bool(self.configs) and not self.errors


def product(*, benchmark: str, scenario: str, grids: dict[str, list[dict]], seeds: list[int],
            benchmark_params: dict | None = None, run: dict | None = None, data_dir: str | None = None
            ) -> list[RunConfig]:
    """Every (strategy, parameter setting, seed) as a config, unchecked; `grids` maps each strategy to its list of
    parameter dicts ([{}] for its defaults), in the order given."""
    bench_params = dict(benchmark_params or {})
    return [RunConfig(benchmark=benchmark, scenario=scenario, strategy=name, benchmark_params=bench_params,
                      params=dict(params), seed=seed, data_dir=data_dir, **(run or {}))
            for name, settings in grids.items() for params in settings for seed in seeds]


def plan(configs: list[RunConfig], *, store=None, max_runs: int = MAX_RUNS) -> LaunchPlan:
    """Check every config (collecting each distinct BadInput once), merge configs that normalise to the same run
    (the same config_key), and count those the store already has."""
    errors: list[str] = []
    if len(configs) > max_runs:
        errors.append(f"{len(configs)} runs is too many for one start: expected at most {max_runs}")
        return LaunchPlan(configs=[], errors=errors, existing=0)
    unique: dict[str, RunConfig] = {}
    for cfg in configs:
        try:
            valid = validate(cfg)
        except BadInput as exc:
            if str(exc) not in errors:
                errors.append(str(exc))
            continue
        unique.setdefault(valid.config_key(), valid)
    existing = 0
    if store is not None and unique and not errors:
        from bench.lessons import match

        existing = len(match(list(unique.values()), store).found)
    return LaunchPlan(configs=list(unique.values()), errors=errors, existing=existing)
