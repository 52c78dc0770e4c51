"""What checkpointing costs: run time with and without checkpoints, checkpoint size, and the time to write one.

    python scripts/checkpoint_report.py [--strategies naive,replay,ewc,der,lwf,icarl] [--seeds 0,1,2]

Each run is split-digits, class-incremental, 5 experiences, the run defaults (README, 'Default protocol'), once with its
checkpoints (the default keep_checkpoints=none: one per experience end but the last, deleted when it finishes) and once
against a store that offers no place for them; the order alternates by seed. Then the state of a CIFAR ResNet-18 (11.2 M
parameters, SGD with momentum buffers) is encoded, written and read back, which is what dominates a CIFAR run's
checkpoint.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


class NoCheckpoints:
    """The store, without `checkpoint_sink`: the runner then writes no checkpoints."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name):
        if name == "checkpoint_sink":
            raise AttributeError(name)
        return getattr(self._store, name)


def timed_saves():
    """Wrap RunCheckpoints.save to time each checkpoint (capture, encode, write) and record its size."""
    from bench.train import run_checkpoints

    saves: list = []
    original = run_checkpoints.RunCheckpoints.save

    def save(self, strategy, exp, spent):
        t = time.perf_counter()
        original(self, strategy, exp, spent)
        if self.saving and self.sink is not None and (self.sink.dir / f"exp{exp}.pt").exists():
            saves.append((time.perf_counter() - t, (self.sink.dir / f"exp{exp}.pt").stat().st_size))

    run_checkpoints.RunCheckpoints.save = save
    return saves


def resnet_state() -> dict:
    import torch

    from bench.models import build_model
    from bench.train.state_codec import Encoder, dumps, loads
    from bench.train.state_decode import Decoder

    torch.manual_seed(0)
    model = build_model("resnet18", input_shape=(3, 32, 32), n_outputs=10, n_heads=1, info={})
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(8, 3, 32, 32)).sum().backward()
    opt.step()
    tree = {"model": model, "opt": opt}
    t = time.perf_counter()
    data = dumps(Encoder().encode(tree, []))
    enc_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "exp0.pt"
        t = time.perf_counter()
        path.write_bytes(data)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        back = loads(path.read_bytes())
        Decoder(device=torch.device("cpu")).decode(back, tree, [])
        read_s = time.perf_counter() - t
    n = sum(p.numel() for p in model.parameters())
    return {"params": n, "mb": len(data) / 2**20, "encode_s": enc_s, "write_s": write_s, "read_s": read_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strategies", default="naive,replay,ewc,der,lwf,icarl")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()

    from bench.results.store import Store
    from bench.spec.config import RunConfig
    from bench.train.runner import run

    saves = timed_saves()
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| strategy | run time with checkpoints (s) | without (s) | per checkpoint (ms) | checkpoint size (MB) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "s.duckdb")
        for name in args.strategies.split(","):
            with_ck, without = [], []
            del saves[:]
            for seed in seeds:
                cfg = RunConfig(benchmark="split-digits", scenario="class", strategy=name, seed=seed)
                order = [True, False] if seed % 2 == 0 else [False, True]
                for checkpoints in order:
                    result = run(cfg, store=store if checkpoints else NoCheckpoints(store))
                    (with_ck if checkpoints else without).append(result["metrics"]["time_s"])
            per = statistics.median(s for s, _ in saves) * 1000
            size = statistics.median(b for _, b in saves) / 2**20
            print(f"| {name} | {statistics.median(with_ck):.2f} | {statistics.median(without):.2f} | {per:.0f} | "
                  f"{size:.2f} |", flush=True)
    r = resnet_state()
    print(f"\nResNet-18 (CIFAR, {r['params']:,} parameters) + SGD momentum: {r['mb']:.1f} MB; "
          f"encode {r['encode_s']:.2f} s, write {r['write_s']:.2f} s, read and restore {r['read_s']:.2f} s")


if __name__ == "__main__":
    main()
