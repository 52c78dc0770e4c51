#!/usr/bin/env bash
# Install everything the tests need (the project with its test extras, Debian's chromium for the browser tests) and
# run them. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow and not e2e"` for the quick subset.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
python -m pip install -q -r requirements-dev.txt
# Two pytest-xdist workers (BENCH_TEST_WORKERS to change; 0 runs everything in this process): a test module stays on
# one worker, the browser tests share one, the Ray tests another (tests/conftest.py groups them).
exec python -m pytest -n "${BENCH_TEST_WORKERS:-2}" --dist loadgroup "$@"
