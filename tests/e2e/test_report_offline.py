"""`python -m bench report --out report.html` on a store with a trained and an imported run writes a file that
Chromium opens with its charts while every network request is blocked (and none is made)."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from e2e_helpers import ROOT, SHOTS

from bench.results import importers
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_report_opens_offline_with_its_charts(browser, tmp_path):
    store = Store(tmp_path / "bench.duckdb")
    assert run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1,
                         benchmark_params={"n_experiences": 3}), store=store)["status"] == "finished"
    R = [[0.9, 0.1, 0.0], [0.5, 0.8, 0.2], [0.3, 0.6, 0.7]]
    rows = [dict(run="ewc", strategy="ewc", seed=0, step=10 * (i + 1), trained_experience=i, eval_experience=j,
                 accuracy=R[i][j]) for i in range(3) for j in range(3)]
    pd.DataFrame(rows).to_csv(tmp_path / "ewc.csv", index=False)
    importers.save(store, importers.prepare(importers.load("table", str(tmp_path / "ewc.csv")), tool="table",
                                            benchmark="split-digits", scenario="class"))
    out = tmp_path / "report.html"
    env = {**os.environ, "BENCH_STORE": str(store.path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench", "report", "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    page = browser.new_page()
    blocked: list[str] = []

    def gate(route):
        if route.request.url == out.as_uri():
            route.continue_()
        else:  # the network, and any other file: a self-contained report needs neither
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", gate)
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    assert blocked == []
    charts = page.locator("figure svg")
    assert charts.count() == 4  # retention, accuracy matrices, forgetting, per-class recall (the trained run's)
    for k in range(charts.count()):
        box = charts.nth(k).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100
        assert charts.nth(k).locator("path, rect, line").count() > 5  # drawn marks, not an empty frame
    strategies = page.locator("table.summary tbody td:first-child").all_inner_texts()
    assert strategies == ["naive", "ewc (imported)"]
    assert page.locator("details").count() == 2 and "python -m bench import table" in page.content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report-offline.png"), full_page=True)
    page.close()
