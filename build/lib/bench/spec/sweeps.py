"""Sweep values: the text a user types for one hyperparameter, turned into a list of typed values, and the grid.

One syntax, shared by the Launch form and `python -m bench sweep --param KEY=...`. A sweep text is a
comma-separated list of parts; each part is

  * a single value:   50                    (any parameter type)
  * a linear range:   start:stop[:step]     1:10:3 -> 1, 4, 7, 10 (stop included; step defaults to 1)
  * a log range:      log start stop count  log 1 10000 5 -> 1, 10, 100, 1000, 10000 (count values evenly
                                            spaced on a log scale, both ends included)

so that "50,100,200,500", "0:4", "0.1:0.5:0.1" and "0, log 1 10000 5" are all sweeps. Ranges are for
numeric parameters only. Every value is checked with the parameter's ParamSpec.parse; integer parameters
round log-range values to the nearest integer. Duplicates are dropped, order is kept.
"""
from __future__ import annotations

import itertools
import math
from typing import Protocol

from bench.spec.params import BadInput, ParamSpec


class StrategySpecLike(Protocol):
    """What a sweep needs of a strategy spec: its name and its declared parameters, in order."""

    name: str
    params: tuple[ParamSpec, ...]

MAX_SEEDS = 50
MAX_VALUES = 100  # per parameter: a typo like 1:100000 should not queue a hundred thousand runs
SYNTAX = "values like 50,100,200, a range start:stop:step like 1:10:3, or a log range like log 1 10000 5"
HELP = ("Sweep: a comma-separated list (50,100,200), a range start:stop:step with stop included (1:10:3 → "
        "1, 4, 7, 10), or a log range log start stop count (log 1 10000 5 → 1, 10, 100, 1000, 10000); "
        "parts can be mixed: 0, log 1 1000 4.")


def sweepable(spec: ParamSpec) -> bool:
    """Numeric parameters without a fixed list of choices take ranges."""
    return spec.type in ("int", "float") and not spec.choices


def _clean(x: float) -> float:
    """1e-3 * 3 is 0.0030000000000000005; 12 significant digits read as typed."""
    return float(f"{x:.12g}")


def parse_values(spec: ParamSpec, text: str, *, where: str = "") -> list:
    """The typed values a sweep text stands for, or BadInput naming the bad part and the allowed syntax."""
    label = f"{where}{spec.name}"
    numeric = sweepable(spec)
    allowed = f"expected {spec.allowed()}" + (f"; {SYNTAX}" if numeric else ", or a comma-separated list of them")

    def bad(part: str, why: str = "is not valid") -> BadInput:
        return BadInput(f"{label}: {part!r} {why}: {allowed}")

    if not isinstance(text, str) or not text.strip():
        raise bad(text if isinstance(text, str) else str(text), "is empty")
    values: list = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise bad(text, "has an empty part")
        if numeric and part.lower().startswith("log") and part[3:4].isspace():
            raw = _log_range(spec, part, bad)
        elif numeric and ":" in part:
            raw = _linear_range(spec, part, bad)
        else:
            if numeric:
                _number(part, part, bad)
            raw = [part]
        values += [spec.parse(v, where=where) for v in raw]
        if len(values) > MAX_VALUES:
            raise bad(text, f"gives more than {MAX_VALUES} values")
    return list(dict.fromkeys(values))


def _number(token: str, part: str, bad, *, integer: bool = False) -> float:
    try:
        x = float(token)
    except ValueError:
        raise bad(part) from None
    if not math.isfinite(x) or (integer and not x.is_integer()):
        raise bad(part)
    return x


def _linear_range(spec: ParamSpec, part: str, bad) -> list:
    tokens = [t.strip() for t in part.split(":")]
    if len(tokens) not in (2, 3):
        raise bad(part)
    integer = spec.type == "int"
    start, stop = (_number(t, part, bad, integer=integer) for t in tokens[:2])
    step = _number(tokens[2], part, bad, integer=integer) if len(tokens) == 3 else 1.0
    if step <= 0 or stop < start:
        raise bad(part, "is not a range (expected start <= stop and step > 0)")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise bad(part, f"gives {count} values, more than {MAX_VALUES}")
    return [int(start + i * step) if integer else _clean(start + i * step) for i in range(count)]


def _log_range(spec: ParamSpec, part: str, bad) -> list:
    tokens = part.split()[1:]
    if len(tokens) != 3:
        raise bad(part)
    start, stop = (_number(t, part, bad) for t in tokens[:2])
    count = _number(tokens[2], part, bad, integer=True)
    if start <= 0 or stop <= start or count < 2:
        raise bad(part, "is not a log range (expected 0 < start < stop and count >= 2)")
    if count > MAX_VALUES:
        raise bad(part, f"gives {int(count)} values, more than {MAX_VALUES}")
    n = int(count)
    xs = [start * (stop / start) ** (i / (n - 1)) for i in range(n)]
    return [round(x) for x in xs] if spec.type == "int" else [_clean(x) for x in xs]


def parse_seeds(text: str, *, label: str = "seeds") -> list[int]:
    """'0,1,2' or '0-4' (or a mix) -> sorted unique seeds (a seed given twice is one run); BadInput names the bad
    part. The one seed parser of the form, the CLI and the sweeps."""
    seeds: set[int] = set()
    if not isinstance(text, str):
        raise BadInput(f"{label}: {text!r} is not valid: expected non-negative integers like 0,1,2 or 0-4")
    for part in (p.strip() for p in text.split(",")):
        lo, dash, hi = part.partition("-")
        lo, hi = lo.strip(), hi.strip()
        if dash and lo.isascii() and lo.isdigit() and hi.isascii() and hi.isdigit() and int(lo) <= int(hi):
            if int(hi) - int(lo) >= MAX_SEEDS:
                raise BadInput(f"{label}: {part!r} is too many seeds: expected at most {MAX_SEEDS}")
            seeds.update(range(int(lo), int(hi) + 1))
        elif part.isascii() and part.isdigit():
            seeds.add(int(part))
        else:
            raise BadInput(f"{label}: {part!r} is not valid: expected non-negative integers like 0,1,2 or 0-4")
    if len(seeds) > MAX_SEEDS:
        raise BadInput(f"{label}: {len(seeds)} seeds is too many: expected at most {MAX_SEEDS}")
    if max(seeds) > 2**31 - 1:
        raise BadInput(f"{label}: {max(seeds)} is out of range: expected seeds in [0, {2**31 - 1}]")
    return sorted(seeds)


def grid(strategy: StrategySpecLike, values: dict[str, list]) -> list[dict]:
    """Every combination of the given parameter values of one strategy ([{}] when nothing is swept), in the
    order the strategy declares its parameters; each list holds typed values (see parse_values)."""
    strategy_name = strategy.name
    order = [p.name for p in strategy.params]
    unknown = [k for k in values if k not in order]
    if unknown:
        raise BadInput(f"unknown parameter {unknown[0]!r} for {strategy_name}: allowed {', '.join(order) or 'none'}")
    empty = [k for k, v in values.items() if not v]
    if empty:
        raise BadInput(f"{strategy_name}.{empty[0]} has no values to sweep")
    keys = [k for k in order if k in values]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(values[k] for k in keys))]
