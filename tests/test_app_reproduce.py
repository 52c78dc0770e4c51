"""AppTest of the Reproduce page and of the published value on Compare, against a store seeded with real runs of a
preset's recipe (on MNIST files in torchvision's format, written here)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from apphelp import charts, open_app
from test_torchvision_sets import write_mnist

from bench.reproduce import mapping
from bench.reproduce.presets import get_preset, presets
from bench.results import queries as q
from bench.results.store import Store
from bench.train.runner import run

pytestmark = pytest.mark.usefixtures("fresh_streamlit", "no_pool")
PRESET = "der-er-seq-mnist-500"  # ER, split-mnist, buffer 500: runnable on this bench


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("mnist")
    write_mnist(root)
    return str(root)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, data_dir) -> Path:
    """Two seeds of the preset's exact recipe, one run with another learning rate (same protocol), and a digits run
    that matches no preset."""
    path = tmp_path_factory.mktemp("reproduce") / "seeded.duckdb"
    store = Store(path)
    p = get_preset(PRESET)
    for seed, change in ((0, {}), (1, {}), (0, {"lr": 0.05})):
        cfg = dataclasses.replace(mapping.to_config(p, seed=seed, data_dir=data_dir), **change)
        assert run(cfg, store=store, sweep_id="reproduce:test:1")["status"] == "finished"
    from bench.spec.config import RunConfig

    assert run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1),
               store=store)["status"] == "finished"
    return path


def _groups(store: Store, **where) -> list[str]:
    g = q.groups(store)
    out = []
    for gid, cfg in zip(g.group_id, g.config_json, strict=True):
        c = json.loads(cfg)
        if all(c.get(k) == v for k, v in where.items()):
            out.append(gid)
    return out


def test_reproduce_lists_every_preset_on_an_empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "empty.duckdb"))
    at = open_app("pages/reproduce.py")
    assert [t.value for t in at.title] == ["Reproduce published results"]
    table = at.dataframe[0].value
    assert len(table) == len(presets()) >= 20
    assert set(table.Status) <= {"not run", "cannot run yet"} and "not run" in set(table.Status)
    row = table.set_index("Preset").loc["mammoth-xder-seq-cifar100-500"]
    assert row.Status == "cannot run yet" and "strategy 'xder' is not in the bench" in row["Missing on this bench"]
    assert table.set_index("Preset").loc[PRESET, "Published"] == "86.12 %"
    assert "aimagelab/mammoth README.md @ 7ab9db9" in set(table.Source)


def test_reproduce_shows_the_benchs_mean_the_delta_and_the_status(store_copy):
    at = open_app("pages/reproduce.py", query={"preset": PRESET})
    row = at.dataframe[0].value.set_index("Preset").loc[PRESET]
    accs = q.run_metrics(store_copy, list(q.runs(store_copy).run_id)).query("metric == 'acc'")
    runs = q.runs(store_copy)
    exact = runs[(runs.strategy == "replay") & runs.config_json.str.contains('"lr": 0.1')]
    mine = accs[accs.run_id.isin(exact.run_id)].value
    assert len(mine) == 2
    mean = 100 * mine.mean()
    assert row["Bench (mean ± std)"].startswith(f"{mean:.2f} %") and "(2 seeds)" in row["Bench (mean ± std)"]
    assert row["Δ"] == f"{mean - 86.12:+.2f}"
    assert row.Status == ("within ±3.00 %" if abs(mean - 86.12) <= 3 else f"off by -{86.12 - mean:.2f} %")
    # the chosen preset's recipe, source and deviations, and the start form with what it needs
    assert at.selectbox(key="reproduce.preset").value == PRESET
    md = " ".join(m.value for m in at.markdown)
    assert "Published: 86.12 %" in md and "7ab9db97e3" in md and "Where the bench's run differs" in md
    assert "Needs the dataset files" in md and "no GPU" in md
    captions = " ".join(c.value for c in at.caption)
    assert "0.06 million images" in captions and "trained in" in captions  # measured on its own runs
    assert at.button(key=f"reproduce.start.{PRESET}")


def test_reproduce_start_refuses_a_folder_without_the_files_and_queues_with_them(store_copy, data_dir, tmp_path):
    at = open_app("pages/reproduce.py", query={"preset": PRESET})
    before = len(q.runs(store_copy))
    at.text_input(key=f"reproduce.data.{PRESET}").set_value(str(tmp_path)).run()
    at.button(key=f"reproduce.start.{PRESET}").click().run()
    assert "dataset files not found" in at.error[0].value and len(q.runs(store_copy)) == before
    at.text_input(key=f"reproduce.data.{PRESET}").set_value(data_dir).run()
    at.text_input(key=f"reproduce.seeds.{PRESET}").set_value("5,6").run()
    at.button(key=f"reproduce.start.{PRESET}").click().run()
    assert not at.exception and "Queued 2 runs" in at.success[0].value
    new = q.runs(store_copy).head(2)
    assert set(new.status) == {"queued"} and all(s.startswith(f"reproduce:{PRESET}:") for s in new.sweep_id)
    assert sorted(new.seed) == [5, 6]


def test_reproduce_of_a_preset_the_bench_cannot_run_says_what_is_missing(store_copy):
    at = open_app("pages/reproduce.py", query={"preset": "mammoth-xder-seq-cifar100-500"})
    assert "strategy 'xder' is not in the bench" in at.warning[0].value
    assert not [b for b in at.button if b.key == "reproduce.start.mammoth-xder-seq-cifar100-500"]
    at = open_app("pages/reproduce.py", query={"preset": "mammoth-l2p-seq-cifar100-224"})  # runnable now
    md = " ".join(m.value for m in at.markdown)
    assert "batchwise_prompt" in md  # the task-identity leak is named among the deviations


def test_compare_shows_the_published_value_beside_a_matching_group(store_copy):
    exact = _groups(store_copy, strategy="replay", lr=0.1)
    other = _groups(store_copy, strategy="replay", lr=0.05)
    at = open_app(query={"groups": ",".join(exact + other)})
    table = at.dataframe[0].value
    assert list(table.columns).index("Published ACC (source)") == list(table.columns).index("ACC") + 1
    cells = list(table["Published ACC (source)"])
    assert all(c.startswith(f"0.8612 ({PRESET}: aimagelab/mammoth README.md @ 7ab9db9") for c in cells)
    assert sum("same recipe" in c for c in cells) == 1 and sum("differs in lr" in c for c in cells) == 1
    specs = charts(at)
    marker = [s for s in specs if s.get("title") == "ACC against the published result (red diamond)"]
    assert len(marker) == 1 and len(specs) == 5
    (point,) = [layer for layer in marker[0]["layer"] if layer["mark"]["type"] == "point"]
    assert point["mark"]["shape"] == "diamond" and point["encoding"]["y"]["field"] == "published"
    i = specs.index(marker[0])
    rows = [r for d in at.get("vega_lite_chart")[i].proto.datasets
            for r in pa.ipc.open_stream(d.data.data).read_all().to_pylist()]
    assert sorted(r["published"] for r in rows if r["layer"] == "published") == [0.8612, 0.8612]
    bars = {r["series"]: r["mean"] for r in rows if r["layer"] == "bench"}
    summ = q.summary(store_copy, list(q.runs(store_copy).run_id))
    assert sorted(bars.values()) == pytest.approx(sorted(summ[(summ.metric == "acc") & summ.group_id.isin(
        exact + other)]["mean"].round(4)))


def test_compare_without_a_matching_group_is_unchanged(store_copy):
    digits = _groups(store_copy, benchmark="split-digits")
    at = open_app(query={"groups": ",".join(digits)})
    assert "Published ACC (source)" not in at.dataframe[0].value.columns
    assert len(charts(at)) == 4


def test_the_reproduce_and_compare_views_load_neither_torch_nor_avalanche(store_copy):
    code = ("import sys\nimport ui.reproduce, ui.compare\nfrom bench.results.store import Store\n"
            f"ui.reproduce.table(Store({str(store_copy.path)!r}))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'avalanche', 'torchvision'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
