"""The Reproduce page and the published value on Compare in a real browser, on a store seeded with real runs of a
preset's recipe (MNIST files in torchvision's format, written here)."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from e2e_helpers import CHROMIUM, StreamlitServer, no_exceptions, screenshot, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PRESET = "der-er-seq-mnist-500"
CHART = "[data-testid='stVegaLiteChart']"


def cells(page) -> list[str]:
    return [c.text_content() or "" for c in page.locator("[data-testid='stDataFrame'] [role='gridcell']").all()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_torchvision_sets import write_mnist

    from bench.reproduce import mapping
    from bench.reproduce.presets import get_preset
    from bench.results.store import Store
    from bench.train.runner import run

    home = tmp_path_factory.mktemp("reproduce-e2e")
    write_mnist(home / "data")
    store = Store(home / "bench.duckdb")
    for seed, change in ((0, {}), (1, {}), (0, {"lr": 0.05})):
        cfg = dataclasses.replace(mapping.to_config(get_preset(PRESET), seed=seed, data_dir=str(home / "data")),
                                  **change)
        assert run(cfg, store=store)["status"] == "finished"
    srv = StreamlitServer(home / "bench.duckdb", home / "server.log")
    srv.start()
    try:
        yield srv, store
    finally:
        srv.stop()


def test_the_reproduce_page_lists_the_presets_with_the_benchs_result(server, page):
    srv, _ = server
    page.goto(srv.url + f"/reproduce?preset={PRESET}")
    page.get_by_text("Reproduce published results").first.wait_for()
    wait_until(lambda: any("(2 seeds)" in c for c in cells(page)), timeout=60, what="the bench's result for the preset")
    shown = cells(page)
    assert "86.12 %" in shown and "mammoth-xder-seq-cifar100-500" in shown and "cannot run yet" in shown
    page.get_by_text("Published: 86.12 %").first.wait_for()
    assert page.get_by_role("button", name="Start 3 runs").count() == 1
    no_exceptions(page)
    screenshot(page, "20-reproduce")


def test_compare_shows_the_published_value_as_a_column_and_a_marker(server, page):
    srv, store = server
    from bench.results import queries as q

    g = q.groups(store)
    replay = [gid for gid, c in zip(g.group_id, g.config_json, strict=True) if json.loads(c)["strategy"] == "replay"]
    page.goto(srv.url + "/?groups=" + ",".join(replay))
    page.get_by_text("ACC against published results").first.wait_for()
    wait_until(lambda: page.locator(CHART).count() >= 5, timeout=60, what="the charts, the ACC marker chart included")
    wait_until(lambda: sum(c.startswith(f"0.8612 ({PRESET}") for c in cells(page)) == 2, timeout=30,
               what="the published value beside both groups")
    assert any("same recipe" in c for c in cells(page)) and any("differs in lr" in c for c in cells(page))
    no_exceptions(page)
    screenshot(page, "21-compare-published")
