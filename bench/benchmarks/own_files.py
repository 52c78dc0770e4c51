"""Your own data on disk: the allowed data roots, a walk that refuses symlinks leaving them, and the decode cache.

A path a user types (in the form, on the command line, in a config file someone shared) is read only inside the
allowed data roots: `$BENCH_DATA_ROOTS` (directories separated by os.pathsep, like PATH), else the data directory
(see torchvision_sets.resolve_data_dir) and the user's home. Decoded tensors are cached under
`$BENCH_CACHE_DIR/decoded` (else ~/.cache/bench/decoded), keyed by a hash of the files' names, sizes and
modification times and of the decode settings, written atomically (a temporary file, then os.replace)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.spec.params import BadInput

ROOTS_ENV = "BENCH_DATA_ROOTS"
CACHE_VERSION = 1  # bump when the cached arrays' meaning changes


def data_roots() -> list[Path]:
    """The directories own data may be read from, resolved (symlinks followed)."""
    raw = os.environ.get(ROOTS_ENV)
    if raw and raw.strip():
        entries = [e.strip() for e in raw.split(os.pathsep) if e.strip()]
    else:
        from bench.benchmarks.torchvision_sets import resolve_data_dir

        entries = [str(resolve_data_dir(None)), str(Path.home())]
    return [Path(os.path.realpath(os.path.expanduser(e))) for e in entries]


def _roots_text(roots: list[Path]) -> str:
    return os.pathsep.join(str(r) for r in roots)


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def resolve_user_path(raw: str, *, owner: str, what: str = "path") -> Path:
    """The real path of a user-given path, or BadInput when it is empty, outside the data roots or missing."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadInput(f"{owner}: {what} is empty: give the location of your data (--bench-param {what}=PATH)")
    if "\x00" in raw:
        raise BadInput(f"{owner}: {what}={raw!r} is not valid: it holds a NUL character")
    given = Path(os.path.expanduser(raw.strip()))
    absolute = given if given.is_absolute() else Path.cwd() / given
    roots = data_roots()
    try:
        real = Path(os.path.realpath(absolute))
        exists = real.exists()
    except (OSError, ValueError) as exc:
        raise BadInput(f"{owner}: {what}={raw!r} cannot be read: {exc}") from None
    if not _inside(real, roots):
        lexical = Path(os.path.normpath(absolute))
        if _inside(lexical, roots):
            raise BadInput(f"{owner}: {what}={raw!r} is a symlink to {real}, outside the allowed data roots "
                           f"({_roots_text(roots)}); set {ROOTS_ENV} to allow it")
        raise BadInput(f"{owner}: {what}={raw!r} is outside the allowed data roots ({_roots_text(roots)}); "
                       f"set {ROOTS_ENV} to allow it")
    if not exists:
        raise BadInput(f"{owner}: {what}={raw!r} does not exist ({real})")
    return real


@dataclass(frozen=True)
class Entry:
    """One child of a directory as the walk sees it: its name, its real path, whether it is a directory, and for a
    file its size and modification time (for the cache key)."""

    name: str
    path: str
    is_dir: bool
    size: int = 0
    mtime_ns: int = 0


def children(directory: str | Path, *, owner: str, roots: list[Path] | None = None, stat: bool = False
             ) -> list[Entry]:
    """The visible children of a directory, sorted by name. Hidden names (a leading dot) are skipped; a symlink
    is followed when its target lies inside the data roots, else BadInput names it. Files get their size and
    mtime with `stat`. Paths stay strings: a folder of 100,000 images is walked without building a Path for each."""
    roots = data_roots() if roots is None else roots
    try:
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise BadInput(f"{owner}: the folder {directory} cannot be read: {exc.strerror or exc}") from None
    out = []
    for item in items:
        if item.name.startswith("."):
            continue
        path = item.path
        try:
            if item.is_symlink():
                target = Path(os.path.realpath(path))
                if not _inside(target, roots):
                    raise BadInput(f"{owner}: {path} is a symlink to {target}, outside the allowed data roots "
                                   f"({_roots_text(roots)})")
                if not target.exists():
                    raise BadInput(f"{owner}: {path} is a broken symlink (to {target})")
                path = str(target)
            if item.is_dir():  # follows a symlink checked above; d_type spares a stat otherwise
                out.append(Entry(item.name, path, True))
            elif not stat:
                out.append(Entry(item.name, path, False))
            else:
                st = item.stat()
                out.append(Entry(item.name, path, False, st.st_size, st.st_mtime_ns))
        except OSError as exc:
            raise BadInput(f"{owner}: {path} cannot be read: {exc.strerror or exc}") from None
    return out


def files_under(directory: str | Path, suffixes: tuple[str, ...], *, owner: str, roots: list[Path] | None = None
                ) -> list[Entry]:
    """Every file with one of `suffixes` (case-insensitive) under `directory`, recursively, in name order."""
    roots = data_roots() if roots is None else roots
    found: list[Entry] = []
    seen: set[str] = set()

    def walk(d: str) -> None:
        real = os.path.realpath(d)
        if real in seen:  # a symlink back to a folder already walked
            raise BadInput(f"{owner}: {d} is reached twice through symlinks (a loop)")
        seen.add(real)
        for e in children(d, owner=owner, roots=roots, stat=True):
            if e.is_dir:
                walk(e.path)
            elif e.name.lower().endswith(suffixes):
                found.append(e)

    walk(str(directory))
    return found


def signature(files: list[Entry], settings: dict) -> str:
    """A content key for decoded data: the files' paths, sizes and modification times, and the decode settings."""
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, "settings": settings}, sort_keys=True).encode())
    h.update("".join(f"{f.path}\0{f.size}\0{f.mtime_ns}\n" for f in files).encode())
    return h.hexdigest()[:24]


def cache_dir() -> Path:
    """Where decoded own data is kept (next to the pretrained backbones, see bench/prompt/names.py)."""
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "bench") / "decoded"


def cache_path(key: str) -> Path:
    return cache_dir() / f"{key}.npz"


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz atomically: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """A cached .npz as a dict, or None when it is missing or unreadable (then it is decoded again)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
