"""Helpers of the browser tests (kept out of conftest.py so that tests can import them by a unique name)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"


def screenshot(page, name: str) -> Path:
    """The whole page (Streamlit scrolls inside its main block, so the viewport grows to fit it)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": 1400, "height": max(800, min(int(height), 10_000))})
    page.wait_for_timeout(1200)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path
