"""Export the store's tables to Parquet or CSV files (written as .tmp, then renamed: readers never see half a file)."""
from __future__ import annotations

import os
from pathlib import Path

from bench.results.store import ROW_TABLES, Store
from bench.spec.params import BadInput

TABLES = ("runs", *ROW_TABLES)


def export_store(store: Store, out: Path, *, fmt: str = "parquet", run_ids: list[str] | None = None) -> list[Path]:
    if fmt not in ("parquet", "csv"):
        raise BadInput(f"format {fmt!r} is not valid: expected parquet or csv")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out {str(out)!r} cannot be created: {exc.strerror}") from None
    written = []
    for table in TABLES:
        df = store.table(table, run_ids or None)
        path = out / f"{table}.{fmt}"
        tmp = path.with_name(path.name + ".tmp")
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, path)
        written.append(path)
    return written
