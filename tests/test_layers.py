"""The engine's rooms import one way: a lower layer never imports a higher one, the engine never imports
Streamlit, and what the app's reading pages load imports neither torch nor Avalanche.

Layers, lowest first (docs/architecture.md draws them):
  0 spec        what a run is (params, config, sweeps, statuses, labels), and the backbone registry (bench.models):
                the run setting `model` takes its choices from it
  1 registry    what can run: task streams, strategies, the prompt ViTs, the facts stream and probes,
                plugins, the protocol presets (bench/reproduce)
  2 train       config -> Avalanche -> rows (runner, recorder, fast path, metrics)
  3 results     rows -> DuckDB -> DataFrames (store, queries, export, the facts queries)
  4 execute     where runs happen (the local pool, Ray)
  5 plots       DataFrames -> Altair charts
  6 app         what users call: the CLI, lessons, launch plans, the perf harness
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS = {
    "bench.spec": 0,
    "bench.models": 0, "bench.benchmarks": 1, "bench.strategies": 1, "bench.prompt": 1, "bench.registry": 1,
    "bench.plugins": 1,
    "bench.facts": 1, "bench.facts.stream": 1, "bench.facts.probes": 1, "bench.facts.measures": 1,
    "bench.reproduce": 1,  # the protocol presets and their mapping onto run configs
    "bench.train": 2,
    "bench.results": 3, "bench.facts.queries": 3,
    "bench.execute": 4,
    "bench.plots": 5, "bench.facts.charts": 5,
    "bench.reproduce.launch": 6,  # queues a preset's runs (the job queue)
    "bench": 6,  # the package's top-level modules: cli, lessons, launch, perf, __main__
}
NO_TORCH = ("bench.spec", "bench.plots")  # rooms that must not touch torch or Avalanche, even lazily


def layer(module: str) -> int:
    """The layer of a module: its longest prefix in LAYERS."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    raise KeyError(f"{module} is in no layer: add it to LAYERS (and to docs/architecture.md)")


def imports(module: str, source: str, *, is_package: bool = False) -> list[tuple[str, int]]:
    """(imported name, line) for every import in a module's source, at top level or inside functions; relative
    imports resolved against the module's package; `from p import x` gives p.x (a module or not)."""
    package = module if is_package else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out += [(f"{target}.{a.name}", node.lineno) for a in node.names]
    return out


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Every import that goes the wrong way: `sources` maps a module name to (source, is_package)."""
    known = set(sources)
    found: list[str] = []
    for module, (source, is_package) in sorted(sources.items()):
        for target, line in imports(module, source, is_package=is_package):
            root = target.split(".")[0]
            if target not in known and target.rsplit(".", 1)[0] in known:
                target = target.rsplit(".", 1)[0]  # `from bench.x import name`: the module is bench.x
            if root == "streamlit":
                found.append(f"{module}:{line} imports streamlit: the engine never does")
            elif root in ("torch", "avalanche", "timm", "torchvision") and module.startswith(NO_TORCH):
                found.append(f"{module}:{line} imports {target}: {module.rsplit('.', 1)[0]} stays free of torch")
            elif target in known and layer(target) > layer(module):
                found.append(f"{module}:{line} imports {target}: layer {layer(module)} must not import layer "
                             f"{layer(target)}")
    return list(dict.fromkeys(found))


def engine_sources() -> dict[str, tuple[str, bool]]:
    out = {}
    for path in sorted((ROOT / "bench").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path.read_text(), is_package)
    return out


def test_every_engine_module_has_a_layer():
    for module in engine_sources():
        layer(module)


def test_no_import_goes_the_wrong_way():
    assert violations(engine_sources()) == []


def test_the_check_catches_a_wrong_way_import():
    """A deliberate wrong-way import, top level and lazy, and streamlit and torch where they do not belong."""
    sources = engine_sources()
    wrong = "from bench.train import runner\n\ndef f():\n    from ..results import store\n"
    sources["bench.spec.wrong"] = (wrong, False)
    sources["bench.plots.wrong"] = ("import torch\nimport streamlit as st\n", False)
    found = violations(sources)
    assert "bench.spec.wrong:1 imports bench.train.runner: layer 0 must not import layer 2" in found
    assert "bench.spec.wrong:4 imports bench.results.store: layer 0 must not import layer 3" in found
    assert "bench.plots.wrong:1 imports torch: bench.plots stays free of torch" in found
    assert "bench.plots.wrong:2 imports streamlit: the engine never does" in found
    assert len(found) == 4


def test_the_reading_pages_import_neither_torch_nor_avalanche():
    """What Compare, Runs, Run detail and Learn load in the app's process (and the registries the Launch form
    reads): importing them leaves torch and Avalanche unloaded, so a cold server's first page is quick."""
    code = ("import sys\n"
            "import ui.common, ui.compare, ui.runs, ui.run_detail, ui.lessons, ui.facts, ui.forms\n"
            "import bench.registry, bench.launch\n"
            "from bench.registry import benchmarks, strategies\n"
            "[s.params for s in strategies()], [b.params for b in benchmarks()]\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'avalanche', 'timm', "
            "'torchvision', 'sklearn'))\n"
            "print(heavy[:5])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|WITH|ALTER|DROP)\s", re.S)
SQL_ROOMS = ("bench.results", "bench.facts.queries")  # the store and the queries; the facts slice's own queries


def sql_outside(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Modules outside the SQL rooms with a string that reads as SQL, or that call a store's .query()."""
    found = []
    for module, (source, _) in sorted(sources.items()):
        if module.startswith(SQL_ROOMS):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
                found.append(f"{module}:{node.lineno} holds SQL")
            elif isinstance(node, ast.Attribute) and node.attr in ("query", "connect") and isinstance(
                    node.ctx, ast.Load) and isinstance(getattr(node, "value", None), ast.Name) and \
                    node.value.id in ("store", "s", "self"):
                found.append(f"{module}:{node.lineno} calls .{node.attr}() on a store")
    return found


def test_sql_lives_in_the_results_room():
    assert sql_outside(engine_sources()) == []
    planted = {"bench.execute.wrong": ('def f(store):\n    return store.query("SELECT 1")\n', False)}
    assert sorted(sql_outside(planted)) == ["bench.execute.wrong:2 calls .query() on a store",
                                           "bench.execute.wrong:2 holds SQL"]
