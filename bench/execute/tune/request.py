"""What one search is: the stream, the strategy, what is fixed and what is searched, the protocol and the budget;
checked in full before anything is stored (one BadInput line otherwise), and JSON-round-trippable (the app queues a
request in the store; `tunes.spec_json` keeps it so a search can be run again).

Protocols (test numbers are never the objective):

  * validation: every trial trains on the whole stream with a validation split held out of each experience's
    training data (bench/benchmarks/validation.py); the objective is the trial's validation ACC over the whole stream
    (the mean of the validation accuracy matrix's last row). The chosen trial's test ACC is reported beside it.
  * first-experiences: every trial trains on the first K experiences only (the run setting first_experiences),
    so the search sees only what a continual learner has seen by experience K; the objective is the validation ACC
    over those K experiences; the chosen setting is then run on the whole stream and its whole-stream test ACC is
    reported apart from the objective. This follows the realistic protocol argued for in FACIL (Masana et al.,
    "Class-incremental learning: survey and performance evaluation", code: --gridsearch-tasks, --validation 0.1),
    with one deviation: FACIL searches again at each of the first K tasks (the learning rate for plasticity on the
    new task, then the stability weight decayed until accuracy is within a threshold) and keeps the last values;
    here one search runs on the first K experiences as a whole and its setting is kept for the stream. A-GEM
    (Chaudhry et al. 2019) cross-validates on the first tasks in the same spirit but leaves them out of the
    evaluation stream; here they stay in it.

ASHA early stopping (scheduler asha) compares trials at experience boundaries on the validation ACC over the
experiences trained so far; the first rung comes after `asha_grace` experiences (default 2, the first point where
forgetting can show).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from bench.execute.tune.space import Domain, build_space, grid_size, run_specs
from bench.registry import get_strategy, validate
from bench.spec.config import RunConfig
from bench.spec.params import BadInput

PROTOCOLS = {
    "validation": "validation ACC over the whole stream ({n} experiences)",
    "first-experiences": "validation ACC over the first {k} of {n} experiences",
}
ALGORITHMS = {"random": "random search", "grid": "grid search", "tpe": "Optuna's TPE (through Ray Tune)"}
SCHEDULERS = {"none": "every trial runs to the end", "asha": "ASHA early stopping at experience boundaries"}
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_TRIALS = 8
MAX_TRIALS = 500
_OWN_RUN_SETTINGS = {"seed": "--seed", "first_experiences": "--protocol first-experiences --first K"}


@dataclass(frozen=True, kw_only=True)
class TuneRequest:
    benchmark: str
    scenario: str
    strategy: str
    benchmark_params: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # the strategy parameters the user fixed
    run: dict = field(default_factory=dict)  # the run settings the user fixed (val_fraction always there)
    data_dir: str | None = None
    space: tuple[Domain, ...] = ()
    protocol: str = "validation"
    first: int = 0  # K of first-experiences, 0 for validation
    n_experiences: int = 0  # the whole stream's
    algorithm: str = "random"
    scheduler: str = "none"
    trials: int = DEFAULT_TRIALS
    seed: int = 0  # every trial's seed: settings are compared on the same seed, data order and split
    search_seed: int = 0  # the search algorithm's own random numbers
    asha_grace: int = 2
    asha_reduction: int = 2
    concurrency: int = 0  # trials at once; 0: as many as the Ray resources allow
    final_seeds: tuple[int, ...] = ()  # whole-stream runs of the chosen setting

    @property
    def trial_experiences(self) -> int:
        return self.first or self.n_experiences

    @property
    def objective(self) -> str:
        return PROTOCOLS[self.protocol].format(n=self.n_experiences, k=self.first)

    def asha_rungs(self) -> list[int]:
        """The experience counts at which ASHA compares trials (none when the trials are too short)."""
        if self.scheduler != "asha":
            return []
        rungs, t = [], self.asha_grace
        while t < self.trial_experiences:
            rungs.append(t)
            t *= self.asha_reduction
        return rungs

    def _config(self, setting: dict, *, seed: int, first: int) -> RunConfig:
        where = {d.name: d.where for d in self.space}
        params = {**self.params, **{k: v for k, v in setting.items() if where.get(k) == "param"}}
        run = {**self.run, **{k: v for k, v in setting.items() if where.get(k) == "run"}}
        return RunConfig(benchmark=self.benchmark, scenario=self.scenario, strategy=self.strategy,
                         benchmark_params=dict(self.benchmark_params), params=params, data_dir=self.data_dir,
                         seed=seed, first_experiences=first, **run)

    def trial_config(self, setting: dict) -> RunConfig:
        """The run of one trial: the fixed settings, the trial's searched values, the trials' seed and stream."""
        return self._config(setting, seed=self.seed, first=self.first)

    def final_config(self, setting: dict, seed: int) -> RunConfig:
        """A whole-stream run of a setting (the chosen one, for the reported numbers)."""
        return self._config(setting, seed=seed, first=0)

    def typed_setting(self, raw: dict) -> dict:
        """A setting from the search (numpy scalars from Ray's samplers) as the registry's typed values."""
        specs = {p.name: p for p in get_strategy(self.strategy).params} | run_specs()
        out = {}
        for d in self.space:
            value = raw[d.name]
            value = value.item() if hasattr(value, "item") else value
            out[d.name] = specs[d.name].parse(value, where=f"{self.strategy}." if d.where == "param" else "run.")
        return out

    def to_json(self) -> str:
        d = asdict(self)
        d["space"] = [x.to_dict() for x in self.space]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TuneRequest":
        d = json.loads(text)
        d["space"] = tuple(Domain.from_dict(x) for x in d["space"])
        d["final_seeds"] = tuple(d.get("final_seeds") or ())
        return cls(**d)


def stream_length(cfg: RunConfig) -> int:
    """How many experiences the (validated) config's stream has: its n_experiences parameter, else counted by
    building it (own data with n_experiences = 0, the facts stream)."""
    n = cfg.benchmark_params.get("n_experiences")
    if isinstance(n, int) and n > 0:
        return n
    from bench.benchmarks import get_benchmark

    stream = get_benchmark(cfg.benchmark).build(cfg.benchmark_params, cfg.scenario, seed=cfg.seed,
                                                data_dir=cfg.data_dir)
    return len(stream.experiences)


def _choice(value: str, allowed: dict, flag: str) -> str:
    if value not in allowed:
        raise BadInput(f"{flag} {value!r} is unknown: expected one of {', '.join(allowed)}")
    return value


def make_request(*, benchmark: str, scenario: str, strategy: str, search: dict[str, str | None],
                 protocol: str = "validation", first: int | None = None, algorithm: str = "random",
                 scheduler: str = "none", trials: int | None = None, benchmark_params: dict | None = None,
                 params: dict | None = None, run: dict | None = None, data_dir: str | None = None, seed: int = 0,
                 search_seed: int = 0, asha_grace: int = 2, asha_reduction: int = 2, concurrency: int = 0,
                 final_seeds: tuple[int, ...] | None = None) -> TuneRequest:
    """A checked request, or BadInput naming the first problem (nothing is stored before this returns).
    `search` maps each setting to search to its sweep text (None: the registry's range; empty: the defaults)."""
    _choice(protocol, PROTOCOLS, "--protocol")
    _choice(algorithm, ALGORITHMS, "--algorithm")
    _choice(scheduler, SCHEDULERS, "--scheduler")
    run = dict(run or {})
    for name, flag in _OWN_RUN_SETTINGS.items():
        if name in run:
            raise BadInput(f"{name} is set by the search itself: use {flag}")
    if run.setdefault("val_fraction", DEFAULT_VAL_FRACTION) <= 0:
        raise BadInput(f"--val-fraction {run['val_fraction']!r} leaves no validation split: the objective is a "
                       "validation ACC, expected a fraction in (0, 0.5]")
    base = validate(RunConfig(benchmark=benchmark, scenario=scenario, strategy=strategy,
                              benchmark_params=dict(benchmark_params or {}), params=dict(params or {}),
                              data_dir=data_dir, seed=seed, **run))
    n = stream_length(base)
    first = _first(protocol, first, n)
    fixed = set(params or {}) | set(run) - {"val_fraction"}
    space = build_space(get_strategy(strategy), search, fixed=fixed, grid=algorithm == "grid")
    trials = _budget(algorithm, trials, space)
    for flag, value, lo in (("--asha-grace", asha_grace, 1), ("--asha-reduction", asha_reduction, 2),
                            ("--concurrency", concurrency, 0)):
        if not isinstance(value, int) or value < lo:
            raise BadInput(f"{flag} {value!r} is out of range: expected an integer >= {lo}")
    if final_seeds is None:
        final_seeds = (seed,) if protocol == "first-experiences" else ()
    req = TuneRequest(benchmark=benchmark, scenario=scenario, strategy=strategy,
                      benchmark_params=dict(base.benchmark_params), params=dict(params or {}), run=run,
                      data_dir=data_dir, space=space, protocol=protocol, first=first, n_experiences=n,
                      algorithm=algorithm, scheduler=scheduler, trials=trials, seed=seed, search_seed=search_seed,
                      asha_grace=asha_grace, asha_reduction=asha_reduction, concurrency=concurrency,
                      final_seeds=tuple(final_seeds))
    _check_corners(req)
    return req


def _first(protocol: str, first: int | None, n: int) -> int:
    if protocol == "validation":
        if first:
            raise BadInput(f"--first {first} applies to --protocol first-experiences only (validation tunes on the "
                           "whole stream)")
        return 0
    if first is None:
        raise BadInput(f"--protocol first-experiences needs --first K: the number of experiences to tune on, "
                       f"expected 1..{n - 1}")
    if not isinstance(first, int) or not 1 <= first <= n - 1:
        raise BadInput(f"--first {first!r} is out of range: the stream has {n} experiences, expected 1..{n - 1} "
                       "(tuning on all of them is --protocol validation)")
    return first


def _budget(algorithm: str, trials: int | None, space: tuple[Domain, ...]) -> int:
    if trials is not None and (not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS):
        raise BadInput(f"--trials {trials!r} is out of range: expected 1..{MAX_TRIALS}")
    if algorithm != "grid":
        return trials or DEFAULT_TRIALS
    size = grid_size(space)
    if size > MAX_TRIALS:
        raise BadInput(f"the grid has {size} points, more than {MAX_TRIALS}: narrow the searched values")
    if trials is not None and size > trials:
        raise BadInput(f"the grid has {size} points, more than --trials {trials}: narrow it or raise --trials")
    return size


def _check_corners(req: TuneRequest) -> None:
    """Every searched setting at its lowest and highest value (the others at their defaults) must make a valid run,
    so that a strategy's own checks refuse a bad space before any trial starts."""
    for d in req.space:
        ends = (d.values[0], d.values[-1]) if d.kind == "choice" else (d.low, d.high)
        for v in ends:
            validate(replace(req.trial_config({d.name: v}), seed=req.seed))
