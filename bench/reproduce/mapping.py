"""A preset -> a bench RunConfig, and what the bench lacks to run it, computed from the registries at call time.

Nothing here names a missing feature: a preset asks for a strategy, a stream, parameters and run settings, and each is
looked up in the registries as they are now (bench.strategies, bench.benchmarks, RUN_PARAMS). When another part of
the bench adds a strategy or a run setting (a backbone choice, momentum, a schedule), the presets that asked for it
become runnable by themselves."""
from __future__ import annotations

from dataclasses import dataclass, fields

from bench.reproduce.presets import Preset
from bench.spec.config import RUN_PARAMS, RunConfig
from bench.spec.params import BadInput, ParamSpec

QUICK_EPOCHS = 1  # --quick keeps the recipe and the architecture, and trains one epoch per experience
# --quick also evaluates every few iterations: its runs read a small copy of the data, and a run's identity (its
# group) leaves the data folder out, so a changed setting keeps them from joining the full runs' group.
QUICK_EVAL_EVERY = 5
# Sweep ids of the runs `python -m bench reproduce` and the Reproduce page queue: '<prefix><preset id>:<random>'.
SWEEP_PREFIX = "reproduce:"
QUICK_PREFIX = "reproduce-quick:"


@dataclass(frozen=True)
class Readiness:
    """Whether a preset runs on this bench: `missing` lists what the bench lacks (empty when it has everything);
    `data` is the one-line reason the dataset files cannot be read, when only they are missing."""

    missing: tuple[str, ...]
    data: str | None = None

    @property
    def runnable(self) -> bool:
        return not self.missing


def _why(preset: Preset, key: str) -> str:
    text = preset.bench.get("why", {}).get(key)
    return f" ({text})" if text else ""


def _check_params(specs: tuple[ParamSpec, ...], given: dict, *, owner: str, label: str, preset: Preset) -> list[str]:
    by_name = {s.name: s for s in specs}
    out = []
    for name, value in given.items():
        spec = by_name.get(name)
        if spec is None:
            out.append(f"{label} {owner}.{name} does not exist{_why(preset, name)}")
            continue
        try:
            spec.parse(value, where=f"{owner}.")
        except BadInput as exc:
            out.append(f"{label} {exc}{_why(preset, name)}")
    return out


def _run_settings() -> dict[str, ParamSpec]:
    """Run settings a config can carry: declared in RUN_PARAMS and a field of RunConfig."""
    names = {f.name for f in fields(RunConfig)}
    return {p.name: p for p in RUN_PARAMS if p.name in names}


def missing(preset: Preset) -> list[str]:
    """What the bench lacks to run this preset, one line each (empty list: it can)."""
    from bench.benchmarks import get_benchmark
    from bench.strategies import get_strategy

    b = preset.bench
    out: list[str] = []
    try:
        strat = get_strategy(b["strategy"])
    except BadInput:
        strat = None
        out.append(f"strategy {b['strategy']!r} is not in the bench{_why(preset, 'strategy')}")
    try:
        bench = get_benchmark(b["benchmark"])
    except BadInput:
        bench = None
        out.append(f"stream {b['benchmark']!r} is not in the bench{_why(preset, 'benchmark')}")
    if bench is not None:
        if preset.scenario not in bench.scenarios:
            out.append(f"stream {bench.name!r} has no {preset.scenario}-incremental scenario")
        out += _check_params(bench.params, b["benchmark_params"], owner=bench.name, label="stream parameter",
                             preset=preset)
    if strat is not None:
        if preset.scenario not in strat.scenarios:
            out.append(f"strategy {strat.name!r} has no {preset.scenario}-incremental scenario")
        out += _check_params(strat.params, b["params"], owner=strat.name, label="strategy parameter", preset=preset)
    settings = _run_settings()
    for name, value in b["run"].items():
        if name not in settings:
            out.append(f"run setting {name!r} does not exist{_why(preset, name)}")
        else:
            out += _check_params((settings[name],), {name: value}, owner="run", label="run setting", preset=preset)
    return out


def run_settings(preset: Preset, *, quick: bool = False) -> dict:
    """The run settings of the preset's config: every required one, and those of `run_if_present` that this bench
    declares (where it does not, its behaviour already is that value)."""
    settings = _run_settings()
    run = dict(preset.bench["run"])
    run.update({k: v for k, v in preset.bench.get("run_if_present", {}).items() if k in settings})
    if quick:
        run.update(epochs=QUICK_EPOCHS, eval_every=QUICK_EVAL_EVERY)
    return run


def to_config(preset: Preset, *, seed: int = 0, data_dir: str | None = None, quick: bool = False) -> RunConfig:
    """The bench run that reproduces `preset` with one seed (unvalidated; bench.registry.validate checks it).
    BadInput, naming what is missing, when the bench cannot run it."""
    lacking = missing(preset)
    if lacking:
        raise BadInput(f"preset {preset.id!r} cannot run on this bench: {'; '.join(lacking)}")
    b = preset.bench
    return RunConfig(benchmark=b["benchmark"], scenario=preset.scenario, strategy=b["strategy"],
                     benchmark_params=dict(b["benchmark_params"]), params=dict(b["params"]), seed=seed,
                     data_dir=data_dir, **run_settings(preset, quick=quick))


def readiness(preset: Preset, *, data_dir: str | None = None) -> Readiness:
    """`missing` as a Readiness, with the full registry check (bench.registry.validate) on top: a config that the
    bench refuses for a reason of its own (e.g. a strategy's check) is missing something too. Dataset files that
    are not there are reported apart (`data`), since they are the user's to provide."""
    from bench.benchmarks import get_benchmark
    from bench.registry import validate

    lacking = missing(preset)
    if lacking:
        return Readiness(tuple(lacking))
    cfg = to_config(preset, data_dir=data_dir)
    try:
        validate(cfg)
    except BadInput as exc:
        data_error = _data_error(get_benchmark(cfg.benchmark), data_dir)
        if data_error == str(exc):  # validate checks the files last: everything else passed
            return Readiness((), data=data_error)
        return Readiness((f"the bench refuses the config: {exc}",))
    return Readiness(())


def _data_error(bench, data_dir: str | None) -> str | None:
    if bench.check_data is None:
        return None
    try:
        bench.check_data(data_dir)
    except BadInput as exc:
        return str(exc)
    return None


# -- which stored runs stand for a preset ------------------------------------------------------------------------
PROTOCOL_RUN_KEYS = ("model", "epochs", "batch_size")  # with the strategy, stream and memory: "the same protocol"
MEMORY_PARAMS = ("mem_size", "patterns_per_exp", "backbone")


def recipe(preset: Preset) -> dict:
    """The config fields a run must have to count as this preset's run: strategy, stream, scenario, and every
    parameter and run setting the preset sets ((section, name) -> value; run_if_present ones only where they exist)."""
    b = preset.bench
    out: dict = {("", "strategy"): b["strategy"], ("", "benchmark"): b["benchmark"], ("", "scenario"): preset.scenario}
    out.update({("benchmark_params", k): v for k, v in b["benchmark_params"].items()})
    out.update({("params", k): v for k, v in b["params"].items()})
    out.update({("", k): v for k, v in b["run"].items()})
    out.update({("?", k): v for k, v in b.get("run_if_present", {}).items()})
    return out


def _get(cfg: dict, section: str, name: str):
    if section in ("", "?"):
        return cfg.get(name, _ABSENT)
    return (cfg.get(section) or {}).get(name, _ABSENT)


_ABSENT = object()


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
    return a == b


def differences(preset: Preset, cfg: dict) -> list[str]:
    """The preset's fields that a stored run config (a dict) does not share, as 'name: bench value vs preset value'."""
    out = []
    for (section, name), want in recipe(preset).items():
        have = _get(cfg, section, name)
        if have is _ABSENT and section == "?":
            continue  # a setting this run's bench did not have: its behaviour was the preset's value
        if have is _ABSENT or not _same(have, want):
            shown = "absent" if have is _ABSENT else repr(have)
            out.append(f"{name}: {shown} vs {want!r}")
    return out


def same_protocol(preset: Preset, cfg: dict) -> bool:
    """Same strategy, stream, scenario, number of experiences, memory and backbone, epochs and batch size: the
    comparison is fair enough to set the published value beside the run, if not the exact recipe."""
    b = preset.bench
    keys = [("", "strategy"), ("", "benchmark"), ("", "scenario"), ("benchmark_params", "n_experiences")]
    keys += [("params", k) for k in MEMORY_PARAMS if k in b["params"]]
    keys += [("", k) for k in PROTOCOL_RUN_KEYS if k in b["run"]]
    rec = recipe(preset)
    for key in keys:
        want = rec.get(key, _ABSENT)
        if want is _ABSENT:
            continue
        have = _get(cfg, *key)
        if have is _ABSENT or not _same(have, want):
            return False
    return True
