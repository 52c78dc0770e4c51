"""Decoding an image folder's files into uint8 pixels, once: every image is opened during the check (truncated and
damaged files fail there, named), and the pixels are cached by content (bench/benchmarks/own_files.py) so that
later checks, runs and worker processes read the cache instead."""
from __future__ import annotations

import functools
import warnings
import zipfile
from pathlib import Path

import numpy as np

from bench.benchmarks.own_files import Entry, cache_path, load_arrays, save_arrays, signature
from bench.spec.params import BadInput

NAME = "image-folder"
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})
MAX_DECODED_BYTES = 4 * 2**30  # refuse a folder whose decoded pixels would not fit a laptop's memory

def _why(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _headers(files: tuple[str, ...]) -> list[tuple[tuple[int, int], str]]:
    from PIL import Image

    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                out.append((im.size, im.mode))
        except Exception as exc:  # PIL raises many kinds (UnidentifiedImageError, SyntaxError, ValueError, ...)
            raise BadInput(f"{NAME}: {f} is not a readable image: {_why(exc)}") from None
    return out


def decode_one(f: str, mode: str, size: int) -> np.ndarray:
    """One image as uint8 C x H x W, or BadInput naming the file (truncated or damaged files fail here)."""
    from PIL import Image

    try:
        with warnings.catch_warnings(), Image.open(f) as im:
            warnings.simplefilter("ignore")
            im.load()
            im = im.convert(mode)
            if size:
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except Exception as exc:
        raise BadInput(f"{NAME}: {f} cannot be decoded ({_why(exc)}): the file may be truncated or damaged") from None
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _decode(files: tuple[str, ...], size: int, color: str) -> tuple[np.ndarray, str]:
    heads = _headers(files)
    if not size:
        first = heads[0][0]
        for f, (dims, _) in zip(files, heads, strict=True):
            if dims != first:
                raise BadInput(f"{NAME}: {f} is {dims[0]}x{dims[1]} but {files[0]} is {first[0]}x{first[1]}: "
                               f"set size=N to resize every image to NxN")
    mode = {"grey": "L", "rgb": "RGB"}.get(color) or ("L" if all(m in GREY_MODES for _, m in heads) else "RGB")
    w, h = (size, size) if size else heads[0][0]
    channels = 1 if mode == "L" else 3
    need = len(files) * channels * w * h
    if need > MAX_DECODED_BYTES:
        raise BadInput(f"{NAME}: {len(files)} images of {w}x{h}x{channels} take {need / 2**30:.1f} GiB decoded: "
                       f"expected at most {MAX_DECODED_BYTES / 2**30:.0f} GiB; set a smaller size")
    x = np.empty((len(files), channels, h, w), dtype=np.uint8)
    for i, f in enumerate(files):
        x[i] = decode_one(f, mode, size)
    return x, mode


def _key(entries: tuple[Entry, ...], size: int, color: str) -> str:
    return signature(list(entries), {"stream": NAME, "size": size, "color": color})


class _NotCached(Exception):
    """No usable cache entry (an exception, so that lru_cache remembers only hits)."""


@functools.lru_cache(maxsize=32)
def _cached_mode(key: str) -> str:
    """The PIL mode of a cache entry, remembered in this process once seen (reads only that small member)."""
    try:
        with np.load(cache_path(key), allow_pickle=False) as data:
            if "x" not in data.files:
                raise _NotCached
            return str(data["mode"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        raise _NotCached from None


def ensure_decoded(entries: tuple[Entry, ...], size: int, color: str) -> tuple[Path, str, bool]:
    """(cache file, PIL mode, whether it was decoded now): decodes and caches the files unless the cache has them."""
    key = _key(entries, size, color)
    try:
        return cache_path(key), _cached_mode(key), False
    except _NotCached:
        pass
    x, mode = _decode(tuple(e.path for e in entries), size, color)
    save_arrays(cache_path(key), x=x, mode=np.array(mode))
    return cache_path(key), mode, True


def pixels(entries: tuple[Entry, ...], size: int, color: str) -> tuple[np.ndarray, str]:
    """The decoded uint8 pixels (N x C x H x W) and their mode, from the cache when it holds them."""
    path, mode, _ = ensure_decoded(entries, size, color)
    cached = load_arrays(path)
    if cached is None or "x" not in cached:  # the entry went bad after it was checked: decode again
        _cached_mode.cache_clear()
        path.unlink(missing_ok=True)
        path, mode, _ = ensure_decoded(entries, size, color)
        cached = load_arrays(path)
    return cached["x"], mode
