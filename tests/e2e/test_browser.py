"""The app in a real browser: the first-visit demo, a launch → runs → shared-comparison round trip, every page."""
from __future__ import annotations

import re
import time
import urllib.parse
from pathlib import Path

import pytest
from e2e_helpers import SHOTS, no_exceptions, screenshot, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHART = "[data-testid='stVegaLiteChart']"


def charts_ready(page, n: int) -> bool:
    return page.locator(CHART).count() >= n and page.locator("[data-testid='stProgress']").count() == 0


def table_cells(page) -> list[str]:
    return [c.text_content() or "" for c in page.locator("[data-testid='stDataFrame'] [role='gridcell']").all()]


def test_a_link_straight_to_a_page_of_a_fresh_server_gets_the_router(app_server, page):
    url, _ = app_server  # nobody has opened the app yet: Streamlit would serve pages/learn.py on its own
    page.goto(url + "/learn?lesson=replay")
    page.get_by_text("3. How much replay is enough?").nth(1).wait_for()
    nav = page.locator("[data-testid='stSidebarNav']")
    wait_until(lambda: "Run detail" in nav.inner_text(), timeout=30, what="the router's navigation")
    assert page.get_by_text("Workers:").count() == 1 and "lesson=replay" in page.url
    no_exceptions(page)


def test_the_demo_goes_from_an_empty_store_to_charts(app_server, page):
    url, _ = app_server
    page.goto(url + "/")
    button = page.get_by_role("button", name="Run the one-minute demo")
    button.wait_for(timeout=120_000)
    screenshot(page, "00-welcome")
    t0 = time.monotonic()
    button.click()
    page.get_by_text("runs done").first.wait_for(timeout=90_000)  # the pool starts cold: torch and Avalanche import
    screenshot(page, "01-demo-running")
    wait_until(lambda: charts_ready(page, 4), timeout=300, what="the demo's charts")
    seconds = time.monotonic() - t0
    (SHOTS.parent / "demo-seconds.txt").write_text(f"{seconds:.1f}\n")
    print(f"\ndemo: click to charts in {seconds:.1f} s")
    no_exceptions(page)
    wait_until(lambda: {"naive", "ewc", "replay"} <= set(table_cells(page)), timeout=30,
               what="the summary table's rows (its grid fills in after the charts)")
    assert "groups=" in page.url
    screenshot(page, "02-demo-compare")


def test_launch_two_strategies_watch_them_finish_and_open_the_shared_comparison(app_server, page):
    url, _ = app_server
    page.goto(url + "/launch")
    page.get_by_text("2. Strategies").wait_for()
    assert page.get_by_role("checkbox", name="naive", exact=True).is_checked()
    assert page.get_by_role("checkbox", name="replay", exact=True).is_checked()
    epochs = page.get_by_role("spinbutton", name="epochs")
    epochs.fill("1")
    epochs.press("Enter")
    page.get_by_text("2 runs will start").wait_for()
    wait_until(lambda: epochs.input_value() == "1", timeout=10, what="epochs = 1")
    page.get_by_role("button", name="Start 2 runs").click()
    page.get_by_role("link", name="Open their comparison").wait_for()
    shared = page.get_by_role("link", name=re.compile(r"\?groups=")).get_attribute("href")
    assert shared.startswith(url + "/?groups=")
    groups = urllib.parse.parse_qs(urllib.parse.urlparse(shared).query)["groups"][0].split(",")
    assert len(groups) == 2
    screenshot(page, "03-launch")

    page.goto(url + "/runs")
    page.get_by_role("heading", name="All runs").wait_for()

    def counts() -> str:  # "8 finished", "1 queued · 1 running · 6 finished", ...
        return page.locator("[data-testid='stMain'] [data-testid='stCaptionContainer']").first.inner_text()

    wait_until(lambda: "finished" in counts() and not re.search(r"queued|running", counts()), timeout=240,
               what="both runs to finish on the Runs page")
    no_exceptions(page)
    assert "failed" not in counts() and "interrupted" not in counts()
    wait_until(lambda: "replay" in table_cells(page), timeout=20, what="the runs table")
    screenshot(page, "04-runs")

    page.context.clear_cookies()
    page.goto(shared)  # a fresh visit, as someone the link was sent to
    wait_until(lambda: charts_ready(page, 4), timeout=60, what="the shared comparison")
    no_exceptions(page)
    retention = page.locator(CHART).filter(has=page.locator("text", has_text="Test set of experience 1"))
    assert retention.count() == 1
    wait_until(lambda: {"naive", "replay"} <= set(table_cells(page)), timeout=30, what="the summary table's rows")
    screenshot(page, "05-compare-shared-url")


@pytest.mark.parametrize("path,name,expect", [
    ("/run_detail", "06-run-detail", "Accuracy matrix"),
    ("/learn", "07-learn", "1. Catastrophic forgetting"),
    ("/?groups=not-a-group", "08-compare-bad-link", "Ignored 1 unknown id"),  # then the latest comparison
])
def test_every_page_renders(app_server, page, path, name, expect):
    url, _ = app_server
    page.goto(url + path)
    page.get_by_text(expect).first.wait_for()
    page.wait_for_timeout(1500)
    no_exceptions(page)
    assert page.get_by_text("Workers:").count() == 1  # the shared sidebar
    shot = screenshot(page, name)
    assert Path(shot).stat().st_size > 10_000


def test_run_detail_downloads_charts_and_rows(app_server, browser):
    url, _ = app_server
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(url + "/run_detail")
        page.get_by_text("Accuracy matrix").first.wait_for()
        page.wait_for_timeout(1500)
        magic = {"PNG": b"\x89PNG", "SVG": b"<svg", "CSV": b"run_id,", "Parquet": b"PAR1"}
        for label, head in magic.items():
            with page.expect_download() as download:
                page.get_by_role("button", name=label, exact=True).first.click()
            assert Path(download.value.path()).read_bytes().startswith(head), label
    finally:
        ctx.close()


def test_run_detail_of_a_training_run_updates_itself(app_server, page):
    """Opened while the run is still queued, the page follows it to 'finished' with no reload."""
    from bench.execute import jobs
    from bench.results.store import Store
    from bench.spec.config import RunConfig
    from bench.spec.status import TERMINAL

    url, store_path = app_server
    store = Store(store_path)
    jobs.stop_pool(store)  # the earlier tests' workers would take the run before the page opens
    [rid] = jobs.submit([RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=15)],
                        store=store)
    page.goto(f"{url}/run_detail?id={rid}")
    page.get_by_text("this page updates itself as it trains").wait_for()
    assert page.get_by_text("Status: queued").count() == 1
    jobs.ensure_pool(store)

    def stored_status() -> str:
        return store.run_row(rid)["status"]

    try:
        wait_until(lambda: stored_status() in TERMINAL, timeout=180,
                   what="the run to end in the store")
    except AssertionError as e:
        log = store_path.with_name(store_path.name + ".pool.log")
        raise AssertionError(f"{e}; pool: {jobs.pool_status(store)}; its log ends: "
                             f"{log.read_text()[-1500:] if log.exists() else 'no log'}") from None
    assert stored_status() == "finished", store.run_row(rid).get("error")
    page.get_by_text("Status: finished").wait_for(timeout=60_000)  # no goto, no reload: the page followed
    wait_until(lambda: page.locator(CHART).count() >= 3, timeout=30, what="matrix, retention and loss charts")
    assert page.get_by_text("this page updates itself").count() == 0
    no_exceptions(page)
