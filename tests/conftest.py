"""Fixtures shared by the test suites."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Pretrained backbones (micro-vit) are cached where the tests choose, not in the user's home: one directory of the
# checkout (git-ignored), kept between sessions so that the pretraining happens once per checkout.
os.environ.setdefault("BENCH_CACHE_DIR", str(Path(__file__).resolve().parent.parent / "test-artifacts" / "cache"))


# Modules whose runs are shared through the session fixture `shared_runs`: one xdist worker runs them all.
SHARED_RUN_MODULES = ("test_strategies", "test_effects")
# Modules that start a local Ray instance: one worker runs them in turn (two instances at once double the memory).
RAY_MODULES = ("test_plugins", "test_ray", "test_resume", "test_tune_engine")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the node ids
def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist's `--dist loadgroup` (scripts/test.sh runs two workers): a test module stays on one
    worker (its module-scoped fixtures, a seeded store, are built once), the browser tests share one worker (they
    start an app server each session, and two at once would fight over the two cores), and so do the modules that
    share `shared_runs`, and those that start Ray. Without xdist the marks do nothing."""
    for item in items:
        path = Path(str(item.fspath))
        if "e2e" in path.parts:
            group = "e2e"
        elif path.stem in SHARED_RUN_MODULES:
            group = "shared_runs"
        elif path.stem in RAY_MODULES:
            group = "ray"
        else:
            group = path.stem
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def fresh_streamlit():
    """Streamlit's caches emptied, so one AppTest's cached store or query does not leak into the next."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield


@pytest.fixture
def no_pool(monkeypatch) -> list:
    """The detached worker pool stays out of AppTests: `ensure_pool` records the store it was asked for."""
    from bench.execute import jobs

    calls: list = []
    monkeypatch.setattr(jobs, "ensure_pool", lambda s, **kw: calls.append(s.path) or {"pid": 0, "workers": 1})
    return calls


@pytest.fixture
def store_copy(seeded, tmp_path, monkeypatch):
    """A private copy of the module's `seeded` store file, selected through $BENCH_STORE like the app does."""
    from bench.results.store import Store

    path = tmp_path / "copy.duckdb"
    shutil.copy(seeded, path)
    monkeypatch.setenv("BENCH_STORE", str(path))
    return Store(path)


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """Runs several test modules need (tests/test_strategies.py, tests/test_effects.py), in one store: each distinct
    config trains once per session. `shared_runs.run(cfg)` returns the runner's result dict."""
    from bench.registry import validate
    from bench.results.store import Store
    from bench.train.runner import run

    class Runs:
        def __init__(self, store: Store) -> None:
            self.store = store
            self.results: dict[str, dict] = {}

        def run(self, cfg):
            cfg = validate(cfg)
            key = cfg.config_key()
            if key not in self.results:
                self.results[key] = run(cfg, store=self.store)
            return self.results[key]

    return Runs(Store(tmp_path_factory.mktemp("shared-runs") / "runs.duckdb"))
