"""The Ray executor against a real local Ray instance: same numbers as local runs, rows relayed into the
store, a failing task and a cancelled one."""
import time

import pytest

from bench.execute import jobs
from bench.results.queries import run_result
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    from bench.execute.ray_cluster import init

    init(num_cpus=2)
    yield
    ray.shutdown()


def test_ray_runs_match_local_runs_and_failures_are_recorded(local_ray, tmp_path):
    from bench.execute.ray_cluster import run_ray

    store = Store(tmp_path / "ray.duckdb")
    ok = RunConfig(benchmark="split-digits", scenario="class", strategy="replay", epochs=1, seed=7)
    bad = RunConfig(benchmark="split-digits", scenario="class", strategy="ewc", epochs=2, grad_clip=0.0,
                    params={"ewc_lambda": 1e7})
    ids = jobs.submit([ok, bad], store=store)
    ended = list(run_ray(store, ids))
    assert sorted(ended) == sorted(ids)
    good, failed = run_result(store, ids[0]), run_result(store, ids[1])
    assert good["status"] == "finished" and failed["status"] == "failed"
    assert "loss became" in failed["error"]
    assert good["device"] and good["device"] == failed["device"]  # every Ray run names its device, failed ones too
    local = run(ok, store=Store(tmp_path / "local.duckdb"))
    assert good["accuracy_matrix"] == local["accuracy_matrix"]  # same seed, same numbers, wherever it ran
    n_dense = store.query("SELECT count(*) AS n FROM evaluations WHERE run_id = ? AND kind = 'dense'", [ids[0]]).n[0]
    assert n_dense > 0


def test_ray_cancel_stops_that_run_only(local_ray, tmp_path):
    from bench.execute.ray_cluster import RayDriver

    store = Store(tmp_path / "ray.duckdb")
    long = RunConfig(benchmark="split-mnist-lite", scenario="class", strategy="naive", epochs=200, eval_every=500)
    quick = RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1)
    long_id, quick_id = jobs.submit([long, quick], store=store)
    driver = RayDriver(store)
    try:
        assert driver.submit(long_id) and driver.submit(quick_id)
        ended, deadline = set(), time.monotonic() + 240
        cancelled_at = None
        while driver.refs and time.monotonic() < deadline:
            ended.update(driver.step())
            row = store.run_row(long_id)
            if cancelled_at is None and row["status"] == "running" and (row["iteration"] or 0) > 0:
                assert jobs.cancel(store, long_id) == "running"
                cancelled_at = time.monotonic()
    finally:
        driver.close()
    assert ended == {long_id, quick_id}
    assert store.run_row(long_id)["status"] == "cancelled"
    assert store.run_row(quick_id)["status"] == "finished"
