"""Plugins: Python modules named in `$BENCH_PLUGINS` (comma-separated module names or .py paths) or by a
`cl_bench.plugins` entry point of an installed package, declaring lists of specs (STRATEGIES, BENCHMARKS, BACKBONES
or MODELS) that the registries add to their own, checked like the built-in ones. They are imported once per process,
on the first full listing or the first lookup of a name the built-ins lack; a plugin that fails is listed with its
error (`python -m bench list plugins`) and adds nothing."""
from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench.benchmarks import BenchmarkSpec
from bench.spec.config import SCENARIOS
from bench.spec.params import BadInput, ParamSpec
from bench.strategies import StrategySpec

PLUGINS_ENV = "BENCH_PLUGINS"
ENTRY_POINT_GROUP = "cl_bench.plugins"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # no commas or spaces: names are listed comma-separated


# -- what a plugin may declare, and the checks each declared spec passes ---------------------------------------------

def _check_params(params: Any, where: str) -> None:
    """Params as the form and the CLI need them: a tuple of ParamSpecs with distinct names, each default of the
    declared type and allowed by its own range and choices."""
    if not isinstance(params, (tuple, list)):
        raise BadInput(f"{where}: params is a {type(params).__name__}: expected a tuple of ParamSpec")
    seen = set()
    for p in params:
        if not isinstance(p, ParamSpec):
            raise BadInput(f"{where}: a param is a {type(p).__name__}: expected a ParamSpec")
        if p.name in seen or not isinstance(p.name, str) or not p.name.isidentifier():
            raise BadInput(f"{where}: param name {p.name!r} is repeated or not an identifier")
        seen.add(p.name)
        kinds = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}[p.type]
        if (isinstance(p.default, bool) and p.type != "bool") or not isinstance(p.default, kinds):
            raise BadInput(f"{where}: param {p.name}'s default {p.default!r} is not of its type {p.type}")
        if p.min is not None and p.max is not None and p.min > p.max:
            raise BadInput(f"{where}: param {p.name} has min {p.min} above max {p.max}")
        try:
            p.parse(p.default, where=f"{where}.")
        except BadInput as exc:
            raise BadInput(f"{where}: param {p.name}'s default is refused by its own spec: {exc}") from None


def _check_callables(spec: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    for attr in required:
        if not callable(getattr(spec, attr, None)):
            raise BadInput(f"{where}: {attr} is not callable")
    for attr in optional:
        if getattr(spec, attr, None) is not None and not callable(getattr(spec, attr)):
            raise BadInput(f"{where}: {attr} is not callable")


def _check_scenarios(spec: Any, where: str) -> None:
    if not spec.scenarios or not isinstance(spec.scenarios, tuple) or not set(spec.scenarios) <= set(SCENARIOS):
        raise BadInput(f"{where}: scenarios {spec.scenarios!r} must be a non-empty tuple of {', '.join(SCENARIOS)}")


def check_strategy_spec(spec: StrategySpec) -> None:
    """BadInput naming what is wrong with a strategy spec (built-in specs pass it; tests/test_plugins.py)."""
    from bench.strategies.base import FAMILIES

    where = f"strategy {spec.name!r}"
    if spec.family not in FAMILIES:
        raise BadInput(f"{where}: family {spec.family!r} is not one of {', '.join(FAMILIES)}")
    _check_scenarios(spec, where)
    _check_callables(spec, where, ("build", "memory", "check"), ("make_model",))
    _check_params(spec.params, where)


def check_benchmark_spec(spec: BenchmarkSpec) -> None:
    """BadInput naming what is wrong with a benchmark spec (built-in specs pass it)."""
    from bench.benchmarks.base import IMAGE_KINDS

    where = f"benchmark {spec.name!r}"
    _check_scenarios(spec, where)
    _check_callables(spec, where, ("check",), ("load", "make", "transform", "check_data", "check_scenario"))
    _check_params(spec.params, where)
    if spec.make is None:
        if spec.kind not in IMAGE_KINDS or not callable(spec.load):
            raise BadInput(f"{where}: without make, kind must be one of {', '.join(IMAGE_KINDS)} and load is needed")
        if "n_experiences" not in {p.name for p in spec.params}:
            raise BadInput(f"{where}: without make, an n_experiences param is needed")
        if spec.kind == "domain" and spec.transform is None:
            raise BadInput(f"{where}: a domain stream without make needs a transform")


def _check_backbone(spec: Any) -> None:
    """Until the backbone registry declares its spec type (see KINDS), a backbone is anything with a name."""


@dataclass(frozen=True)
class Kind:
    """One kind of spec a plugin may declare: the module attributes that list them, the type every item must have
    and the function that names the bench's own (both "module:attribute", imported when a plugin is loaded), and
    the check each item passes.

    A registry plugs in by one entry here and by merging `plugin_specs(kind)` into its lookups, as
    bench/strategies/__init__.py does. For backbones (bench/models.py as a registry): set spec_type to its spec
    class, builtin to a function returning the built-in names, and check to its spec check."""

    name: str
    attrs: tuple[str, ...]
    spec_type: str | None
    builtin: str | None
    check: Callable[[Any], None]


KINDS = (
    Kind("strategies", ("STRATEGIES",), "bench.strategies.base:StrategySpec", "bench.strategies:builtin_names",
         check_strategy_spec),
    Kind("benchmarks", ("BENCHMARKS",), "bench.benchmarks.base:BenchmarkSpec", "bench.benchmarks:builtin_names",
         check_benchmark_spec),
    Kind("backbones", ("BACKBONES", "MODELS"), None, None, _check_backbone),
)


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- loading --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plugin:
    """One plugin as loaded: where it came from, its error (None when it loaded), and the specs it adds by kind."""

    ref: str  # a module name, an absolute .py path, or an entry point's "name = value"
    source: str  # "BENCH_PLUGINS" or "entry point"
    error: str | None
    specs: tuple[tuple[str, tuple], ...] = ()  # (kind, specs)

    def names(self, kind: str) -> list[str]:
        return [s.name for k, items in self.specs if k == kind for s in items]

    def to_dict(self) -> dict:
        return {"plugin": self.ref, "source": self.source, "ok": self.error is None, "error": self.error,
                **{k.name: self.names(k.name) for k in KINDS}}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _is_path(item: str) -> bool:
    return item.endswith(".py") or "/" in item or os.sep in item


def _env_refs() -> tuple[str, ...]:
    """The entries of $BENCH_PLUGINS, .py paths made absolute against the current directory (so that worker
    processes started elsewhere find the same files)."""
    out = []
    for item in os.environ.get(PLUGINS_ENV, "").split(","):
        item = item.strip()
        if item:
            out.append(str(Path(item).expanduser().absolute()) if _is_path(item) else item)
    return tuple(out)


def _import_file(path: str) -> Any:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file {path}")
    stem = re.sub(r"[^0-9A-Za-z_]", "_", Path(path).stem)
    name = f"bench_plugin_{stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _collect(namespace: Any, taken: dict[str, set]) -> tuple[tuple[str, tuple], ...]:
    """The specs a plugin declares, checked; BadInput names the first bad one (the plugin then adds nothing)."""
    found, names = [], {k.name: set() for k in KINDS}
    for kind in KINDS:
        items = []
        for attr in kind.attrs:
            declared = getattr(namespace, attr, None)
            if declared is None:
                continue
            if not isinstance(declared, (list, tuple)):
                raise BadInput(f"{attr} is a {type(declared).__name__}: expected a list of specs")
            items += [(f"{attr}[{i}]", item) for i, item in enumerate(declared)]
        spec_type = _resolve(kind.spec_type) if kind.spec_type and items else None
        for where, item in items:
            if spec_type is not None and not isinstance(item, spec_type):
                raise BadInput(f"{where} is a {type(item).__name__}: expected a {spec_type.__name__}")
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not NAME.match(name):
                raise BadInput(f"{where} has the name {name!r}: expected letters, digits, '_', '-' or '.'")
            if name in taken[kind.name] or name in names[kind.name]:
                raise BadInput(f"{where}: the name {name!r} is already registered in {kind.name}")
            kind.check(item)
            names[kind.name].add(name)
        if items:
            found.append((kind.name, tuple(item for _, item in items)))
    if not found:
        attrs = ", ".join(a for k in KINDS for a in k.attrs)
        raise BadInput(f"declares none of {attrs}: expected at least one list of specs")
    for kind, items in found:
        taken[kind].update(s.name for s in items)
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _load(refs: tuple[str, ...]) -> tuple[Plugin, ...]:
    taken = {k.name: set(_resolve(k.builtin)()) if k.builtin else set() for k in KINDS}
    sources: list[tuple[str, str, Callable[[], Any]]] = []
    for ref in refs:
        load = _import_file if _is_path(ref) else importlib.import_module
        sources.append((ref, PLUGINS_ENV, functools.partial(load, ref)))
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        sources.append((f"{ep.name} = {ep.value}", "entry point", ep.load))
    out, loaded = [], []
    for ref, source, load in sources:
        try:
            namespace = load()
            if any(namespace is other for other in loaded):
                continue  # the same module named twice (an entry point and $BENCH_PLUGINS)
            specs = _collect(namespace, taken)
        except (Exception, SystemExit) as exc:  # a plugin's import runs its code: anything can happen
            out.append(Plugin(ref=ref, source=source, error=_one_line(exc)))
            continue
        loaded.append(namespace)
        out.append(Plugin(ref=ref, source=source, error=None, specs=specs))
    return tuple(out)


def plugins() -> tuple[Plugin, ...]:
    """Every plugin named by $BENCH_PLUGINS or an entry point, loaded once per process (per value of the variable).
    Worker processes and Ray tasks inherit the variable with its paths made absolute."""
    refs = _env_refs()
    if refs and os.environ[PLUGINS_ENV] != ",".join(refs):
        os.environ[PLUGINS_ENV] = ",".join(refs)
    return _load(refs)


def reset_plugins() -> None:
    """Forget the loaded plugins (tests that install an entry point call this)."""
    _load.cache_clear()


def plugin_specs(kind: str) -> list:
    """The specs of this kind that loaded plugins add, in load order."""
    return [s for p in plugins() for k, items in p.specs if k == kind for s in items]


def plugin_of(kind: str, name: str) -> str | None:
    """The plugin that declared this spec, or None for a built-in one (without loading plugins for a built-in)."""
    builtin = next(k.builtin for k in KINDS if k.name == kind)
    if builtin and name in _resolve(builtin)():
        return None
    return next((p.ref for p in plugins() if name in p.names(kind)), None)


def plugin_note() -> str:
    """'; 1 plugin failed to load (python -m bench list plugins)' when one did, else ''."""
    failed = [p for p in plugins() if p.error]
    if not failed:
        return ""
    return (f"; {len(failed)} plugin{'s' if len(failed) > 1 else ''} failed to load: {failed[0].ref}: "
            f"{failed[0].error} (python -m bench list plugins)")


# -- run configs ------------------------------------------------------------------------------------------------------
