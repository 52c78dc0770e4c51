"""Typed parameter specs: the one schema that the form, the CLI and the store derive from."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


class BadInput(ValueError):
    """A user-supplied value is invalid. The message is one line naming the value and what is allowed."""


_TYPES = ("int", "float", "str", "bool")


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One hyperparameter: its type, default, allowed range or choices, and a help line."""

    name: str
    type: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple = field(default_factory=tuple)
    log: bool = False  # a log-scaled range is the natural sweep for this parameter

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"ParamSpec {self.name}: type {self.type!r} not in {_TYPES}")

    def to_dict(self) -> dict:
        return {
            "name": self.name, "type": self.type, "default": self.default,
            "min": self.min, "max": self.max, "choices": list(self.choices) or None,
            "help": self.help, "log": self.log,
        }

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type == "bool":
            return "true or false"
        lo = "-inf" if self.min is None else _fmt(self.min)
        hi = "inf" if self.max is None else _fmt(self.max)
        kind = "an integer" if self.type == "int" else "a number"
        return f"{kind} in [{lo}, {hi}]"

    def parse(self, raw: Any, *, where: str = "") -> Any:
        """Coerce `raw` (a string from the CLI/URL or a JSON value) to this type, or raise BadInput."""
        label = f"{where}{self.name}"
        value = _coerce(self.type, raw, label, self.allowed())
        if self.choices and value not in self.choices:
            raise BadInput(f"{label}={raw!r} is not allowed: expected {self.allowed()}")
        if self.type in ("int", "float"):
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise BadInput(f"{label}={raw!r} is out of range: expected {self.allowed()}")
        return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _coerce(type_: str, raw: Any, label: str, allowed: str) -> Any:
    bad = BadInput(f"{label}={raw!r} is not valid: expected {allowed}")
    if type_ == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return raw.strip().lower() in ("true", "1", "yes", "on")
        raise bad
    if type_ == "str":
        if isinstance(raw, str):
            return raw
        raise bad
    if isinstance(raw, bool):
        raise bad
    if type_ == "int":
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                try:
                    f = float(raw.strip())
                except ValueError:
                    raise bad from None
                if f.is_integer():
                    return int(f)
        raise bad
    # float
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise bad from None
    else:
        raise bad
    if not math.isfinite(value):
        raise bad
    return value


def validate_params(specs: tuple[ParamSpec, ...], given: dict, *, owner: str) -> dict:
    """Return a complete, typed parameter dict: defaults filled in, unknown names and bad values refused."""
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        allowed = ", ".join(sorted(by_name)) or "none"
        raise BadInput(f"unknown parameter {unknown[0]!r} for {owner}: allowed {allowed}")
    return {s.name: s.parse(given[s.name], where=f"{owner}.") if s.name in given else s.default for s in specs}


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """Turn ['k=v', ...] from the command line into a dict, refusing malformed items."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--param {item!r} is not valid: expected key=value")
        out[key.strip()] = value.strip()
    return out
