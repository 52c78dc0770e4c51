"""What a report says about each run beyond the charts: its config, the command that reproduces it (or re-imports
it), and the versions of the bench and its libraries."""
from __future__ import annotations

import json
import platform
import shlex
from importlib import metadata

from bench.results import queries as q
from bench.results.importers import sources
from bench.results.store import Store
from bench.spec.status import RESULT_STATUSES

LIBRARIES = ("cl-bench", "torch", "torchvision", "avalanche-lib", "numpy", "pandas", "duckdb", "altair",
             "vl-convert-python", "streamlit", "tensorboard")


def versions() -> dict[str, str]:
    """Python and the installed version of the bench and each library (read from the package metadata, so that
    nothing heavy is imported)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _flag(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_command(cfg: dict) -> str:
    """`python -m bench run ...` with every setting of a trained run's config spelled out as flags (defaults too,
    so that a later change of a default does not change what the command runs)."""
    from bench.spec.config import RUN_PARAMS

    words = ["python", "-m", "bench", "run", "--benchmark", cfg["benchmark"], "--scenario", cfg["scenario"],
             "--strategy", cfg["strategy"]]
    for k, v in sorted((cfg.get("benchmark_params") or {}).items()):
        words += ["--bench-param", f"{k}={_flag(v)}"]
    for k, v in sorted((cfg.get("params") or {}).items()):
        words += ["--param", f"{k}={_flag(v)}"]
    for spec in RUN_PARAMS:
        value = cfg.get(spec.name, spec.default)
        if spec.name == "device" and value == "auto":
            continue
        words += ["--" + spec.name.replace("_", "-"), _flag(value)]
    if cfg.get("data_dir"):
        words += ["--data-dir", cfg["data_dir"]]
    return shlex.join(words)


def import_command(row: dict, source: dict) -> str:
    """The import that brings an imported run back, with the labels it is stored under."""
    words = ["python", "-m", "bench", "import", source["tool"], source["source"], "--strategy", row["strategy"],
             "--seed", str(row["seed"]), "--benchmark", row["benchmark"], "--scenario", row["scenario"]]
    return shlex.join(words)


def runs(store: Store, run_ids: list[str]) -> list[dict]:
    """One dict per run with results among `run_ids`: identity, status, ACC, config and the command."""
    df = q.runs(store, run_ids=run_ids)
    df = df[df.status.isin(RESULT_STATUSES)].sort_values(["strategy", "seed", "run_id"])
    acc = q.run_metrics(store, list(df.run_id))
    acc = dict(zip(acc.run_id[acc.metric == "acc"], acc.value[acc.metric == "acc"], strict=True))
    src = sources(store, list(df.run_id))
    out = []
    for row in df.to_dict("records"):
        cfg = json.loads(row["config_json"])
        source = src.get(row["run_id"])
        out.append({
            "run_id": row["run_id"], "group_id": row["group_id"], "strategy": row["strategy"], "seed": row["seed"],
            "benchmark": row["benchmark"], "scenario": row["scenario"], "status": row["status"],
            "acc": acc.get(row["run_id"]), "config": cfg, "source": source,
            "command": import_command(row, source) if source else run_command(cfg),
        })
    return out
