"""The reliability script's own-data and plugin kinds: each bad folder, bad .npz and bad plugin is run through the
CLI against a store that already holds a run, and must give exit code 2 and one line, and leave the store file, the
decode cache and the data folder exactly as they were. The bad inputs are made by tests/own_data.py, in the real
on-disk formats (PNGs written with PIL, np.savez files, plugin modules)."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import time
from pathlib import Path

from writers import tests_module

from bench.cli import main as cli
from bench.results.store import Store

own_data = tests_module("own_data")  # the bad-input makers shared with the tests

RUN = ["run", "--scenario", "class", "--strategy", "naive"]


def _kinds(tmp: Path) -> list[tuple[str, list[str], dict]]:
    """(kind, CLI arguments, environment) for every kind of bad own data and bad plugin."""
    data, outside = tmp / "data", tmp / "outside"
    data.mkdir(parents=True)
    out = []
    for kind in own_data.FOLDER_KINDS:
        params, _ = own_data.bad_folder(kind, data, outside)
        args = [*RUN, "--benchmark", "image-folder"] + [a for k, v in params.items()
                                                        for a in ("--bench-param", f"{k}={v}")]
        out.append((f"image-folder: {kind}", args, {}))
    for kind in own_data.ARRAY_KINDS:
        f, _ = own_data.bad_arrays(kind, data)
        out.append((f"arrays: {kind}", [*RUN, "--benchmark", "arrays", "--bench-param", f"path={f}"], {}))
    plugins = tmp / "plugins"
    plugins.mkdir()
    for kind, (text, _) in own_data.BAD_PLUGINS.items():
        f = plugins / f"bad_{kind.replace('-', '_')}.py"
        f.write_text(text)
        args = ["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy", "mine"]
        out.append((f"plugin: {kind}", args, {"BENCH_PLUGINS": str(f)}))
    out.append(("plugin: missing file", ["run", "--benchmark", "split-digits", "--scenario", "class", "--strategy",
                                         "mine"], {"BENCH_PLUGINS": str(plugins / "absent.py")}))
    return out


def _fingerprint(*paths: Path) -> dict:
    """Every file under the paths with its size and content hash."""
    seen = {}
    for root in paths:
        for f in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if f.is_file() and not f.is_symlink():
                seen[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return seen


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_own_kinds(tmp: Path) -> tuple[int, list[str]]:
    """(kinds tried, failures): each kind must give exit 2, one 'error: ' line, and change no file."""
    cases = _kinds(tmp)
    store = tmp / "kept.duckdb"
    Store(store).insert_runs([{"run_id": "kept-run", "status": "finished", "created_at": time.time(),
                               "config_json": "{}"}])
    cache = tmp / "cache"
    cache.mkdir()
    base = {"BENCH_DATA_ROOTS": str(tmp / "data"), "BENCH_CACHE_DIR": str(cache), "BENCH_PLUGINS": ""}
    failures = []
    for kind, args, env in cases:
        before = _fingerprint(store, cache, tmp / "data")
        err = io.StringIO()
        with _env({**base, **env}), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli([*args, "--store", str(store)])
        text = err.getvalue().strip()
        if code != 2 or "\n" in text or not text.startswith("error: ") or "Traceback" in text:
            failures.append(f"{kind} -> exit {code}: {text[:160]}")
        if _fingerprint(store, cache, tmp / "data") != before:
            failures.append(f"{kind} -> changed the store, the cache or the data")
    if Store(store).run_row("kept-run")["status"] != "finished":
        failures.append("the store's earlier run was changed")
    return len(cases), failures


if __name__ == "__main__":
    import tempfile

    tried, failed = check_own_kinds(Path(tempfile.mkdtemp()))
    print(f"own data and plugins: {tried} kinds tried, {tried - len(failed)} rejected cleanly")
    for f in failed:
        print(f"  NOT CLEAN: {f}")
    sys.exit(1 if failed else 0)
