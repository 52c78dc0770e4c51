"""The one registry of task streams. Each module declares its specs once; everything else derives from it."""
from __future__ import annotations

from bench.benchmarks import digits, torchvision_sets
from bench.benchmarks.base import BenchmarkSpec, Experience, Stream
from bench.facts import stream as facts
from bench.spec.params import BadInput

_REGISTRY: dict[str, BenchmarkSpec] = {s.name: s for m in (digits, torchvision_sets, facts) for s in m.SPECS}


def benchmarks() -> list[BenchmarkSpec]:
    return list(_REGISTRY.values())


def get_benchmark(name: str) -> BenchmarkSpec:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise BadInput(f"unknown benchmark {name!r}: expected one of {', '.join(_REGISTRY)}") from None


__all__ = ["BenchmarkSpec", "Experience", "Stream", "benchmarks", "get_benchmark"]
