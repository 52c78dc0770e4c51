"""The search space: which settings a search may vary and over what, derived from the registries' ParamSpecs and
narrowed with the sweep grammar (bench/spec/sweeps.py). Pure: Ray's domain objects are made in bench/execute/tune/
driver.py from these.

How a setting's text becomes a domain (`domain_for`):

  * no text (`--search ewc_lambda`): the registry's range. A log-scaled number (ParamSpec.log) is searched
    log-uniformly over one decade either side of its default, within its allowed range (lr 0.1 -> [0.01, 1]); a
    fraction (a linear number allowed in [0, 1]: EWC's decay_factor) uniformly over its allowed range; choices and
    flags over all their values. Other numbers need a text: their registry bounds say what is valid, not what is
    worth searching (epochs may be 1..1000). For the grid the same ranges give three points (log: default / 10,
    default, default x 10; a fraction: min, middle, max).
  * one range `start:stop`: uniform over [start, stop] (integers: every integer in it equally likely).
  * one log range `log start stop count`: log-uniform over [start, stop]; the count is the grid's resolution.
  * anything else (a list `50,100,200`, a stepped range `1:10:3`, several parts): a choice among the values the
    sweep grammar gives for it, which is also what the grid takes from every text.

Every value is checked with the setting's ParamSpec (range, type) when the text is read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from bench.spec import sweeps
from bench.spec.config import RUN_PARAMS
from bench.spec.params import BadInput, ParamSpec

KINDS = ("choice", "uniform", "loguniform")
# Run settings a search never varies, and why (every other run setting in RUN_PARAMS can be searched).
NOT_SEARCHABLE = {
    "seed": "the seed is the noise a setting's result is averaged over, not a setting to choose",
    "device": "where a run trains does not change what it learns",
    "fast": "the fast path gives identical results",
    "eval_every": "it sets how densely a run is measured, not what it learns",
    "val_fraction": "it is the protocol's own validation split (--val-fraction)",
    "first_experiences": "it is the protocol's own truncation (--protocol first-experiences --first K)",
}
DEFAULT_RUN_SETTINGS = ("lr",)  # searched when no --search names what to search (with the strategy's log params)
GRID_POINTS = 3


@dataclass(frozen=True)
class Domain:
    """One searched setting: `where` is "param" (a strategy parameter) or "run" (a run setting); kind "choice" holds
    `values`, "uniform" and "loguniform" the bounds [low, high] (integer settings draw integers); `values` is also the
    grid's list for every kind; `text` says where the domain came from (the user's text, or the registry)."""

    name: str
    where: str
    kind: str
    type: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    text: str = ""

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(_fmt(v) for v in self.values)
        scale = "log-uniform" if self.kind == "loguniform" else "uniform"
        ints = " integers" if self.type == "int" else ""
        return f"{scale}{ints} in [{_fmt(self.low)}, {_fmt(self.high)}]"

    def to_dict(self) -> dict:
        return {"name": self.name, "where": self.where, "kind": self.kind, "type": self.type,
                "values": list(self.values), "low": self.low, "high": self.high, "text": self.text}

    @classmethod
    def from_dict(cls, d: dict) -> "Domain":
        return cls(**{**d, "values": tuple(d.get("values") or ())})

    @property
    def log(self) -> bool:
        return self.kind == "loguniform"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_specs() -> dict[str, ParamSpec]:
    return {p.name: p for p in RUN_PARAMS}


def searchable(strategy) -> dict[str, tuple[str, ParamSpec]]:
    """name -> ("param" | "run", spec) of every setting a search of `strategy` may vary: its parameters and the
    run settings not in NOT_SEARCHABLE. A name that is both is refused (it could not be told apart)."""
    out = {p.name: ("param", p) for p in strategy.params}
    for name, spec in run_specs().items():
        if name in NOT_SEARCHABLE:
            continue
        if name in out:
            raise BadInput(f"{strategy.name}.{name} has the name of a run setting: a search cannot tell them apart")
        out[name] = ("run", spec)
    return out


def lookup(strategy, name: str) -> tuple[str, ParamSpec]:
    """Where a setting lives and its spec, or BadInput naming what can be searched."""
    found = searchable(strategy)
    if name in found:
        return found[name]
    if name in NOT_SEARCHABLE:
        raise BadInput(f"{name} is not searchable: {NOT_SEARCHABLE[name]}")
    raise BadInput(f"{name!r} is not a setting of {strategy.name}: searchable are {', '.join(sorted(found))}")


def domain_for(strategy, name: str, text: str | None, *, grid: bool = False) -> Domain:
    """The domain of one setting, from the user's sweep text or (text None) from the registry (module docstring)."""
    where, spec = lookup(strategy, name)
    owner = f"{strategy.name}." if where == "param" else "run."
    if text is None:
        return _registry_domain(spec, where, owner, grid=grid)
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else []
    if not grid and len(parts) == 1 and sweeps.sweepable(spec):
        continuous = _continuous(spec, where, owner, parts[0], text)
        if continuous is not None:
            return continuous
    values = tuple(sweeps.parse_values(spec, text, where=owner))  # checks syntax and every value's range
    return Domain(name=name, where=where, kind="choice", type=spec.type, values=values, text=text)


def _continuous(spec: ParamSpec, where: str, owner: str, part: str, text: str) -> Domain | None:
    """`log a b n` or `a:b` as a log-uniform or uniform domain (checked as the sweep grammar checks it); None for
    any other part."""
    is_log = part.lower().startswith("log") and part[3:4].isspace()
    if not is_log and part.count(":") != 1:
        return None
    if is_log:
        values = sweeps.parse_values(spec, part, where=owner)  # the grid's points: checks syntax and range
        lo, hi = (spec.parse(tok, where=owner) for tok in part.split()[1:3])
        return Domain(name=spec.name, where=where, kind="loguniform", type=spec.type, values=tuple(values), low=lo,
                      high=hi, text=text)
    lo, hi = (spec.parse(tok.strip(), where=owner) for tok in part.split(":"))
    if not lo < hi:
        raise BadInput(f"{owner}{spec.name}: {part!r} is not a range (expected start < stop): {sweeps.SYNTAX}")
    return Domain(name=spec.name, where=where, kind="uniform", type=spec.type, values=(lo, hi), low=lo, high=hi,
                  text=text)


def _registry_domain(spec: ParamSpec, where: str, owner: str, *, grid: bool) -> Domain:
    label = f"{owner}{spec.name}"
    if spec.choices or spec.type == "bool":
        values = tuple(spec.choices) if spec.choices else (False, True)
        return Domain(name=spec.name, where=where, kind="choice", type=spec.type, values=values, text="registry")
    need = f"give its values, e.g. --search {spec.name}=" + ("log 0.001 1 4" if spec.type == "float" else "1:4")
    if spec.type == "str":
        raise BadInput(f"{label} has no range to search: {need}")
    if spec.log:
        d = float(spec.default)
        if d <= 0:
            raise BadInput(f"{label} has no default range (its default is {spec.default}): {need}")
        lo, hi = d / 10, d * 10
        lo = lo if spec.min is None else max(lo, spec.min)
        hi = hi if spec.max is None else min(hi, spec.max)
        if lo <= 0 or lo >= hi:
            raise BadInput(f"{label} has no default range around {spec.default}: {need}")
        points = [lo, d, hi] if lo < d < hi else [lo, hi]
        kind = "loguniform"
    elif spec.type == "float" and spec.min is not None and spec.max is not None and 0 <= spec.min < spec.max <= 1:
        lo, hi = spec.min, spec.max  # a fraction or mixing weight: its whole range is a search range
        points = [lo, (lo + hi) / 2, hi]
        kind = "uniform"
    else:
        raise BadInput(f"{label} has no search range in the registry (its allowed range says what is valid, not "
                       f"what is worth searching): {need}")
    if spec.type == "int":
        lo, hi = math.ceil(lo), math.floor(hi)
        points = sorted({int(round(p)) for p in points})
    else:
        points = [float(f"{p:.12g}") for p in points]
    values = tuple(spec.parse(p, where=owner) for p in points)
    low, high = spec.parse(lo, where=owner), spec.parse(hi, where=owner)
    if grid:
        return Domain(name=spec.name, where=where, kind="choice", type=spec.type, values=values, text="registry")
    return Domain(name=spec.name, where=where, kind=kind, type=spec.type, values=values, low=low, high=high,
                  text="registry")


def is_budget(strategy, spec: ParamSpec) -> bool:
    """Whether a parameter sets how much the strategy keeps (its memory: a replay buffer), found by asking the
    registry's `memory` with the parameter changed. A search would simply pick the largest: such settings are fixed
    for a fair comparison and searched only when named."""
    if spec.type not in ("int", "float") or spec.choices:
        return False
    base = {p.name: p.default for p in strategy.params}
    other = spec.default * 2 if spec.default else 1
    if spec.max is not None and other > spec.max:
        other = spec.min if spec.min is not None else spec.default / 2
    if spec.type == "int":
        other = int(other)
    try:
        return strategy.memory({**base, spec.name: other}, 5) != strategy.memory(base, 5)
    except Exception:  # a plugin's memory that cannot answer: treat the parameter as an ordinary one
        return False


def default_names(strategy, fixed: set[str]) -> list[str]:
    """What a search varies when the user names nothing: the learning rate and the strategy's log-scaled parameters
    (the registry marks those whose natural sweep is a log range), without memory budgets and without what the user
    fixed."""
    names = [n for n in DEFAULT_RUN_SETTINGS if n not in fixed]
    for p in strategy.params:
        if p.log and p.name not in fixed and float(p.default or 0) > 0 and not is_budget(strategy, p):
            names.append(p.name)
    return names


def build_space(strategy, texts: dict[str, str | None], *, fixed: set[str], grid: bool) -> tuple[Domain, ...]:
    """The search space of one strategy: the named settings (name -> sweep text, or None for the registry's range),
    else the default ones; refuses a setting both fixed and searched, and an empty space."""
    clash = sorted(set(texts) & fixed)
    if clash:
        raise BadInput(f"{clash[0]} is both fixed and searched: drop one of the two")
    names = list(texts) or default_names(strategy, fixed)
    space = tuple(domain_for(strategy, n, texts.get(n), grid=grid) for n in names)
    if not space:
        defaults = ", ".join(DEFAULT_RUN_SETTINGS)
        raise BadInput(f"nothing to search for {strategy.name}: every default setting ({defaults} and its log-scaled "
                       "parameters) is fixed; name settings with --search KEY[=VALUES]")
    return space


def grid_size(space: tuple[Domain, ...]) -> int:
    return math.prod(len(d.values) for d in space)
