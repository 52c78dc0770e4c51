"""The reliability script end to end: every bad input rejected cleanly, every fault survived, no lost row."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reliability_script_reports_all_clean():
    p = subprocess.run([sys.executable, "scripts/reliability.py", "--minutes", "0.1", "--writers", "3",
                        "--readers", "2", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0, p.stdout[-2000:]
    assert out["ok"] and out["rejected"] == out["bad_inputs"] >= 60
    assert out["bad_imports_rejected"] == out["bad_imports"] >= 25  # kinds of bad import file (scripts/bad_imports.py)
    assert out["own_rejected"] == out["own_kinds"] >= 15  # bad own data and bad plugins
    assert out["faults_survived"] == 3 and out["faults_broken"] == 0
    load = out["load"]
    assert load["rows_written"] == load["rows_read"] == load["distinct_rows"] > 0 and load["reader_errors"] == 0
