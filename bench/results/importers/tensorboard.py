"""Read event files of Avalanche's TensorboardLogger (Top1_Acc_Exp / Loss_Exp / Top1_Acc_Epoch scalars) into
imported runs, one run per event file.

The file is a TFRecord stream (8-byte length, its masked CRC-32C, the record, its masked CRC-32C) of
``tensorboard.compat.proto.event_pb2.Event`` messages; it is read here, record by record with both checksums
verified, so that a truncated or damaged file is refused instead of read up to the damage (TensorBoard's own
loader stops quietly there, as it expects files still being written). Metric names are parsed by
bench.results.avalanche_names. Avalanche logs each value at ``strategy.clock.train_iterations``, so steps count
training iterations. Which evaluation ends an experience is read from the epoch scalars (the last epoch of each
experience; every experience trains the same number of epochs); without them, the evaluations after training
must be exactly one per experience.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

from bench.results.avalanche_names import parse_metric_name
from bench.results.importers import ImportedRun, Point, digest, existing_dir, read_bytes, run_name
from bench.spec.params import BadInput

ACC, LOSS, EPOCH_ACC, EPOCH_LOSS = "Top1_Acc_Exp", "Loss_Exp", "Top1_Acc_Epoch", "Loss_Epoch"


# -- the TFRecord framing and CRC-32C (Castagnoli), as TensorFlow's record writer defines them ---------------
@lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


def _mask(crc):
    crc = crc ^ 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    table, crc = _crc_table(), 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return _mask(crc)


def masked_crc32c_many(chunks: list[bytes], *, width: int = 1024, batch: int = 16384) -> list[int]:
    """masked_crc32c of many short records at once: one numpy step per byte position instead of one Python step
    per byte (an event file is thousands of records of ~100 bytes; pure Python reads about 2 MB/s). Records longer
    than `width` bytes (rare: histograms, images) take the plain loop."""
    import numpy as np

    table = np.array(_crc_table(), dtype=np.uint64)
    out = [0] * len(chunks)
    short = [i for i, c in enumerate(chunks) if len(c) <= width]
    for i in set(range(len(chunks))) - set(short):
        out[i] = masked_crc32c(chunks[i])
    for lo in range(0, len(short), batch):
        idx = sorted(short[lo:lo + batch], key=lambda i: -len(chunks[i]))  # longest first: the active rows lead
        lens = np.array([len(chunks[i]) for i in idx])
        n_cols = int(lens.max(initial=0))
        if n_cols == 0:
            continue
        buf = np.frombuffer(b"".join(chunks[i].ljust(n_cols, b"\0") for i in idx), np.uint8).reshape(-1, n_cols)
        active = np.searchsorted(-lens, -np.arange(n_cols), side="left")  # rows longer than each position
        crc = np.full(len(idx), 0xFFFFFFFF, dtype=np.uint64)
        for k in range(n_cols):
            m = active[k]
            crc[:m] = table[(crc[:m] ^ buf[:m, k]) & 0xFF] ^ (crc[:m] >> 8)
        for i, c in zip(idx, _mask(crc).tolist(), strict=True):
            out[i] = int(c)
    return out


def records(path: Path, data: bytes) -> list[bytes]:
    """Every record of a TFRecord file; BadInput naming the record on a short or damaged one."""
    out, stored, pos, cut = [], [], 0, None
    while pos < len(data):
        if pos + 12 > len(data):
            cut = f"{path} is truncated: record {len(out)} is cut off in its header"
            break
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked_crc32c(header) != crc:
            what = "is not a TensorBoard event file" if not out else "is damaged"
            raise BadInput(f"{path} {what}: the header of record {len(out)} fails its checksum")
        end = pos + 12 + length
        if end + 4 > len(data):
            cut = f"{path} is truncated: record {len(out)} is cut off ({len(data) - pos - 12} of {length + 4} bytes)"
            break
        out.append(data[pos + 12:end])
        stored.append(struct.unpack("<I", data[end:end + 4])[0])
        pos = end + 4
    for k, (got, want) in enumerate(zip(masked_crc32c_many(out), stored, strict=True)):
        if got != want:
            raise BadInput(f"{path} is damaged: record {k} fails its checksum")
    if cut:
        raise BadInput(cut)
    return out


def scalars(path: Path, data: bytes) -> list[tuple[dict, int, float]]:
    """(parsed metric name, step, value) of every scalar with an Avalanche metric name, in file order."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2

    out = []
    for k, body in enumerate(records(path, data)):
        try:
            event = event_pb2.Event.FromString(body)
        except DecodeError:
            raise BadInput(f"{path} is not a TensorBoard event file: record {k} is not an Event") from None
        for v in event.summary.value:
            value = _scalar(v)
            if value is None:
                continue
            try:
                name = parse_metric_name(v.tag)
            except ValueError:
                continue  # not an Avalanche metric: nothing of ours
            out.append((name, int(event.step), value))
    return out


def _scalar(v) -> float | None:
    kind = v.WhichOneof("value")
    if kind == "simple_value":
        return float(v.simple_value)
    if kind == "tensor" and not v.tensor.tensor_shape.dim:  # a scalar written by SummaryWriter.add_scalar
        t = v.tensor
        for vals in (t.float_val, t.double_val, t.int_val, t.int64_val):
            if len(vals) == 1:
                return float(vals[0])
        if t.tensor_content and len(t.tensor_content) in (4, 8):
            return float(struct.unpack("<f" if len(t.tensor_content) == 4 else "<d", t.tensor_content)[0])
    return None


# -- event files -> runs ----------------------------------------------------------------------------------
def event_files(raw: str) -> list[Path]:
    root = existing_dir(raw, what="a folder of TensorBoard event files (Avalanche's TensorboardLogger)")
    found = sorted(p for p in root.rglob("*tfevents*") if p.is_file())
    if not found:
        raise BadInput(f"{raw!r} holds no TensorBoard event file (events.out.tfevents.*), nor do its sub-folders")
    return found


def load(raw: str) -> list[ImportedRun]:
    root = Path(raw).expanduser()
    files = event_files(raw)
    runs = []
    for f in files:
        siblings = [g for g in files if g.parent == f.parent]
        name = run_name(f.parent, root) + (f"/{f.name}" if len(siblings) > 1 else "")
        run = read_file(f, name=name)
        if run is not None:
            runs.append(run)
    if not runs:
        raise BadInput(f"{raw!r}: no event file has {ACC} scalars (Avalanche's accuracy_metrics(experience=True) "
                       "logged by TensorboardLogger)")
    return runs


def read_file(path: Path, *, name: str) -> ImportedRun | None:
    """One event file as a run; None when it has no per-experience accuracy (not a run's evaluations)."""
    data = read_bytes(path)
    values = scalars(path, data)
    evals = [(n, s, v) for n, s, v in values if n["phase"] == "eval" and n["exp"] is not None]
    streams = sorted({n["stream"] for n, _, _ in evals if n["metric"] == ACC})
    if not streams:
        return None
    if "test" not in streams and len(streams) > 1:
        raise BadInput(f"{path}: accuracy of the streams {', '.join(streams)} and none named test: "
                       "cannot tell which one is the test stream")
    stream = "test" if "test" in streams else streams[0]
    acc: dict[int, dict[int, float]] = {}  # step -> experience -> value (a value logged twice: the last)
    loss: dict[int, dict[int, float]] = {}
    for n, step, v in evals:
        if n["stream"] == stream and n["metric"] in (ACC, LOSS):
            (acc if n["metric"] == ACC else loss).setdefault(step, {})[n["exp"]] = v
    epochs: dict[int, dict[str, list[float]]] = {}  # step -> metric -> values (one per task)
    for n, step, v in values:
        if n["phase"] == "train" and n["metric"] in (EPOCH_ACC, EPOCH_LOSS):
            epochs.setdefault(step, {}).setdefault(n["metric"], []).append(v)
    n_test = max(j for cells in acc.values() for j in cells) + 1
    ends = _end_steps(path, sorted(acc), sorted(epochs), n_test)
    points = []
    for step in sorted(acc):
        trained = next((i for i, e in enumerate(ends) if step <= e), None)
        if trained is None:
            continue  # evaluated after the last experience's end: not part of the matrix
        kind = "end" if step == ends[trained] else "initial" if step == 0 else "dense"  # step 0: nothing trained yet
        cells, lcells = acc[step], loss.get(step, {})
        points.append(Point(kind=kind, trained_exp=-1 if kind == "initial" else trained, step=step,
                            accuracy=[cells.get(j) for j in range(n_test)],
                            loss=[lcells.get(j) for j in range(n_test)]))
    return ImportedRun(name=name, source=str(path.resolve()), content_hash=digest("tensorboard", data), points=points,
                       train_curve=_curve(epochs, ends), step_unit="iteration")


def _end_steps(path: Path, eval_steps: list[int], epoch_steps: list[int], n_test: int) -> list[int]:
    """The step of the evaluation that ends each experience."""
    if epoch_steps:
        if len(epoch_steps) % n_test:
            raise BadInput(f"{path}: {len(epoch_steps)} training epochs for {n_test} experiences: cannot tell "
                           "where each experience ends (expected the same number of epochs for each)")
        per = len(epoch_steps) // n_test
        ends = [epoch_steps[(i + 1) * per - 1] for i in range(n_test)]
        missing = [i for i, s in enumerate(ends) if s not in eval_steps]
        if missing:
            raise BadInput(f"{path}: no evaluation of the test experiences at the end of experience {missing[0]} "
                           f"(iteration {ends[missing[0]]})")
        return ends
    after = [s for s in eval_steps if s > 0]
    if len(after) != n_test:
        raise BadInput(f"{path}: {len(after)} evaluations after training for {n_test} experiences and no epoch "
                       f"scalars ({EPOCH_ACC}) to tell which ones end an experience")
    return after


def _curve(epochs: dict[int, dict[str, list[float]]], ends: list[int]) -> list[dict]:
    rows, last = [], {}
    for step in sorted(epochs):
        trained = next((i for i, e in enumerate(ends) if step <= e), len(ends) - 1)
        last[trained] = last.get(trained, -1) + 1
        rows.append({"iteration": step, "trained_exp": trained, "epoch": last[trained],
                     "loss": _mean(epochs[step].get(EPOCH_LOSS)), "accuracy": _mean(epochs[step].get(EPOCH_ACC))})
    return rows


def _mean(values: list[float] | None) -> float | None:
    return None if not values else sum(values) / len(values)  # one value per task trained at that epoch
