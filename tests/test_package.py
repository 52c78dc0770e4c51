"""The engine installs as a package: the wheel holds every module of bench/, each imports from the wheel alone in
another directory, and `python -m bench` and the `cl-bench` script work from there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def repo_modules() -> list[str]:
    out = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory) -> Path:
    """The wheel built from a clean copy of the package's sources (a build in the checkout would leave build/ and
    egg-info behind, and a stale build/ could smuggle removed modules into the wheel)."""
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"
    shutil.copytree(ROOT / "bench", src / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True, cwd=out)
    (wheel,) = out.glob("cl_bench-*.whl")
    unpacked = out / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    return unpacked


def _python(code: str, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow  # builds a wheel from a clean copy: about 10 s
def test_the_wheel_holds_every_module_and_each_imports_from_it(wheel_dir, tmp_path):
    in_wheel = sorted(".".join(p.relative_to(wheel_dir).with_suffix("").parts).removesuffix(".__init__")
                      for p in (wheel_dir / "bench").rglob("*.py"))
    assert in_wheel == repo_modules()
    code = ("import importlib, json, sys\n"
            f"mods = {repo_modules()!r}\n"
            "for m in mods: importlib.import_module(m)\n"
            "import bench; print(json.dumps({'file': bench.__file__, 'n': len(mods)}))\n")
    out = _python(code, wheel_dir, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(wheel_dir)) and info["n"] == len(repo_modules())
    # package data: the protocol presets (JSON files) load from the wheel, all of them
    from bench.reproduce.presets import presets

    out = _python("from bench.reproduce.presets import presets; print(len(presets()))", wheel_dir, tmp_path)
    assert out.returncode == 0 and int(out.stdout) == len(presets()) >= 20, out.stderr[-2000:]


def test_python_m_bench_and_the_console_script_work_from_another_directory(wheel_dir, tmp_path):
    out = _python("import sys, runpy; sys.argv = ['bench', 'list', 'strategies', '--json']; "
                  "runpy.run_module('bench', run_name='__main__')", wheel_dir, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "replay" in {s["name"] for s in json.loads(out.stdout)}
    (entry,) = wheel_dir.glob("cl_bench-*.dist-info/entry_points.txt")
    assert "cl-bench = bench.cli:main" in entry.read_text()
