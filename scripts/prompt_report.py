"""Prompt-based strategies against naive and replay: ACC and forgetting over seeds, with the memory each keeps.

    python scripts/prompt_report.py [--benchmark split-digits] [--seeds 0,1,2] [--epochs N] [--store PATH]
                                    [--backbone micro-vit-ssl] [--probe-backbone micro-vit-supervised] [--device auto]

Class-incremental. naive and replay train the stream's default model (an MLP on the digits); vit_finetune trains the
prompt methods' own pretrained ViT and head (their lower bound); the linear probe keeps that ViT frozen and masks
logits as the prompt methods do, and is run again on `--probe-backbone` (by default the ViT pretrained with the
digit labels) beside it; replay is also run at the memory L2P keeps (in stored-sample equivalents). Run settings
left out (epochs, lr, optimizer, batch size) are the run defaults, printed with the table. For the bench's own ViTs
it first prints a logistic-regression probe on their frozen class token on sklearn's digits (random weights,
each pretraining).
On a GPU machine, with the weights at hand:
    python scripts/prompt_report.py --benchmark split-cifar100 --backbone timm:vit_base_patch16_224.augreg_in21k \\
        --device cuda --data-dir DIR --bench-param n_experiences=10 --batch-size 128 --lr 0.01 --optimizer adam \\
        --epochs 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.prompt.names import MICRO, MICRO_SUPERVISED, MICROS
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run

PROBE = {"freeze_backbone": True, "mask_logits": True}


def lineup(backbone: str, probe_backbone: str | None) -> list[tuple[str, str, dict]]:
    """(label, strategy, params); replay at L2P's memory is added once L2P's memory is measured."""
    vit = {"backbone": backbone}
    other = [(f"linear probe, {probe_backbone}", "vit_finetune", {"backbone": probe_backbone, **PROBE})
             ] if probe_backbone and probe_backbone != backbone else []
    return [
        ("naive (MLP)", "naive", {}),
        ("replay 200 (MLP)", "replay", {"mem_size": 200}),
        ("fine-tuning the ViT", "vit_finetune", vit),
        ("linear probe, frozen ViT, masked", "vit_finetune", {**vit, **PROBE}),
        *other,
        ("L2P", "l2p", vit),
        ("L2P, class-token readout", "l2p", {**vit, "readout": "class_token"}),
        ("DualPrompt", "dualprompt", vit),
        ("CODA-Prompt", "coda_prompt", vit),
    ]


def _ms(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--benchmark", default="split-digits")
    ap.add_argument("--bench-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, help="default: the README table's recipe (see main)")
    ap.add_argument("--batch-size", type=int, help="default: the README table's recipe (see main)")
    ap.add_argument("--lr", type=float, help="default: the README table's recipe (see main)")
    ap.add_argument("--optimizer", help="default: the README table's recipe (see main)")
    ap.add_argument("--backbone", default=MICRO)
    ap.add_argument("--probe-backbone", help="a second backbone for the linear probe alone ('' for none; default "
                                             f"{MICRO_SUPERVISED} beside the bench's own ViTs, else none)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", help="where torchvision's files are (CIFAR, MNIST, Fashion-MNIST)")
    ap.add_argument("--store", default=str(Path(tempfile.mkdtemp()) / "prompt.duckdb"))
    args = ap.parse_args()
    if args.probe_backbone is None:
        args.probe_backbone = MICRO_SUPERVISED if args.backbone in MICROS else ""
    store = Store(args.store)
    bparams = {k: int(v) if v.isdigit() else v for k, v in (p.split("=", 1) for p in args.bench_param)}
    seeds = [int(s) for s in args.seeds.split(",")]
    # the recipe the README's prompt table was measured with (the run defaults before the default protocol changed);
    # each can be set on the command line
    recipe = dict(epochs=3, batch_size=32, lr=0.1, optimizer="sgd", momentum=0.0, grad_clip=10.0, last_batch="keep")
    settings = {**recipe, **{k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                                   optimizer=args.optimizer).items() if v is not None}}
    common = dict(benchmark=args.benchmark, scenario="class", benchmark_params=bparams, device=args.device,
                  data_dir=args.data_dir, **settings)
    if args.backbone in MICROS:
        probe_table([args.backbone, *([args.probe_backbone] if args.probe_backbone in MICROS else [])])
    rows = []
    t0 = time.perf_counter()
    for label, name, params in lineup(args.backbone, args.probe_backbone):
        rows.append(_runs(store, label, name, params, seeds, common))
    l2p_samples = max(1, round(next(r["kept_samples"] for r in rows if r["label"] == "L2P")))
    rows.insert(2, _runs(store, f"replay {l2p_samples} (MLP, = L2P's memory)", "replay", {"mem_size": l2p_samples},
                         seeds, common))
    cfg = RunConfig(strategy="naive", **common)
    print(f"\n{args.benchmark}, class-incremental, seeds {args.seeds}, backbone {args.backbone}; run settings "
          f"{json.dumps({k: v for k, v in cfg.to_dict().items() if k not in ('strategy', 'params', 'data_dir')})}; "
          f"{time.perf_counter() - t0:.0f} s in all")
    print(f"{'strategy':<40} {'ACC':>15} {'forgetting':>15} {'kept (samples)':>15} {'s/run':>7}")
    for r in rows:
        print(f"{r['label']:<40} {_ms(r['acc']):>15} {_ms(r['forgetting']):>15} {r['kept_samples']:>15.0f} "
              f"{r['seconds']:>7.1f}")
    print(json.dumps({r["label"]: {k: r[k] for k in ("acc", "forgetting", "kept_samples")} for r in rows}))


def probe_table(backbones: list[str]) -> None:
    """Logistic regression on the frozen class token, sklearn's digits (split-digits' train/test split)."""
    import torch

    from bench.prompt.backbones import micro_vit
    from bench.prompt.pretrain import digits_probe, pretrained_micro_vit

    torch.manual_seed(0)
    results = {"random weights": digits_probe(micro_vit(), MICRO)}
    for b in backbones:
        t0 = time.perf_counter()
        vit = pretrained_micro_vit(b)
        print(f"  {b}: ready in {time.perf_counter() - t0:.0f} s (pretrained now if not cached)", flush=True)
        results[b] = digits_probe(vit, b)
    print(f"\n{'backbone (frozen class token)':<30} {'probe val':>10} {'probe test':>11} {'unscaled test':>14}")
    for name, r in results.items():
        print(f"{name:<30} {r['val']:>10.3f} {r['test']:>11.3f} {r['test_raw']:>14.3f}")
    print(json.dumps(results), flush=True)


def _runs(store: Store, label: str, name: str, params: dict, seeds: list[int], common: dict) -> dict:
    acc, forgetting, kept, secs = [], [], 0.0, []
    for seed in seeds:
        r = run(RunConfig(strategy=name, params=params, seed=seed, **common), store=store)
        if r["status"] != "finished":
            raise SystemExit(f"{label} seed {seed} {r['status']}: {r['error']}")
        acc.append(r["metrics"]["acc"])
        forgetting.append(r["metrics"]["forgetting"])
        kept = r["metrics"]["kept_samples"]
        secs.append(r["metrics"]["time_s"])
        print(f"  {label} seed {seed}: ACC {acc[-1]:.3f} forgetting {forgetting[-1]:.3f}", flush=True)
    return {"label": label, "acc": acc, "forgetting": forgetting, "kept_samples": kept,
            "seconds": statistics.mean(secs)}


if __name__ == "__main__":
    main()
