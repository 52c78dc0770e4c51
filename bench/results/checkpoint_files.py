"""A run's checkpoint files next to the store: ``<store>.checkpoints/<run_id>/exp<k>.pt``, written atomically.

The bytes are made and read by bench/train/checkpoint.py (torch is never imported here, so the pages that show disk
use stay light). A file is written under a temporary name and moved into place with ``os.replace``, so a reader (a
resuming worker) sees a whole checkpoint or none, also when the writer is killed mid-write; the previous one is
removed only after the new one is in place. During a run only the latest is kept, unless ``keep_checkpoints=all``.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

NAME = re.compile(r"^exp(\d+)\.pt$")


def root_of(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".checkpoints")


class CheckpointFiles:
    """The checkpoints of one run (the sink the runner writes to, bench/train/run_checkpoints.py)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def files(self) -> list[tuple[int, Path]]:
        """(experience, path) of every checkpoint, in experience order."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return []
        found = [(int(m.group(1)), self.dir / n) for n in names if (m := NAME.match(n))]
        return sorted(found)

    def latest_exp(self) -> int | None:
        files = self.files()
        return files[-1][0] if files else None

    def latest(self) -> tuple[int, bytes] | None:
        files = self.files()
        if not files:
            return None
        exp, path = files[-1]
        return exp, path.read_bytes()

    def save(self, exp: int, data: bytes, *, keep_all: bool = False) -> None:
        """Write the checkpoint after experience `exp`; then remove the older ones unless `keep_all`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / f"exp{int(exp)}.pt"
        tmp = self.dir / f".exp{int(exp)}.pt.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
        os.replace(tmp, final)
        if not keep_all:
            for k, path in self.files():
                if k != exp:
                    path.unlink(missing_ok=True)

    def finish(self, keep: str) -> None:
        """A run has ended: keep none, the last, or all of its checkpoints."""
        if keep == "none":
            self.delete()
        elif keep == "last":
            for _, path in self.files()[:-1]:
                path.unlink(missing_ok=True)

    def delete(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def disk_use(self) -> int:
        """Bytes on disk (temporary files of a write in progress included)."""
        try:
            return sum(e.stat().st_size for e in os.scandir(self.dir) if e.is_file())
        except OSError:
            return 0
