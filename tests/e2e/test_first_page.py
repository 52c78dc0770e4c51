"""A cold server's first page: how long a newcomer waits from navigation to the first chart (Compare, on a store with
runs) or the first button (an empty store's welcome), and that no page that only reads the store loads torch.

The times are printed (and written to test-artifacts/first-page.txt), not asserted: they depend on the machine."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from e2e_helpers import CHROMIUM, SHOTS, StreamlitServer, no_exceptions, screenshot

from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHART = "[data-testid='stVegaLiteChart']"


def _server(tmp_path: Path, name: str, seed_runs: bool) -> StreamlitServer:
    store_path = tmp_path / f"{name}.duckdb"
    if seed_runs:
        store = Store(store_path)
        for strategy in ("naive", "replay"):
            run(RunConfig(benchmark="split-digits", scenario="class", strategy=strategy, epochs=1), store=store)
    server = StreamlitServer(store_path, tmp_path / f"{name}.log")
    server.start()
    return server


def _torch_loaded(server: StreamlitServer) -> bool:
    """Whether the server process has torch's shared library mapped (read from /proc, as the OS sees it)."""
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    return "libtorch" in maps


@pytest.mark.parametrize("seed_runs", [True, False], ids=["compare-with-runs", "empty-store-welcome"])
def test_a_cold_servers_first_page_is_quick_and_loads_no_torch(browser, tmp_path, seed_runs):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    server = _server(tmp_path, "cold", seed_runs)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        t0 = time.monotonic()
        page.goto(server.url + "/")
        if seed_runs:
            page.locator(CHART).first.wait_for(timeout=120_000)
            what = "the first chart of Compare"
        else:
            page.get_by_role("button", name="Run the one-minute demo").wait_for(timeout=120_000)
            what = "the demo button of the welcome page"
        seconds = time.monotonic() - t0
        line = f"cold server, navigation to {what}: {seconds:.2f} s"
        print("\n" + line)
        SHOTS.parent.mkdir(parents=True, exist_ok=True)
        with open(SHOTS.parent / "first-page.txt", "a") as fh:
            fh.write(line + "\n")
        no_exceptions(page)
        screenshot(page, f"first-page-{'compare' if seed_runs else 'welcome'}")
        assert not _torch_loaded(server), "the server loaded torch to draw a page that only reads the store"
        ctx.close()
    finally:
        server.stop()
