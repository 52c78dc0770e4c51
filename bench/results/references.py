"""The bench's results for the protocol presets (bench/reproduce): the finished runs that carry a preset's recipe,
their ACC as mean ± std over seeds, the published value beside Compare's groups, and measured training rates.

A run stands for a preset when its stored config has every field the preset sets (mapping.differences is empty), it
finished, and it is not a --quick run (sweep id 'reproduce-quick:...', or a data folder that is a quick copy). Runs
started anywhere (the CLI, the Launch page, the Reproduce page) count alike. Per seed the latest such run counts."""
from __future__ import annotations

import json
import math

import pandas as pd

from bench.reproduce.mapping import QUICK_PREFIX, differences, same_protocol
from bench.reproduce.presets import Preset
from bench.reproduce.quick import is_quick_copy
from bench.results.store import Store
from bench.spec.status import Status

RESULT_COLUMNS = ["preset_id", "n", "mean", "std", "seeds", "run_ids", "group_ids", "last_finished", "train_time_s",
                  "device"]


CANDIDATE_COLUMNS = ["run_id", "group_id", "sweep_id", "strategy", "benchmark", "scenario", "seed", "config_json",
                     "finished_at", "device", "acc", "train_time_s", "iterations"]


def candidate_runs(store: Store, strategies: list[str]) -> pd.DataFrame:
    """Finished runs of the given strategies with their config, ACC, training time and iterations, oldest first."""
    df = store.query(
        """
        SELECT r.run_id, r.group_id, r.sweep_id, r.strategy, r.benchmark, r.scenario, r.seed, r.config_json,
               r.finished_at, r.device,
               max(m.value) FILTER (WHERE m.metric = 'acc') AS acc,
               max(m.value) FILTER (WHERE m.metric = 'train_time_s') AS train_time_s,
               max(m.value) FILTER (WHERE m.metric = 'iterations') AS iterations
        FROM runs r LEFT JOIN run_metrics m ON m.run_id = r.run_id
        WHERE r.status = ? AND list_contains(?, r.strategy)
        GROUP BY ALL ORDER BY r.finished_at, r.run_id
        """,
        [Status.FINISHED, sorted(set(strategies))],
    )
    return df if len(df.columns) else pd.DataFrame(columns=CANDIDATE_COLUMNS)  # no rows: DuckDB gives no columns


def _is_quick(sweep_id) -> bool:
    return isinstance(sweep_id, str) and sweep_id.startswith(QUICK_PREFIX)


def _quick_mask(df: pd.DataFrame) -> pd.Series:
    """--quick runs: queued as such, or trained on a small copy of the data however they were started."""
    copy = df.config_json.map(lambda c: is_quick_copy(json.loads(c).get("data_dir")))
    return (df.sweep_id.map(_is_quick) | copy).astype(bool)  # a boolean mask even when empty (else: columns)


def _summarise(preset: Preset, rows: pd.DataFrame) -> dict:
    latest = rows.sort_values(["finished_at", "run_id"]).groupby("seed", as_index=False).tail(1)
    accs = [float(a) for a in latest.acc if a is not None and not math.isnan(a)]
    n = len(accs)
    mean = sum(accs) / n if n else None
    std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1)) if n > 1 else None
    return {"preset_id": preset.id, "n": n, "mean": mean, "std": std, "seeds": sorted(int(s) for s in latest.seed),
            "run_ids": list(latest.run_id), "group_ids": sorted(set(latest.group_id)),
            "last_finished": float(latest.finished_at.max()) if n else None,
            "train_time_s": float(latest.train_time_s.mean()) if n else None,
            "device": ", ".join(sorted({str(d) for d in latest.device if isinstance(d, str)})) or None}


def preset_results(store: Store, presets: list[Preset]) -> pd.DataFrame:
    """One row per preset: n (seeds), mean and std of ACC (fractions), the seeds, run and group ids, when the last of
    them finished, their mean training time and device(s). n is 0 where no run carries the preset's recipe."""
    cands = candidate_runs(store, [p.bench["strategy"] for p in presets])
    cands = cands[~_quick_mask(cands)]
    configs = {r: json.loads(c) for r, c in zip(cands.run_id, cands.config_json, strict=True)}
    rows = []
    for p in presets:
        mine = cands[(cands.strategy == p.bench["strategy"]) & (cands.benchmark == p.bench["benchmark"])
                     & (cands.scenario == p.scenario)]
        mine = mine[[not differences(p, configs[r]) for r in mine.run_id]] if not mine.empty else mine
        rows.append(_summarise(p, mine) if not mine.empty else
                    {"preset_id": p.id, "n": 0, "mean": None, "std": None, "seeds": [], "run_ids": [],
                     "group_ids": [], "last_finished": None, "train_time_s": None, "device": None})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def quick_groups(store: Store, group_ids: list[str]) -> set[str]:
    """The groups among `group_ids` made only of --quick runs (a small copy of the data)."""
    df = store.query("SELECT group_id, sweep_id, config_json FROM runs WHERE list_contains(?, group_id)", [group_ids])
    if not len(df.columns) or df.empty:
        return set()
    quick = df.assign(quick=_quick_mask(df)).groupby("group_id").quick.all()
    return set(quick[quick].index)


def published_for_groups(store: Store, groups: pd.DataFrame, presets: list[Preset]) -> pd.DataFrame:
    """The presets each group matches: (group_id, preset_id, exact, differences). A group matches a preset with the
    same protocol (strategy, stream, scenario, experiences, memory, backbone, epochs, batch size); `exact` when its
    config has the preset's whole recipe. Where a group matches some preset exactly, only the exact ones are kept.
    Groups of --quick runs match nothing. Input: queries.groups() / selected_groups() rows."""
    quick = quick_groups(store, list(groups.group_id)) if not groups.empty else set()
    rows = []
    for g, cfg_json in zip(groups.group_id, groups.config_json, strict=True):
        if g in quick:
            continue
        cfg = json.loads(cfg_json)
        found = [(p, differences(p, cfg)) for p in presets if same_protocol(p, cfg)]
        if any(not d for _, d in found):
            found = [(p, d) for p, d in found if not d]
        rows += [{"group_id": g, "preset_id": p.id, "exact": not d, "differences": d} for p, d in found]
    return pd.DataFrame(rows, columns=["group_id", "preset_id", "exact", "differences"])


def throughput(store: Store, *, strategy: str, benchmark: str) -> pd.DataFrame:
    """Measured training speed of finished full runs of one strategy on one stream, by device: (device, runs,
    images_per_s), images = iterations x batch size (replayed samples not counted), over the training time."""
    cands = candidate_runs(store, [strategy])
    cands = cands[(cands.benchmark == benchmark) & ~_quick_mask(cands) & cands.train_time_s.notna()
                  & cands.iterations.notna()]
    if cands.empty:
        return pd.DataFrame(columns=["device", "runs", "images_per_s"])
    batch = [json.loads(c).get("batch_size", 0) for c in cands.config_json]
    d = cands.assign(images=cands.iterations * pd.Series(batch, index=cands.index), device=cands.device.fillna("?"))
    out = d.groupby("device").agg(runs=("run_id", "count"), images=("images", "sum"), t=("train_time_s", "sum"))
    return out.assign(images_per_s=out.images / out.t).reset_index()[["device", "runs", "images_per_s"]]
