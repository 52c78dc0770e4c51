"""Parse Avalanche metric names (e.g. ``Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp003``) once, here."""
from __future__ import annotations

import re

_NAME = re.compile(
    r"^(?P<metric>[^/]+)/(?P<phase>train|eval)_phase/(?P<stream>[^/]+?)_stream"
    r"(?:/Task(?P<task>\d+))?(?:/Exp(?P<exp>\d+))?$"
)


def parse_metric_name(name: str) -> dict:
    """Return {'metric', 'phase', 'stream', 'task', 'exp'} (task/exp None when absent); ValueError if not a
    metric name of this shape."""
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"not an Avalanche metric name: {name!r}")
    d = m.groupdict()
    d["task"] = None if d["task"] is None else int(d["task"])
    d["exp"] = None if d["exp"] is None else int(d["exp"])
    return d


def tidy(results: dict) -> list[dict]:
    """{name: value} from strategy.eval() -> tidy rows with a 'value' column."""
    return [{**parse_metric_name(k), "value": float(v)} for k, v in results.items() if isinstance(v, (int, float))]
