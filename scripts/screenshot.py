"""Regenerate the README's screenshot: the demo comparison (naive, EWC, replay; 2 seeds) on the Compare page.

    python scripts/screenshot.py [--out docs/compare.png]
Needs Debian's chromium and Playwright (installed by scripts/test.sh).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.lessons import DEMO
from bench.results.store import Store
from bench.train.runner import run

ROOT = Path(__file__).resolve().parents[1]

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "compare.png"))
    args = ap.parse_args()
    store_path = Path(tempfile.mkdtemp()) / "bench.duckdb"
    store = Store(store_path)
    for cfg in DEMO.configs:
        run(cfg, store=store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BENCH_STORE": str(store_path)}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1700})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("Accuracy matrices").wait_for(timeout=60_000)
            page.wait_for_timeout(3000)
            page.screenshot(path=args.out, clip={"x": 300, "y": 0, "width": 1100, "height": 1700})
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(args.out)


if __name__ == "__main__":
    main()
