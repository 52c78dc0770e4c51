"""The one registry of strategies; each family module declares its specs once."""
from __future__ import annotations

from bench.spec.params import BadInput
from bench.strategies import baselines, prompt, regularization, rehearsal, rehearsal_adapters
from bench.strategies.base import FAMILIES, BuildContext, StrategySpec

_MODULES = (baselines, rehearsal, rehearsal_adapters, regularization, prompt)
_REGISTRY: dict[str, StrategySpec] = {s.name: s for m in _MODULES for s in m.SPECS}


def strategies() -> list[StrategySpec]:
    return list(_REGISTRY.values())


def get_strategy(name: str) -> StrategySpec:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise BadInput(f"unknown strategy {name!r}: expected one of {', '.join(_REGISTRY)}") from None


__all__ = ["FAMILIES", "BuildContext", "StrategySpec", "get_strategy", "strategies"]
