"""The one registry of task streams. Each module declares its specs once, and plugins may add more (bench/plugins.py
loads them); everything else derives from it."""
from __future__ import annotations

from bench.benchmarks import arrays, digits, image_folder, torchvision_sets
from bench.benchmarks.base import BenchmarkSpec, Experience, Stream
from bench.facts import stream as facts
from bench.spec.params import BadInput

_MODULES = (digits, torchvision_sets, facts, image_folder, arrays)
_REGISTRY: dict[str, BenchmarkSpec] = {s.name: s for m in _MODULES for s in m.SPECS}


def builtin_names() -> list[str]:
    return list(_REGISTRY)


def benchmarks() -> list[BenchmarkSpec]:
    from bench.plugins import plugin_specs

    return [*_REGISTRY.values(), *plugin_specs("benchmarks")]


def get_benchmark(name: str) -> BenchmarkSpec:
    if isinstance(name, str) and name in _REGISTRY:  # a built-in name: no plugin is loaded for it
        return _REGISTRY[name]
    from bench.plugins import plugin_note, plugin_specs

    for spec in plugin_specs("benchmarks"):
        if spec.name == name:
            return spec
    known = ", ".join(b.name for b in benchmarks())
    raise BadInput(f"unknown benchmark {name!r}: expected one of {known}{plugin_note()}")


__all__ = ["BenchmarkSpec", "Experience", "Stream", "benchmarks", "builtin_names", "get_benchmark"]
