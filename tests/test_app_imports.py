"""AppTest: imported runs beside trained ones on Compare, Runs and Run detail, and the report downloads."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from apphelp import charts, open_app
from test_imports import table_rows

from bench.results import importers
from bench.results import queries as q
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

pytestmark = pytest.mark.usefixtures("fresh_streamlit", "no_pool")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """A trained naive run and an imported ewc run of the same stream and scenario."""
    root = tmp_path_factory.mktemp("mixed")
    store = Store(root / "mixed.duckdb")
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1,
                    benchmark_params={"n_experiences": 3})
    assert run(cfg, store=store)["status"] == "finished"
    pd.DataFrame(table_rows(run="ewc-seed0", strategy="ewc")).to_csv(root / "ewc.csv", index=False)
    importers.save(store, importers.prepare(importers.load("table", str(root / "ewc.csv")), tool="table",
                                            benchmark="split-digits", scenario="class"))
    return root / "mixed.duckdb"


@pytest.fixture
def store(mixed, tmp_path, monkeypatch) -> Store:
    path = tmp_path / "copy.duckdb"
    shutil.copy(mixed, path)
    monkeypatch.setenv("BENCH_STORE", str(path))
    return Store(path)


def test_compare_charts_an_imported_run_beside_a_trained_one(store):
    at = open_app()  # no selection: the latest comparison holds both (same stream and scenario)
    table = at.dataframe[0].value.set_index("Strategy")
    assert list(table.index) == ["naive", "ewc (imported)"]
    assert table.loc["ewc (imported)", "Seeds"] == 1
    assert float(table.loc["ewc (imported)", "ACC"]) == pytest.approx(sum(table_rows()[-3 + j]["accuracy"]
                                                                          for j in range(3)) / 3, abs=1e-3)
    assert table.loc["ewc (imported)", "Time (s)"] == "n/a"
    retention, matrices, forgetting, *_ = charts(at)
    assert retention["spec"]["layer"][1]["encoding"]["color"]["scale"]["domain"] == ["naive", "ewc (imported)"]
    assert matrices["facet"]["field"] == "series"
    cells = pa.ipc.open_stream(at.get("vega_lite_chart")[1].proto.datasets[0].data.data).read_all().to_pandas()
    assert cells.groupby("series").size().to_dict() == {"naive": 9, "ewc (imported)": 9}  # two 3x3 matrices
    assert forgetting["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["naive", "ewc (imported)"]
    assert any("Imported runs are drawn against what their files count (step)" in c.value for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Report (HTML)", "Table (LaTeX)", "Table (Markdown)"} <= set(labels)


def test_runs_lists_the_imported_run_as_imported_and_keeps_it_from_bulk_deletes(store):
    at = open_app("pages/runs.py")
    table = at.dataframe[0].value.set_index("Strategy")
    assert table.loc["ewc", "Status"] == "imported" and table.loc["ewc", "Progress"] == 1.0
    assert any("1 finished" in c.value and "1 imported" in c.value for c in at.caption)
    bulk = [b for b in at.button if b.key == "runs.delete.bad"][0]
    assert bulk.label.startswith("Delete all 0 ")  # imported results are not 'failed, cancelled or interrupted'


def test_run_detail_of_an_imported_run_says_where_it_came_from(store):
    rid = q.runs(store).query("strategy == 'ewc'").run_id.iloc[0]
    at = open_app("pages/run_detail.py", {"id": rid})
    assert any(i.value.startswith("Imported from ") and "ewc.csv (table)" in i.value for i in at.info)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["ACC"]) == pytest.approx(q.run_result(store, rid)["metrics"]["acc"], abs=1e-3)
    assert len(charts(at)) == 2  # the matrix and retention; the table has no training curve
