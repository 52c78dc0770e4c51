"""How runs and groups are named in lists and pickers, in one place."""
from __future__ import annotations

import json
from typing import Any


def _get(row: Any, key: str):
    """A field of a mapping, a pandas row, or a namedtuple (DataFrame.itertuples)."""
    return getattr(row, key) if hasattr(row, "_fields") else row[key]


def run_label(row: Any) -> str:
    """'replay · split-digits/class · seed 0 · finished · 1a2b3c4d5e6f' for a runs row (a mapping, a pandas row or
    an itertuples record)."""
    g = lambda k: _get(row, k)  # noqa: E731
    return f"{g('strategy')} · {g('benchmark')}/{g('scenario')} · seed {g('seed')} · {g('status')} · {g('run_id')}"


def device_kinds(devices: Any) -> list[str]:
    """['cpu', 'cuda'] from stored device names ('cpu', 'cuda', 'cuda:1'; None and NaN skipped), sorted, distinct."""
    if devices is None or isinstance(devices, float):
        return []
    return sorted({str(d).split(":")[0] for d in devices if isinstance(d, str) and d})


def group_label(row: Any) -> str:
    """'replay (mem_size=200) · split-digits/class · seeds 0,1 · 2/2 finished · 1a2b3c4d5e6f' for a groups row;
    a group whose runs ran on different devices says so ('· on cpu+cuda'), since it averages them."""
    g = lambda k: _get(row, k)  # noqa: E731
    params = json.loads(g("config_json")).get("params") or {}
    p = ", ".join(f"{k}={v}" for k, v in params.items())
    seeds = ",".join(str(s) for s in g("seeds"))
    try:
        kinds = device_kinds(g("devices"))
    except (KeyError, AttributeError):
        kinds = []
    mixed = f" · on {'+'.join(kinds)}" if len(kinds) > 1 else ""
    return (f"{g('strategy')}{f' ({p})' if p else ''} · {g('benchmark')}/{g('scenario')} · "
            f"seeds {seeds} · {g('n_finished')}/{g('n_runs')} finished{mixed} · {g('group_id')}")
