"""The one registry of strategies; each family module declares its specs once, and plugins may add more
(bench/plugins.py loads them)."""
from __future__ import annotations

from bench.spec.params import BadInput
from bench.strategies import baselines, prompt, regularization, rehearsal, rehearsal_adapters
from bench.strategies.base import FAMILIES, BuildContext, StrategySpec

_MODULES = (baselines, rehearsal, rehearsal_adapters, regularization, prompt)
_REGISTRY: dict[str, StrategySpec] = {s.name: s for m in _MODULES for s in m.SPECS}


def builtin_names() -> list[str]:
    return list(_REGISTRY)


def strategies() -> list[StrategySpec]:
    from bench.plugins import plugin_specs

    return [*_REGISTRY.values(), *plugin_specs("strategies")]


def get_strategy(name: str) -> StrategySpec:
    if isinstance(name, str) and name in _REGISTRY:  # a built-in name: no plugin is loaded for it
        return _REGISTRY[name]
    from bench.plugins import plugin_note, plugin_specs

    for spec in plugin_specs("strategies"):
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in strategies())
    raise BadInput(f"unknown strategy {name!r}: expected one of {known}{plugin_note()}")


__all__ = ["FAMILIES", "BuildContext", "StrategySpec", "builtin_names", "get_strategy", "strategies"]
