"""Your own strategy (or stream, or backbone) without forking: plugins from $BENCH_PLUGINS or a `cl_bench.plugins`
entry point, checked like the built-in specs, listed with their errors, and usable from the CLI, sweeps and workers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from own_data import BAD_PLUGINS as BAD
from own_data import GOOD_PLUGIN as GOOD

from bench import registry
from bench.benchmarks import builtin_names as builtin_benchmarks
from bench.cli import main
from bench.registry import check_benchmark_spec, check_strategy_spec, plugins, validate
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.strategies import builtin_names as builtin_strategies

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/my_strategy.py"

@pytest.fixture(autouse=True)
def fresh_plugins():
    registry.reset_plugins()
    yield
    registry.reset_plugins()


def write(tmp_path: Path, name: str, text: str) -> Path:
    f = tmp_path / f"{name}.py"
    f.write_text(textwrap.dedent(text))
    return f


def cli(*args, env_extra: dict, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_extra}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_the_built_in_specs_pass_the_checks_plugins_get():
    for spec in registry.strategies():
        check_strategy_spec(spec)
    for spec in registry.benchmarks():
        check_benchmark_spec(spec)


def test_the_example_plugin_is_listed_by_the_cli():
    """The issue's check: `BENCH_PLUGINS=examples/my_strategy.py python -m bench list strategies --json`."""
    p = cli("list", "strategies", "--json", env_extra={"BENCH_PLUGINS": EXAMPLE})
    assert p.returncode == 0, p.stderr
    by_name = {s["name"]: s for s in json.loads(p.stdout)}
    assert by_name["l2_anchor"]["family"] == "regularization" and by_name["l2_anchor"]["plugin"] == str(ROOT / EXAMPLE)
    assert by_name["naive"]["plugin"] is None
    assert [q["name"] for q in by_name["l2_anchor"]["params"]] == ["l2_lambda"]


def _runs(monkeypatch, tmp_path, base: dict, settings: list[tuple[str, dict]]) -> list[dict]:
    from bench.results.store import Store
    from bench.train.runner import run

    monkeypatch.setenv("BENCH_PLUGINS", str(ROOT / EXAMPLE))
    store = Store(tmp_path / "s.duckdb")
    out = [run(RunConfig(strategy=name, params=params, eval_every=1000, **base), store=store)
           for name, params in settings]
    assert {r["status"] for r in out} == {"finished"}
    assert store.run_row(out[-1]["run_id"])["family"] == "regularization"
    return out


def test_the_example_strategy_runs_and_only_its_penalty_differs_from_fine_tuning(monkeypatch, tmp_path):
    """l2_lambda=0 reproduces naive exactly (same seed, same accuracy matrix); the default does not."""
    base = dict(benchmark="split-digits", scenario="class", epochs=1, benchmark_params={"n_experiences": 2})
    naive, zero, pulled = _runs(monkeypatch, tmp_path, base, [("naive", {}), ("l2_anchor", {"l2_lambda": 0.0}),
                                                               ("l2_anchor", {})])
    assert np.array_equal(zero["accuracy_matrix"], naive["accuracy_matrix"])
    assert not np.array_equal(pulled["accuracy_matrix"], naive["accuracy_matrix"])


@pytest.mark.slow
def test_the_example_strategy_forgets_less_than_fine_tuning(monkeypatch, tmp_path):
    """The L2 pull keeps the weights near the previous experience's, so on permuted digits (domain-incremental) it
    forgets less than naive, as the L2 baseline does in Kirkpatrick et al. 2017 (Fig. 2A)."""
    base = dict(benchmark="permuted-digits", scenario="domain", epochs=2, benchmark_params={"n_experiences": 3})
    naive, pulled = _runs(monkeypatch, tmp_path, base, [("naive", {}), ("l2_anchor", {})])
    assert pulled["metrics"]["forgetting"] < naive["metrics"]["forgetting"] - 0.1, (pulled["metrics"],
                                                                                    naive["metrics"])


def test_a_plugin_by_module_name_and_a_plugin_declaring_a_stream(monkeypatch, tmp_path):
    write(tmp_path, "tiny_stream_plugin", '''
        import numpy as np
        from bench.benchmarks.base import BenchmarkSpec, n_experiences_param, to_tensors

        def _load(params, data_dir):
            rng = np.random.RandomState(0)
            y = np.arange(200) % 4
            x = (np.eye(4)[y] * 3 + rng.normal(0, 0.3, size=(200, 4))).astype(np.float32)
            return to_tensors(x[:160], y[:160], x[160:], y[160:], n_classes=4, info={"source": "test"})

        BENCHMARKS = [BenchmarkSpec(name="tiny-blobs", description="four blobs", kind="split",
                                    params=(n_experiences_param(default=2, max_=4),), scenarios=("class", "task"),
                                    load=_load)]
        BACKBONES = [type("Backbone", (), {"name": "my-net"})()]
    ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BENCH_PLUGINS", "tiny_stream_plugin")
    (plugin,) = plugins()
    assert plugin.error is None and plugin.names("benchmarks") == ["tiny-blobs"] and plugin.names("backbones") == [
        "my-net"]
    assert [b.name for b in registry.plugin_specs("backbones")] == ["my-net"]
    cfg = validate(RunConfig(benchmark="tiny-blobs", scenario="task", strategy="naive"))
    stream = registry.get_benchmark("tiny-blobs").build(cfg.benchmark_params, "task", seed=0)
    assert [e.classes for e in stream.experiences] and stream.n_heads == 2
    assert registry.plugin_of("benchmarks", "tiny-blobs") == "tiny_stream_plugin"


def test_a_plugin_from_an_installed_packages_entry_point(monkeypatch, tmp_path):
    """The entry point group as an installed package declares it (a .dist-info on the path, as pip writes it)."""
    write(tmp_path, "ep_plugin_mod", GOOD.format(name="ep_naive"))
    dist = tmp_path / "ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[cl_bench.plugins]\nmine = ep_plugin_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("BENCH_PLUGINS", raising=False)
    registry.reset_plugins()
    (plugin,) = [p for p in plugins() if p.ref.startswith("mine")]
    assert plugin.source == "entry point" and plugin.ref == "mine = ep_plugin_mod" and plugin.error is None
    assert registry.get_strategy("ep_naive").family == "baselines"
    assert "ep_naive" in [s.name for s in registry.strategies()]


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_plugin_is_listed_with_its_error_and_breaks_nothing(monkeypatch, tmp_path, capsys, kind):
    text, fragment = BAD[kind]
    bad = write(tmp_path, f"bad_{kind.replace('-', '_')}", text)
    good = write(tmp_path, "good_one", GOOD.format(name=f"good_{kind.replace('-', '_')}"))
    monkeypatch.setenv("BENCH_PLUGINS", f"{bad},{good}")
    broken, fine = plugins()
    assert fragment in broken.error and "\n" not in broken.error, broken.error
    assert broken.specs == () and fine.error is None
    names = [s.name for s in registry.strategies()]
    assert set(builtin_strategies()) <= set(names) and f"good_{kind.replace('-', '_')}" in names
    assert set(builtin_benchmarks()) <= {b.name for b in registry.benchmarks()}
    assert main(["list", "plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["ok"] for p in listed] == [False, True] and fragment in listed[0]["error"]


def test_a_run_of_a_broken_plugins_strategy_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    bad = write(tmp_path, "broken", "raise ImportError('needs package foo')\n")
    monkeypatch.setenv("BENCH_PLUGINS", str(bad))
    store = tmp_path / "s.duckdb"
    code = main(["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "mine", "--store",
                 str(store)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "unknown strategy 'mine'" in err and "needs package foo" in err
    assert not store.exists()


def test_a_plugins_check_that_crashes_is_a_one_line_refusal(monkeypatch, tmp_path):
    f = write(tmp_path, "crashy", GOOD.format(name="crashy").replace(
        "build=", "check=lambda p, bp, b: 1 / 0, build="))
    monkeypatch.setenv("BENCH_PLUGINS", str(f))
    with pytest.raises(BadInput, match=r"^crashy \(plugin .*crashy.py\): its check raised ZeroDivisionError"):
        validate(RunConfig(benchmark="split-digits", scenario="class", strategy="crashy"))


def test_plugins_load_once_and_built_in_lookups_load_none(monkeypatch, tmp_path):
    counter = tmp_path / "count.txt"
    f = write(tmp_path, "counted", f"open({str(counter)!r}, 'a').write('x')\n" + GOOD.format(name="counted"))
    monkeypatch.setenv("BENCH_PLUGINS", str(f))
    registry.get_strategy("naive")
    registry.plugin_of("strategies", "ewc")
    assert not counter.exists()  # a built-in name needs no plugin
    for _ in range(3):
        registry.get_strategy("counted")
        registry.strategies()
    assert counter.read_text() == "x"


@pytest.mark.slow
def test_a_sweep_through_the_local_pool_runs_a_plugin_strategy(tmp_path):
    """The pool's worker processes load the same plugin (they inherit $BENCH_PLUGINS, its path made absolute)."""
    store = tmp_path / "s.duckdb"
    p = cli("sweep", "--benchmark", "split-digits", "--scenario", "class", "--strategies", "l2_anchor,naive",
            "--param", "l2_lambda=0.5,2", "--seeds", "0", "--epochs", "1", "--workers", "2", "--store", str(store),
            "--json", env_extra={"BENCH_PLUGINS": EXAMPLE})
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [json.loads(line) for line in p.stdout.strip().splitlines()]
    assert sorted((r["strategy"], r["params"].get("l2_lambda")) for r in rows) == [
        ("l2_anchor", 0.5), ("l2_anchor", 2.0), ("naive", None)]
    assert {r["status"] for r in rows} == {"finished"}


@pytest.mark.slow
def test_a_ray_run_of_a_plugin_strategy(tmp_path):
    store = tmp_path / "s.duckdb"
    p = cli("run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "l2_anchor", "--epochs", "1",
            "--executor", "ray", "--store", str(store), "--json", env_extra={"BENCH_PLUGINS": EXAMPLE})
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["status"] == "finished" and out["strategy"] == "l2_anchor"


def test_the_readme_shows_the_example_plugin_as_it_is():
    code = "from __future__" + (ROOT / EXAMPLE).read_text().split("from __future__", 1)[1]
    assert f"```python\n{code}```" in (ROOT / "README.md").read_text()
