"""The Tune page in a real browser, on a store seeded with a search of real trial runs (tests/tune_helpers.py): the
parallel-coordinates chart and the objective against each setting render, and 'launch best' queues the chosen
setting's runs on the whole stream."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from e2e_helpers import CHROMIUM, StreamlitServer, no_exceptions, screenshot, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHART = "[data-testid='stVegaLiteChart']"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tune_helpers import seed_search

    from bench.execute.jobs import stop_pool
    from bench.results.store import Store

    home = tmp_path_factory.mktemp("tune-e2e")
    store = Store(home / "bench.duckdb")
    tune_id = seed_search(store)
    srv = StreamlitServer(home / "bench.duckdb", home / "server.log")
    srv.start()
    try:
        yield srv, store, tune_id
    finally:
        stop_pool(store)
        srv.stop()


def test_the_tune_page_draws_the_search_and_launch_best_queues_its_runs(server, page):
    srv, store, tune_id = server
    from bench.results import queries as q
    from bench.results import tunes as T

    page.goto(srv.url + f"/tune?tune={tune_id}")
    page.get_by_text("Parallel coordinates", exact=False).first.wait_for()
    wait_until(lambda: page.locator(f"{CHART} canvas, {CHART} svg").count() >= 2, timeout=60,
               what="the parallel coordinates and the objective-by-setting charts")
    box = page.locator(CHART).first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 200
    page.get_by_text("Chosen setting").first.wait_for()
    no_exceptions(page)
    screenshot(page, "30-tune")
    before = set(q.runs(store).run_id)
    page.get_by_role("button", name="Launch best with 3 seeds").click()
    page.get_by_text("Queued 3 runs of the chosen setting").first.wait_for()

    def new_runs():
        runs = q.runs(store)
        return len(runs[~runs.run_id.isin(before)]) == 3

    wait_until(new_runs, timeout=30, what="three new runs in the store")
    new = q.runs(store)
    new = new[~new.run_id.isin(before)]
    setting = json.loads(T.tune_row(store, tune_id)["best_setting_json"])
    assert sorted(new.seed) == [1, 2, 3] and new.group_id.nunique() == 1
    for cfg in map(json.loads, new.config_json):
        assert cfg["lr"] == setting["lr"] and cfg["first_experiences"] == 0
    page.get_by_role("link", name="Open them on Compare").first.wait_for()
    no_exceptions(page)
