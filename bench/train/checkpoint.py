"""A run's checkpoint at an experience end: model, optimizer, scheduler, strategy state, recorder and every random
generator; and restoring a freshly built run from one, so that it goes on exactly as the uninterrupted run would.

What a checkpoint holds (one tree, bench/train/state_codec.py turns it into bytes that cannot run code):
- ``strategy``: the strategy encoded generically (bench/train/state_codec.py): model, optimizer, every plugin
  (replay's storage policy and its buffers, GEM/A-GEM memories, DER's logits, iCaRL's exemplars and class means,
  EWC/SI/MAS/RWalk importances and old parameters, LwF's previous model, GDumb's buffer and initial model,
  generative replay's generator with its own optimizer and plugins, a learning-rate scheduler plugin, the
  augmentation plugin's generator, Avalanche's clock), and the strategy's own attributes (DER's buffer, the
  cumulative dataset, Avalanche's map of optimized parameters);
- ``adapters``: what a strategy's adapter adds (ADAPTERS, keyed by strategy name), for state the generic walk
  cannot read back (the replay loaders A-GEM and MIR build at the end of an experience);
- ``recorder``: the recorder's counters, matrix rows and curves, and the rows it had not written yet;
- ``rng``: every generator Avalanche's RNGManager manages (torch, CUDA where initialised, numpy, python);
- ``run``: the experience it was taken after, the config it belongs to, the time and peak memory so far.

A strategy whose state would lose something the generic walk cannot encode and no adapter rebuilds is refused
(CheckpointError) rather than checkpointed wrongly; the runner then trains on without checkpoints.

Restoring happens after the run was built exactly as an uninterrupted one (same seed, same stream, model and
strategy construction): states are loaded into it, adapters rebuild their loaders, and the random generators are set
last, so every draw after the checkpoint is the one the uninterrupted run made.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from bench.train.state_codec import (
    TAG,
    CheckpointError,
    Encoder,
    dataset_from_state,
    dataset_state,
    dumps,
    loads,
)
from bench.train.state_decode import Decoder

__all__ = ["ADAPTERS", "FORMAT", "Adapter", "CheckpointError", "capture", "dumps", "loads", "restore"]

FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Adapter:
    """What one strategy needs beyond the generic walk: the attributes it drops (by name) and brings back."""

    rebuilds: tuple[str, ...] = ()
    capture: Callable[[Any], dict] | None = None
    restore: Callable[[Any, dict], None] | None = None


def _plugin(strategy, cls_name: str):
    for p in strategy.plugins:  # the class or a subclass of it (the bench's BufferWideMIRPlugin is a MIRPlugin)
        if any(c.__name__ == cls_name for c in type(p).__mro__):
            return p
    raise CheckpointError(f"the strategy has no {cls_name}")


def _agem_restore(strategy, state: dict) -> None:
    """A-GEM builds its memory loader at the end of each experience (AGEMPlugin.update_memory): the same loader
    over the restored buffers; its iterator is lazy, so building it draws nothing."""
    from avalanche.benchmarks.utils.data_loader import GroupBalancedInfiniteDataLoader

    p = _plugin(strategy, "AGEMPlugin")
    if p.buffers:
        p.buffer_dataloader = GroupBalancedInfiniteDataLoader(
            p.buffers, batch_size=p.sample_size // len(p.buffers), num_workers=0, pin_memory=False,
            persistent_workers=False)
        p.buffer_dliter = iter(p.buffer_dataloader)


def _mir_capture(strategy) -> dict:
    """MIR's loader is built at the end of an experience from the buffer minus the classes of the last minibatch,
    which is gone by then: keep the loader's own dataset (its `cycle` generator has not started)."""
    p = _plugin(strategy, "MIRPlugin")
    if p.replay_loader is None:
        return {"dataset": None}
    frame = getattr(p.replay_loader, "gi_frame", None)
    loader = frame.f_locals.get("loader") if frame is not None else None
    if loader is None:
        raise CheckpointError("MIR's replay loader has already started: it cannot be checkpointed")
    return {"dataset": dataset_state(loader.dataset), "batch_size": loader.batch_size}


def _mir_restore(strategy, state: dict) -> None:
    from avalanche.training.utils import cycle

    p = _plugin(strategy, "MIRPlugin")
    if state["dataset"] is None:
        p.replay_loader = None
        return
    ds = dataset_from_state(state["dataset"])
    p.replay_loader = cycle(torch.utils.data.DataLoader(ds, batch_size=state["batch_size"], shuffle=True))


# Strategies whose state the generic walk covers need no entry.
ADAPTERS: dict[str, Adapter] = {
    "agem": Adapter(rebuilds=("buffer_dataloader", "buffer_dliter"), restore=_agem_restore),
    "mir": Adapter(rebuilds=("replay_loader",), capture=_mir_capture, restore=_mir_restore),
}


# -- capture -----------------------------------------------------------------------------------------------------
def capture(strategy, *, name: str, recorder, exp: int, run: dict) -> dict:
    """The checkpoint tree of a run after experience `exp` (CheckpointError when it would be incomplete)."""
    enc = Encoder(skip=(recorder, getattr(strategy, "evaluator", None)))
    tree = {"format": FORMAT, "exp": exp, "run": _plain(run), "strategy": enc.template(strategy, ["strategy"])}
    adapter = ADAPTERS.get(name, Adapter())
    lost = [p for p in enc.dropped if p.rsplit(".", 1)[-1] not in adapter.rebuilds]
    if lost:
        raise CheckpointError(f"strategy {name!r} keeps state a checkpoint cannot hold: {', '.join(lost[:4])}")
    tree["adapter"] = _plain(adapter.capture(strategy) if adapter.capture else {})
    state = recorder.state_dict()
    tree["recorder"] = _plain({**state, "rows": {t: columns(rows) for t, rows in state["rows"].items()}})
    tree["rng"] = rng_state()
    return tree


def columns(rows: list[dict]) -> dict:
    """A table of row dicts as columns: numbers as one tensor each, strings as codes into their few values. Thousands
    of unwritten rows would otherwise be thousands of small objects to pickle at every experience end (most of a
    small run's checkpoint time)."""
    keys = list(rows[0]) if rows else []
    out: dict = {"keys": keys, "n": len(rows), "cols": []}
    for k in keys:
        values = [r[k] for r in rows]
        kinds = {type(v) for v in values}
        if kinds == {int}:
            out["cols"].append({"int": torch.tensor(values, dtype=torch.int64)})
        elif kinds == {float}:
            out["cols"].append({"float": torch.tensor(values, dtype=torch.float64)})
        elif kinds == {str}:
            vocab = sorted(set(values))
            index = {v: i for i, v in enumerate(vocab)}
            out["cols"].append({"str": torch.tensor([index[v] for v in values], dtype=torch.int64), "vocab": vocab})
        else:
            out["cols"].append({"any": values})
    return out


def rows_of(table: dict) -> list[dict]:
    cols = []
    for c in table["cols"]:
        if "int" in c:
            cols.append(c["int"].tolist())
        elif "float" in c:
            cols.append(c["float"].tolist())
        elif "str" in c:
            cols.append([c["vocab"][i] for i in c["str"].tolist()])
        else:
            cols.append(c["any"])
    return [dict(zip(table["keys"], values, strict=True)) for values in zip(*cols, strict=True)] if cols else \
        [{} for _ in range(table["n"])]


def _plain(value: Any) -> Any:
    """Plain data (dicts with any keys, tuples, tensors) in the checkpoint's encoding."""
    return Encoder().encode(value, [])


def _unplain(e: Any) -> Any:
    return Decoder(device=torch.device("cpu")).decode(e, None, [])


def rng_state() -> dict:
    """Every generator Avalanche's RNGManager manages (torch, numpy, python, CUDA), by name. CUDA's only where this
    process initialised CUDA: asking would start a CUDA context in a CPU run."""
    from avalanche.training.determinism.rng_manager import RNGManager

    out = {}
    for name, rng in RNGManager.random_generators.items():
        if name == "torch.cuda" and not torch.cuda.is_initialized():
            continue
        out[name] = _plain(rng["save_state"]())
    return out


def set_rng_state(states: dict) -> None:
    from avalanche.training.determinism.rng_manager import RNGManager

    for name, rng in RNGManager.random_generators.items():
        if name in states:
            rng["load_state"](_unplain(states[name]))


# -- restore -----------------------------------------------------------------------------------------------------
def restore(strategy, tree: dict, *, name: str, recorder, device: torch.device, config: str) -> dict:
    """Load a checkpoint tree into a freshly built run; returns its `run` entry (the experience, time so far)."""
    if not isinstance(tree, dict) or tree.get("format") != FORMAT:
        raise CheckpointError(f"not a checkpoint of format {FORMAT}")
    run = _unplain(tree["run"])
    if run.get("config") != config:
        raise CheckpointError("the checkpoint belongs to another config than this run's")
    dec = Decoder(device=device, skip=(recorder, getattr(strategy, "evaluator", None)))
    dec.modules.append(strategy.model)
    dec.template(tree["strategy"], strategy, ["strategy"])
    adapter = ADAPTERS.get(name, Adapter())
    if adapter.restore:
        adapter.restore(strategy, _unplain(tree["adapter"]))
    state = _unplain(tree["recorder"])
    recorder.load_state_dict({**state, "rows": {t: rows_of(c) for t, c in state["rows"].items()}})
    set_rng_state(tree["rng"])
    return {**run, "exp": int(tree["exp"])}


def peek(tree: Any) -> int:
    """The experience a checkpoint tree was taken after."""
    if not isinstance(tree, dict) or tree.get("format") != FORMAT or TAG in tree:
        raise CheckpointError(f"not a checkpoint of format {FORMAT}")
    return int(tree["exp"])
