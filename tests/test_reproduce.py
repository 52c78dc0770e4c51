"""The protocol presets: published results loaded with their sources, mapped onto bench runs that validate, what the
bench lacks computed from the registries, --quick data copies, the store's view of a preset, and the CLI."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_torchvision_sets import write_cifar10, write_cifar100, write_mnist

from bench.benchmarks import get_benchmark
from bench.cli import main
from bench.cli.reproduce import summary
from bench.registry import validate
from bench.reproduce import estimate, launch, mapping, quick
from bench.reproduce.presets import Preset, get_preset, parse_record, presets
from bench.results import references as refs
from bench.results.store import Store
from bench.spec.config import RUN_PARAMS, RunConfig
from bench.spec.params import BadInput, ParamSpec
from bench.train.runner import run

ROOT = Path(__file__).resolve().parents[1]
MNIST_PRESET = "der-er-seq-mnist-500"  # runnable today: replay on split-mnist, one epoch, batch 10


@pytest.fixture
def mnist_dir(tmp_path) -> str:
    write_mnist(tmp_path)
    return str(tmp_path)


# -- the data files --------------------------------------------------------------------------------------------
def test_at_least_twenty_presets_each_with_a_value_and_a_source_read_at_a_commit():
    ps = presets()
    assert len(ps) >= 20 and len({p.id for p in ps}) == len(ps)
    for p in ps:
        assert isinstance(p.value, float) and p.unit in ("percent", "fraction")
        src = p.source
        assert src["date_read"] == "2026-12-01"
        assert src.get("repository") and len(src["commit"]) == 40 and int(src["commit"], 16) >= 0 and src["path"]
        assert src.get("entry"), p.id  # which line of the file the number is
        assert p.metric and p.optimizer and p.backbone and p.epochs >= 1 and p.batch_size >= 1
    streams = {p.bench["benchmark"] for p in ps}
    assert {"split-mnist", "permuted-mnist", "split-cifar10", "split-cifar100"} <= streams


def _find(strategy: str, benchmark: str, **want) -> list[Preset]:
    out = []
    for p in presets():
        b = p.bench
        settings = {**b["run"], **b["params"]}
        if b["strategy"] == strategy and b["benchmark"] == benchmark and all(settings.get(k) == v
                                                                             for k, v in want.items()):
            out.append(p)
    return out


def test_the_presets_the_issue_asks_for_are_there():
    assert _find("replay", "split-cifar10", model="resnet18")  # ER
    assert [p for p in _find("der", "split-cifar10", model="resnet18") if p.bench["params"]["beta"] > 0]  # DER++
    assert _find("icarl", "split-cifar100", backbone="resnet32")  # iCaRL brings its own net: its parameter
    assert _find("ewc", "permuted-mnist") and _find("si", "permuted-mnist")
    assert _find("gdumb", "split-mnist") and _find("lwf", "split-mnist")
    for method in ("l2p", "dualprompt", "coda_prompt"):
        assert _find(method, "split-cifar100", backbone="timm:vit_base_patch16_224.augreg_in21k")


def test_the_numbers_are_the_ones_in_the_sources():
    """A few values checked by hand against the files at the recorded commits (and their traps)."""
    er = get_preset("mammoth-er-seq-cifar10-500")
    assert er.value == 63.39 and "z500" in er.source["entry"] and any("typo" in n for n in er.notes)
    assert get_preset("der-derpp-seq-cifar10-500").value == 72.70
    gem = get_preset("clb-gem-pmnist-5")
    assert gem.value == 0.93 and gem.bench["benchmark_params"]["n_experiences"] == 5
    assert any("0.80" in n for n in gem.notes)  # the README's inconsistent figure is recorded, not used
    assert get_preset("clb-icarl-scifar100").value == 0.48 and get_preset("mammoth-icarl-seq-cifar100-2000").value \
        == 49.66


def test_a_record_without_its_source_or_value_is_refused():
    good = dataclasses.asdict(get_preset(MNIST_PRESET)) | {"extra": None}
    good.pop("extra")
    parse_record(good, where="x.json")
    with pytest.raises(ValueError, match="source needs"):
        parse_record({**good, "source": {"repository": "a/b", "date_read": "2026-12-01"}}, where="x.json")
    with pytest.raises(ValueError, match="40-digit"):
        parse_record({**good, "source": {**good["source"], "commit": "abc123"}}, where="x.json")
    with pytest.raises(ValueError, match="numeric value"):
        parse_record({**good, "reference": {"value": "high", "unit": "percent"}}, where="x.json")


# -- what the bench lacks, from the registries ----------------------------------------------------------------
def test_missing_names_the_strategy_stream_parameter_and_setting_the_bench_lacks():
    assert any("strategy 'xder' is not in the bench" in m for m in mapping.missing(get_preset(
        "mammoth-xder-seq-cifar100-500")))
    assert any("n_experiences=17 is out of range" in m for m in mapping.missing(get_preset("clb-agem-pmnist"))) == (
        {p.name: p for p in get_benchmark("permuted-mnist").params}["n_experiences"].max < 17)
    assert any("lwf.alpha=" in m for m in mapping.missing(get_preset("clb-lwf-smnist")))
    assert mapping.missing(get_preset(MNIST_PRESET)) == []
    p = get_preset("mammoth-er-seq-cifar10-500")
    names = set(RUN_PARAMS_NAMES)
    for setting in ("model", "augment"):
        assert (setting in names) != any(f"run setting {setting!r} does not exist" in m for m in mapping.missing(p))
    with pytest.raises(BadInput, match="cannot run on this bench"):
        mapping.to_config(get_preset("mammoth-xder-seq-cifar100-500"))


RUN_PARAMS_NAMES = [s.name for s in RUN_PARAMS]


def test_a_preset_becomes_runnable_when_the_settings_it_needs_are_declared(monkeypatch):
    """Nothing is hard-coded: declare the run settings the ResNet presets ask for (as another part of the bench will)
    and the same presets map onto configs that carry them."""
    new = [ParamSpec(name="momentum", type="float", default=0.0, min=0.0, max=1.0)]
    new = [s for s in new if s.name not in RUN_PARAMS_NAMES]  # only what the bench does not declare yet
    if new:
        wider = dataclasses.make_dataclass("WiderConfig", [(s.name, float, dataclasses.field(default=s.default))
                                                           for s in new], bases=(RunConfig,), frozen=True, kw_only=True)
        monkeypatch.setattr(mapping, "RUN_PARAMS", RUN_PARAMS + tuple(new))
        monkeypatch.setattr(mapping, "RunConfig", wider)
    er = get_preset("mammoth-er-seq-cifar10-500")
    assert mapping.missing(er) == []
    cfg = mapping.to_config(er, seed=3)
    assert (cfg.model, cfg.augment, cfg.momentum, cfg.seed) == ("resnet18", "crop_flip", 0.0, 3)  # run_if_present
    # a choice the setting does not offer stays missing, with the allowed values
    odd = dataclasses.replace(er, bench={**er.bench, "run": {**er.bench["run"], "model": "vgg11"}})
    assert any("model='vgg11' is not allowed: expected one of" in m for m in mapping.missing(odd))


def test_every_runnable_preset_validates_on_files_in_torchvisions_format(tmp_path):
    write_mnist(tmp_path), write_mnist(tmp_path, "FashionMNIST"), write_cifar10(tmp_path), write_cifar100(tmp_path)
    runnable = [p for p in presets() if not mapping.missing(p)]
    assert len(runnable) >= 5
    for p in runnable:
        cfg = validate(mapping.to_config(p, seed=1, data_dir=str(tmp_path)))
        assert cfg.strategy == p.bench["strategy"] and cfg.benchmark == p.bench["benchmark"] and cfg.seed == 1
        assert cfg.epochs == p.epochs and cfg.batch_size == p.batch_size
        assert mapping.readiness(p, data_dir=str(tmp_path)).runnable  # the page's cheap check agrees with validate
        assert mapping.differences(p, cfg.to_dict()) == []  # its own run carries its recipe


def test_missing_dataset_files_are_reported_apart_from_missing_features(tmp_path):
    r = mapping.readiness(get_preset(MNIST_PRESET), data_dir=str(tmp_path))
    assert r.runnable and "dataset files not found" in r.data
    r = mapping.readiness(get_preset("mammoth-xder-seq-cifar100-500"), data_dir=str(tmp_path))
    assert not r.runnable and r.data is None


# -- units, delta, status ----------------------------------------------------------------------------------------
def test_delta_and_status_are_in_the_references_units():
    er = get_preset(MNIST_PRESET)  # 86.12 %, no spread: ±3 points
    assert er.tolerance == 3.0 and "±3 points" in er.tolerance_basis
    assert er.delta(0.85) == pytest.approx(-1.12)
    assert er.verdict(0.85) == ("within ±3.00 %", pytest.approx(-1.12))
    assert er.verdict(0.80)[0] == "off by -6.12 %" and er.verdict(None) == ("not run", None)
    ewc = get_preset("clb-ewc-pmnist")  # 0.83, the test's delta 0.03
    assert ewc.tolerance == 0.03 and "delta" in ewc.tolerance_basis
    assert ewc.verdict(0.79)[0] == "off by -0.040" and ewc.verdict(0.855)[0] == "within ±0.030"
    assert ewc.as_fraction() == 0.83 and er.as_fraction() == pytest.approx(0.8612)


def test_a_stored_config_matches_the_recipe_or_only_the_protocol():
    p = get_preset(MNIST_PRESET)
    cfg = mapping.to_config(p).to_dict()
    assert mapping.differences(p, cfg) == [] and mapping.same_protocol(p, cfg)
    other = {**cfg, "lr": 0.05}
    assert mapping.differences(p, other) == ["lr: 0.05 vs 0.1"] and mapping.same_protocol(p, other)
    smaller = {**cfg, "params": {**cfg["params"], "mem_size": 200}}
    assert not mapping.same_protocol(p, smaller)
    # a run_if_present setting (momentum): declared now, so the config carries the preset's value; a run stored
    # before the bench had it lacks it, and its behaviour then was the preset's value: no difference
    assert cfg["momentum"] == 0.0 and cfg["last_batch"] == "keep"
    older = {k: v for k, v in cfg.items() if k not in ("momentum", "last_batch")}
    assert not any(d.startswith(("momentum", "last_batch")) for d in mapping.differences(p, older))
    assert mapping.differences(p, {**cfg, "momentum": 0.9}) == ["momentum: 0.9 vs 0.0"]


def test_train_images_count_epochs_over_the_training_set():
    assert estimate.train_images(get_preset(MNIST_PRESET)) == 60_000
    assert estimate.train_images(get_preset("clb-ewc-pmnist")) == 10 * 60_000 * 10  # domain: once per experience
    assert estimate.train_images(get_preset("mammoth-er-seq-cifar10-500")) == 50 * 50_000
    assert estimate.fmt_duration(estimate.duration_s(60_000, 1000.0)) == "60 s"


# -- --quick -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("writer,key,stream", [(write_mnist, "mnist", "split-mnist"),
                                                  (write_cifar10, "cifar10", "split-cifar10"),
                                                  (write_cifar100, "cifar100", "split-cifar100")])
def test_quick_copies_are_the_first_images_of_each_class_in_the_same_format(tmp_path, monkeypatch, writer, key,
                                                                           stream):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    writer(src)
    small = quick.quick_data(stream, str(src), train_per_class=2, test_per_class=1)
    assert small and Path(small).is_dir() and quick.quick_data(stream, str(src), train_per_class=2,
                                                               test_per_class=1) == small  # cached
    full = get_benchmark(stream).load({}, str(src))
    part = get_benchmark(stream).load({}, small)  # read back by the stream's own reader
    y = full.train_y.numpy()
    keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:2] for c in np.unique(y)]))
    assert part.train_y.tolist() == y[keep].tolist()
    assert np.array_equal(part.train_x.numpy(), full.train_x.numpy()[keep])  # byte for byte
    assert len(part.test_y) == len(np.unique(full.test_y.numpy()))


def test_quick_configs_keep_the_recipe_train_one_epoch_and_form_their_own_group(mnist_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    p = get_preset(MNIST_PRESET)
    (full,) = launch.configs(p, seeds=[0], data_dir=mnist_dir)
    (small,) = launch.configs(p, seeds=[0], data_dir=mnist_dir, quick_run=True)
    assert small.epochs == 1 and small.lr == full.lr and small.params == full.params
    assert small.data_dir != mnist_dir and small.group_key() != full.group_key()
    for q in presets():  # even where the recipe is one epoch already
        if not mapping.missing(q):
            assert (mapping.to_config(q, quick=True).group_key() != mapping.to_config(q).group_key())
    assert quick.per_class("split", 10, 5) == 100 and quick.per_class("domain", 10, 10) == 20


# -- the store's view ----------------------------------------------------------------------------------------------
def _run(store, p, *, seed, data_dir, sweep=None, **change):
    cfg = dataclasses.replace(mapping.to_config(p, seed=seed, data_dir=data_dir), **change)
    result = run(cfg, store=store, sweep_id=sweep)
    assert result["status"] == "finished", result["error"]
    return result


def test_preset_results_take_the_latest_exact_run_per_seed_and_leave_quick_runs_out(mnist_dir, tmp_path):
    store = Store(tmp_path / "s.duckdb")
    p = get_preset(MNIST_PRESET)
    assert refs.preset_results(store, [p]).n.tolist() == [0]
    first = _run(store, p, seed=0, data_dir=mnist_dir)
    r1 = _run(store, p, seed=1, data_dir=mnist_dir)
    _run(store, p, seed=2, data_dir=mnist_dir, lr=0.05)  # another recipe: not this preset's
    _run(store, p, seed=3, data_dir=mnist_dir, sweep="reproduce-quick:x:1")  # a quick run: never counts
    again = _run(store, p, seed=0, data_dir=mnist_dir, sweep="reproduce:x:2")  # seed 0 again, later: replaces it
    row = refs.preset_results(store, [p]).iloc[0]
    assert row.n == 2 and row.seeds == [0, 1] and set(row.run_ids) == {again["run_id"], r1["run_id"]}
    accs = [again["metrics"]["acc"], r1["metrics"]["acc"]]
    assert row["mean"] == pytest.approx(sum(accs) / 2) and first["run_id"] not in row.run_ids
    assert row["std"] == pytest.approx(float(np.std(accs, ddof=1)))
    from bench.results import queries as q

    g = q.groups(store)
    matched = refs.published_for_groups(store, g, [p]).set_index("group_id")
    assert len(g) == 2 and len(matched) == 2  # the quick run shares the exact group's config here
    exact = matched[matched.exact]
    assert list(exact.index) == row.group_ids  # the preset's own runs: the whole recipe
    (protocol,) = matched[~matched.exact].differences  # the lr=0.05 group: the protocol only
    assert protocol == ["lr: 0.05 vs 0.1"]
    other = dataclasses.replace(p, id="other", bench={**p.bench, "params": {**p.bench["params"], "mem_size": 200}})
    assert refs.published_for_groups(store, g, [other]).empty  # another buffer size: no match
    rate = refs.throughput(store, strategy="replay", benchmark="split-mnist")
    assert rate.runs.sum() == 4 and (rate.images_per_s > 0).all()  # the quick run's rate is not a full run's


# -- the command ---------------------------------------------------------------------------------------------------
def test_reproduce_list_json_gives_every_preset_its_value_source_and_what_it_lacks(capsys):
    assert main(["reproduce", "--list", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) >= 20
    for it in items:
        assert isinstance(it["reference"]["value"], float) and it["source_label"] and it["source"]["commit"]
        assert it["runnable"] == (not it["missing"])
    by_id = {it["id"]: it for it in items}
    assert by_id[MNIST_PRESET]["runnable"] and not by_id["mammoth-xder-seq-cifar100-500"]["runnable"]


def test_reproduce_refuses_an_unknown_preset_and_one_the_bench_cannot_run(tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    assert main(["reproduce", "nope", "--store", str(store)]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "mammoth-xder-seq-cifar100-500", "--store", str(store)]) == 2
    assert "strategy 'xder' is not in the bench" in capsys.readouterr().err
    assert main(["reproduce", MNIST_PRESET, "--data-dir", str(tmp_path), "--store", str(store)]) == 2
    assert "dataset files not found" in capsys.readouterr().err
    assert not Store(store).query("SELECT * FROM runs").shape[0]  # nothing queued


def test_a_quick_run_in_process_gives_reference_and_delta(mnist_dir, monkeypatch, tmp_path):
    """The command's pieces in this process: the quick configs run by the runner, the summary against the reference."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    p = get_preset(MNIST_PRESET)
    store = Store(tmp_path / "s.duckdb")
    results = [run(c, store=store) for c in launch.configs(p, seeds=[0, 1], data_dir=mnist_dir, quick_run=True)]
    out = summary(p, results)
    accs = [r["metrics"]["acc"] for r in results]
    assert out["result"]["n"] == 2 and out["result"]["mean"] == pytest.approx(np.mean(accs))
    assert out["delta"] == pytest.approx(100 * np.mean(accs) - 86.12)
    assert out["status"].startswith(("within", "off by"))
    from bench.results import queries as q

    assert refs.published_for_groups(store, q.groups(store), [p]).empty  # quick runs' groups match no preset
    assert refs.preset_results(store, [p]).n.tolist() == [0]


@pytest.mark.slow
def test_reproduce_quick_end_to_end_on_the_test_files(mnist_dir, tmp_path):
    store = tmp_path / "s.duckdb"
    env = {**__import__("os").environ, "BENCH_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-m", "bench", "reproduce", MNIST_PRESET, "--quick", "--seeds", "0,1",
                          "--workers", "1",
                          "--data-dir", mnist_dir, "--store", str(store), "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["quick"] and data["sweep_id"].startswith("reproduce-quick:" + MNIST_PRESET)
    assert [r["status"] for r in data["runs"]] == ["finished", "finished"]
    assert data["reference"]["value"] == 86.12 and data["reference"]["source"]["commit"].startswith("7ab9db9")
    mean = data["result"]["mean"]
    assert data["delta"] == pytest.approx(100 * mean - 86.12)
    rows = Store(store).query("SELECT sweep_id, status FROM runs")
    assert len(rows) == 2 and set(rows.sweep_id) == {data["sweep_id"]}  # in the store like any other runs


def test_the_reference_chart_draws_bars_with_error_rules_and_a_marker_per_published_value():
    import pandas as pd

    from bench.plots.charts import series_table
    from bench.plots.reference import acc_reference_chart

    groups = pd.DataFrame({"group_id": ["g1", "g2"], "strategy": ["replay", "der"],
                           "config_json": [json.dumps({"benchmark": "split-mnist"})] * 2})
    series = series_table(groups)
    acc = pd.DataFrame({"series": ["replay", "der"], "mean": [0.8, 0.9], "std": [0.01, None]})
    pub = pd.DataFrame({"series": ["replay"], "published": [0.8612], "preset": [MNIST_PRESET],
                        "source": ["aimagelab/mammoth README.md @ 7ab9db9"], "exact": [True]})
    spec = acc_reference_chart(acc, pub, series).to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["bar", "rule", "point"] and spec["layer"][2]["mark"]["shape"] == "diamond"
    rows = next(iter(spec["datasets"].values()))
    published = [r for r in rows if r["layer"] == "published"]
    assert published == [{**published[0], "published": 0.8612, "match": "same recipe", "series": "replay"}]
    bars = {r["series"]: (r["lo"], r["hi"]) for r in rows if r["layer"] == "bench"}
    assert bars == {"replay": (0.79, 0.81), "der": (0.9, 0.9)}  # a single seed: no error bar
