"""`python -m bench list plugins`: every plugin named by $BENCH_PLUGINS or an entry point, what it adds, its error."""
from __future__ import annotations

import json


def list_plugins(*, as_json: bool) -> int:
    """One line (or one JSON object in a list) per plugin. A plugin that failed is listed with its error; the
    command itself succeeds, since the bench works without it."""
    from bench.plugins import ENTRY_POINT_GROUP, PLUGINS_ENV, plugins

    items = [p.to_dict() for p in plugins()]
    if as_json:
        print(json.dumps(items))
        return 0
    if not items:
        print(f"no plugins: name modules or .py files in ${PLUGINS_ENV} (comma-separated), or install a package "
              f"with a {ENTRY_POINT_GROUP!r} entry point")
    for it in items:
        if it["ok"]:
            added = [f"{kind}: {', '.join(names)}" for kind, names in it.items()
                     if kind in ("strategies", "benchmarks", "backbones") and names]
            print(f"{it['plugin']} ({it['source']}): ok, {'; '.join(added)}")
        else:
            print(f"{it['plugin']} ({it['source']}): FAILED: {it['error']}")
    return 0
