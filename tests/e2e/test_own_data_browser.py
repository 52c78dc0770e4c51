"""Your own data in a real browser: pick image-folder in the Launch form, type the folder's path, see the preview
(classes, experiences, sample images), start the runs, and find them finished in the store."""
from __future__ import annotations

import os

import pytest
from e2e_helpers import ROOT, StreamlitServer, no_exceptions, screenshot, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def own_server(tmp_path, monkeypatch):
    """A server of its own, whose allowed data root is this test's folder (the shared server's is not)."""
    from e2e_helpers import CHROMIUM

    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    monkeypatch.setenv("BENCH_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_PLUGINS", str(ROOT / "examples" / "my_strategy.py"))
    server = StreamlitServer(tmp_path / "own.duckdb", tmp_path / "server.log")
    server.start()
    yield server
    from bench.execute.jobs import stop_pool
    from bench.results.store import Store

    if server.store_path.exists():
        stop_pool(Store(server.store_path))
    server.stop()


def test_the_launch_form_previews_an_image_folder_and_its_runs_finish(own_server, page, tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from own_data import image_folder

    from bench.results import queries as q
    from bench.results.store import Store

    root = image_folder(tmp_path / "shapes", classes=4, per_class=8, names=["circle", "cross", "ring", "star"])
    page.goto(own_server.url + "/launch")
    page.get_by_text("1. Task stream and scenario").wait_for()
    page.get_by_role("checkbox", name="l2_anchor (plugin)").wait_for()  # the example plugin, marked
    page.get_by_role("combobox", name="Task stream").click()
    page.get_by_role("option", name="image-folder").click()
    path = page.get_by_role("textbox", name="path")
    path.wait_for()
    path.fill(str(root))
    path.press("Enter")
    page.get_by_text("32 images in 4 classes, 12x12 grey: 2 experiences").wait_for()
    assert page.get_by_text("circle, cross, ring, star").count() >= 1
    samples = page.locator("[data-testid='stMain'] [data-testid='stImage'] img")
    wait_until(lambda: samples.count() == 4, timeout=30, what="4 sample images")
    assert page.locator("[data-testid='stDataFrame']").count() == 1
    no_exceptions(page)
    screenshot(page, "own-data-preview")

    epochs = page.get_by_role("spinbutton", name="epochs")
    epochs.fill("2")
    epochs.press("Enter")
    wait_until(lambda: epochs.input_value() == "2", timeout=10, what="epochs = 2")
    page.get_by_role("button", name="Start 2 runs").click()
    page.get_by_role("link", name="Open their comparison").wait_for()
    store = Store(own_server.store_path)
    wait_until(lambda: q.status_counts(store).get("finished") == 2, timeout=300, what="both runs finished")
    runs = q.runs(store)
    assert set(runs.benchmark) == {"image-folder"} and set(runs.strategy) == {"naive", "replay"}
