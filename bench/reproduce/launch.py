"""Queue a preset's runs: one config per seed through the ordinary job queue, marked by a sweep id that names the
preset (and whether the runs are --quick ones), so that they land in the store like any other runs."""
from __future__ import annotations

import uuid

from bench.reproduce import mapping, quick
from bench.reproduce.mapping import QUICK_PREFIX, SWEEP_PREFIX
from bench.reproduce.presets import Preset
from bench.spec.config import RunConfig


def sweep_id(preset: Preset, *, quick_run: bool) -> str:
    return f"{QUICK_PREFIX if quick_run else SWEEP_PREFIX}{preset.id}:{uuid.uuid4().hex[:8]}"


def configs(preset: Preset, *, seeds: list[int], data_dir: str | None = None,
            quick_run: bool = False) -> list[RunConfig]:
    """The preset's run for each seed. With quick_run: one epoch per experience, and, for streams read from files,
    a small copy of the dataset (bench/reproduce/quick.py) in place of `data_dir`."""
    if quick_run:
        data_dir = _quick_dir(preset, data_dir)
    return [mapping.to_config(preset, seed=s, data_dir=data_dir, quick=quick_run) for s in seeds]


def _quick_dir(preset: Preset, data_dir: str | None) -> str | None:
    from bench.benchmarks import get_benchmark
    from bench.registry import validate

    cfg = validate(mapping.to_config(preset, data_dir=data_dir))  # BadInput: cannot run, or no dataset files
    key = quick.dataset_key(cfg.benchmark)
    if key is None:  # a stream without files (the offline digits): nothing to shrink
        return data_dir
    from bench.benchmarks.torchvision_readers import DATASETS

    train = quick.per_class(get_benchmark(cfg.benchmark).kind, DATASETS[key][2],
                            int(cfg.benchmark_params["n_experiences"]))
    return quick.quick_data(cfg.benchmark, data_dir, train_per_class=train)


def start(preset: Preset, store, *, seeds: list[int], data_dir: str | None = None, quick_run: bool = False,
          ) -> tuple[str, list[str]]:
    """Queue the preset's runs (validated, all or nothing); returns (sweep id, run ids). A worker pool runs them."""
    from bench.execute import jobs

    sid = sweep_id(preset, quick_run=quick_run)
    run_ids = jobs.submit(configs(preset, seeds=seeds, data_dir=data_dir, quick_run=quick_run), store=store,
                          sweep_id=sid)
    return sid, run_ids
