"""Faults while runs train: the Streamlit server SIGKILLed and restarted, and the worker pool SIGKILLed.

Nothing may be shown as running forever and nothing may be lost: after the server comes back every run
reaches 'finished' with exactly the rows the same config stores when run in-process; a run whose worker
pool died is shown as 'interrupted' (the Runs page's poll reaps it)."""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from e2e_helpers import CHROMIUM, StreamlitServer, no_exceptions, screenshot, wait_until

from bench.execute import jobs
from bench.results.store import Store
from bench.spec.config import RunConfig

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TABLES = ("evaluations", "class_recall", "train_curve", "run_metrics")
# long enough (tens of seconds on two busy cores) for the kill to land while they train
CONFIGS = [RunConfig(benchmark="split-digits", scenario="class", strategy=name, epochs=20, seed=seed)
           for name, seed in (("naive", 0), ("replay", 0), ("naive", 1))]


def statuses(store: Store, run_ids: list[str]) -> dict[str, tuple[str, int]]:
    df = store.query("SELECT run_id, status, coalesce(iteration, 0) AS it FROM runs WHERE list_contains(?, run_id)",
                     [run_ids])
    return {r.run_id: (r.status, int(r.it)) for r in df.itertuples()}


def row_counts(store: Store, run_id: str) -> dict[str, int]:
    return {t: int(store.query(f"SELECT count(*) AS n FROM {t} WHERE run_id = ?", [run_id]).n[0]) for t in TABLES}


def counts_caption(page) -> str:  # "1 queued · 2 running", "3 finished", ...
    return page.locator("[data-testid='stMain'] [data-testid='stCaptionContainer']").first.inner_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    home = tmp_path_factory.mktemp("restart")
    srv = StreamlitServer(home / "bench.duckdb", home / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        jobs.stop_pool(Store(srv.store_path))


def test_killing_the_server_while_runs_train_loses_nothing(server, page, tmp_path):
    store = Store(server.store_path)
    run_ids = jobs.submit(CONFIGS, store=store)
    page.goto(server.url + "/runs")
    page.get_by_role("heading", name="All runs").wait_for()
    page.get_by_role("button", name="Start the workers").click()  # the pool starts from the server process
    wait_until(lambda: jobs.pool_status(store), timeout=30, what="the worker pool")
    wait_until(lambda: any(st == "running" and it > 0 for st, it in statuses(store, run_ids).values()),
               timeout=120, what="a run to be training")
    page.get_by_text("running").first.wait_for()
    screenshot(page, "restart-01-before-server-kill")

    server.kill()
    before = statuses(store, run_ids)
    assert any(st == "running" for st, _ in before.values()), before  # the kill landed while runs trained
    wait_until(lambda: statuses(store, run_ids) != before, timeout=60, what="progress without the server")
    assert jobs.pool_status(store), "the worker pool died with the server"
    try:  # the open tab notices the dead server
        page.get_by_text(re.compile("Connection error|Connecting", re.I)).first.wait_for(timeout=20_000)
    except Exception:  # noqa: BLE001  (the wording is Streamlit's; the screenshot shows what it was)
        pass
    screenshot(page, "restart-02-server-gone")

    server.start()
    page.goto(server.url + "/runs")
    page.get_by_role("heading", name="All runs").wait_for()
    wait_until(lambda: re.fullmatch(r"3 finished", counts_caption(page)), timeout=300,
               what=f"every run to finish on the Runs page (last: {counts_caption(page)!r})")
    no_exceptions(page)
    # the caption and the "In progress" block are drawn by one fragment run; until that run ends, Streamlit keeps the
    # previous run's elements on the page (stale), so the block may outlive the new caption by a moment
    wait_until(lambda: page.get_by_text("In progress").count() == 0, timeout=10,
               what="the 'In progress' block to go once every run finished")
    screenshot(page, "restart-03-after-restart-all-finished")
    assert {st for st, _ in statuses(store, run_ids).values()} == {"finished"}

    from bench.train.runner import run  # the same configs in-process, into another store: same seed -> same rows

    ref = Store(tmp_path / "reference.duckdb")
    for run_id, cfg in zip(run_ids, CONFIGS, strict=True):
        result = run(cfg, store=ref)
        assert result["status"] == "finished"
        got, want = row_counts(store, run_id), row_counts(ref, result["run_id"])
        assert got == want and want["evaluations"] > 0, (cfg.strategy, cfg.seed, got, want)


def test_a_killed_worker_pool_shows_its_run_as_interrupted(server, page):
    store = Store(server.store_path)
    # max_resumes=0: a run whose process died is otherwise re-queued at once to resume from its checkpoint
    # (tests/test_resume.py); here it must stay interrupted for the page to show it
    cfg = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=200, seed=7, max_resumes=0)
    (run_id,) = jobs.submit([cfg], store=store)
    pool = jobs.ensure_pool(store)  # the pool of the first test, still up after the server's restart
    page.goto(server.url + "/runs")
    page.get_by_role("heading", name="All runs").wait_for()
    wait_until(lambda: statuses(store, [run_id])[run_id][1] > 0, timeout=120, what="the run to be training")
    page.get_by_text("1 running").first.wait_for()
    screenshot(page, "restart-04-before-pool-kill")

    # The daemon was started in its own session, so its process group is the daemon and its workers: SIGKILL
    # them all, as a crash or the OOM killer would (workers also die with their daemon: PR_SET_PDEATHSIG).
    assert os.getpgid(pool["pid"]) == pool["pid"]
    os.killpg(pool["pid"], signal.SIGKILL)
    wait_until(lambda: not jobs.pid_alive(pool["pid"]), timeout=10, what="the pool daemon to die")
    wait_until(lambda: "1 interrupted" in counts_caption(page), timeout=30,
               what=f"the Runs page to show the run interrupted (last: {counts_caption(page)!r})")
    assert statuses(store, [run_id])[run_id][0] == "interrupted"
    assert "running" not in counts_caption(page)
    # nothing active any more (the progress block may go one fragment refresh after the counts caption)
    wait_until(lambda: page.get_by_text("In progress").count() == 0, timeout=15, what="the progress block to go")
    no_exceptions(page)
    sidebar = page.locator("[data-testid='stSidebar']")  # its pool state polls too
    wait_until(lambda: "Workers: none yet" in sidebar.inner_text() and "training now" not in sidebar.inner_text(),
               timeout=30, what="the sidebar to show that no pool runs")
    screenshot(page, "restart-05-pool-killed-run-interrupted")
    assert jobs.pool_status(store) is None
