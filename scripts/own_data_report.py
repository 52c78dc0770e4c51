"""What reading your own images costs: the first check of a folder (scan, decode every image, write the cache), a
later check (scan and hash only: the cache holds the pixels), and building a run's stream from the cache.

    python scripts/own_data_report.py [--classes 10] [--per-class 500] [--size 32] [--json]

The folder is written by the script (PNGs with PIL) in a temporary directory, which is also the allowed data root
and the cache directory, so nothing outside it is touched."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=500)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["BENCH_DATA_ROOTS"] = str(tmp)
    os.environ["BENCH_CACHE_DIR"] = str(tmp / "cache")

    from writers import tests_module

    image_folder = tests_module("own_data").image_folder

    from bench.benchmarks import image_decode
    from bench.benchmarks import image_folder as folder
    from bench.registry import validate
    from bench.spec.config import RunConfig

    root = image_folder(tmp / "images", classes=args.classes, per_class=args.per_class, size=args.size, rgb=True)
    cfg = RunConfig(benchmark="image-folder", scenario="class", strategy="naive", benchmark_params={"path": str(root)})
    t0 = time.perf_counter()
    valid = validate(cfg)
    first = time.perf_counter() - t0
    image_decode._cached_mode.cache_clear()  # as a fresh worker process would start
    t0 = time.perf_counter()
    validate(cfg)
    again = time.perf_counter() - t0
    import torch  # noqa: F401  (imported before the clock starts: a worker has it loaded already)

    t0 = time.perf_counter()
    stream = folder.make(valid.benchmark_params, "class", seed=0)
    build = time.perf_counter() - t0
    n = args.classes * args.per_class
    cache = sum(f.stat().st_size for f in (tmp / "cache").rglob("*.npz"))
    out = {"images": n, "size": args.size, "first_check_s": first, "cached_check_s": again, "build_from_cache_s": build,
           "cache_mb": cache / 2**20, "experiences": len(stream.experiences)}
    print(f"{n:,} PNGs of {args.size}x{args.size} RGB in {args.classes} classes:")
    print(f"  first check (scan, decode every image, write the cache): {first:.2f} s")
    print(f"  a later check (scan and hash names, sizes, mtimes; the cache holds the pixels): {again:.3f} s")
    print(f"  building a run's stream from the cache: {build:.3f} s   (cache file {cache / 2**20:.1f} MB)")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
