"""Helpers of the AppTest suites (tests/test_app_*.py): open a page of the real app, read its charts."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_app(page: str | None = None, query: dict | None = None, **state) -> AppTest:
    """The app at `page` (None: the default page, Compare) with `query` in its URL. `state` presets session
    state before the first run (AppTest runs a switched-to page without the sidebar, so the sidebar's settings
    are given this way)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    if page:
        at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def chart_rows(at: AppTest, i: int) -> int:
    return sum(pa.ipc.open_stream(d.data.data).read_all().num_rows for d in at.get("vega_lite_chart")[i].proto.datasets)
