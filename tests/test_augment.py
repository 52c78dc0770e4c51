"""Data augmentation (bench/train/augment.py): crop_flip is a padded random crop plus a horizontal flip (checked
against torchvision's own functions), it changes the minibatches, it is identical for a seed and leaves the run's
global random stream alone, it is on for the CIFAR streams and off for the digits ones, and results with and
without the fast path stay identical with it. The CIFAR runs read small CIFAR-10 files written here."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from test_torchvision_sets import write_cifar10

from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.params import BadInput
from bench.train.augment import Augment, augment_generator, crop_flip, padding_for
from bench.train.runner import run

ROOT = Path(__file__).resolve().parents[1]


def _matches(out: torch.Tensor, x: torch.Tensor, p: int) -> set[tuple[int, int, bool]]:
    """Every (top, left, flipped) for which torchvision's crop (and hflip) of the zero-padded image gives `out`."""
    padded = F.pad(x, (p, p, p, p))
    h, w = x.shape[-2:]
    found = set()
    for top in range(2 * p + 1):
        for left in range(2 * p + 1):
            crop = TF.crop(padded, top, left, h, w)
            for flipped, view in ((False, crop), (True, TF.hflip(crop))):
                if torch.equal(view, out):
                    found.add((top, left, flipped))
    return found


def test_crop_flip_is_torchvisions_padded_random_crop_and_flip():
    torch.manual_seed(0)
    x = torch.rand(48, 3, 32, 32)
    out = crop_flip(x, augment_generator(0, "cpu"), padding_for(32))
    assert padding_for(32) == 4 and out.shape == x.shape and out.dtype == x.dtype
    draws = []
    for xi, oi in zip(x, out, strict=True):
        (m,) = _matches(oi, xi, 4)  # exactly one crop window and flip state explains each image
        draws.append(m)
    tops, lefts, flips = zip(*draws, strict=True)
    assert set(tops) | set(lefts) <= set(range(9)) and len(set(tops)) > 4 and len(set(lefts)) > 4
    assert 0 < sum(flips) < len(flips)  # both flip states occur
    assert not torch.equal(out, x)


def test_same_seed_same_minibatches_other_seed_other_and_the_global_stream_untouched():
    x = torch.rand(16, 3, 32, 32)
    state = torch.get_rng_state()
    a = crop_flip(x, augment_generator(7, "cpu"), 4)
    b = crop_flip(x, augment_generator(7, "cpu"), 4)
    c = crop_flip(x, augment_generator(8, "cpu"), 4)
    assert torch.equal(torch.get_rng_state(), state)  # the fast path reproduces that stream draw for draw
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_plugin_changes_the_training_minibatch_and_its_replay_batches():
    """The real plugin on a minimal strategy holder: the minibatch it trains on, and a replay loader of its own
    (DER and ER-ACE keep one as `replay_loader`), come out augmented; labels are untouched."""
    x, y = torch.rand(8, 3, 32, 32), torch.arange(8)
    holder = SimpleNamespace(mbatch=[x, y, torch.zeros(8, dtype=torch.long)], plugins=[],
                             replay_loader=iter([[x.clone(), y.clone()]]))
    aug = Augment(seed=0, device="cpu", height=32)
    aug.before_training_exp(holder)
    aug.before_training_iteration(holder)
    assert not torch.equal(holder.mbatch[0], x) and torch.equal(holder.mbatch[1], y)
    rx, ry = next(holder.replay_loader)
    assert not torch.equal(rx, x) and torch.equal(ry, y) and aug.batches == 2
    again = SimpleNamespace(mbatch=[x, y], plugins=[])
    Augment(seed=0, device="cpu", height=32).before_training_iteration(again)
    assert torch.equal(again.mbatch[0], crop_flip(x, augment_generator(0, "cpu"), 4))


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root)
    return str(root)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("augment") / "s.duckdb")


def test_auto_is_on_for_cifar_and_off_for_the_digits_streams(cifar):
    cifar_cfg = validate(RunConfig(benchmark="split-cifar10", scenario="class", strategy="naive", data_dir=cifar))
    assert (cifar_cfg.augment, cifar_cfg.normalize) == ("crop_flip", "mean_std")
    for bench, scenario in (("split-digits", "class"), ("split-mnist-lite", "task"), ("permuted-digits", "domain"),
                            ("rotated-digits", "domain")):
        cfg = validate(RunConfig(benchmark=bench, scenario=scenario, strategy="naive"))
        assert (cfg.augment, cfg.normalize) == ("none", "none"), bench
    # the prompt methods' ViTs normalise with their own statistics
    l2p = validate(RunConfig(benchmark="split-cifar10", scenario="class", strategy="l2p", data_dir=cifar))
    assert (l2p.augment, l2p.normalize) == ("crop_flip", "none")
    with pytest.raises(BadInput, match="^augment='crop_flip' needs an image stream: 'facts' gives"):
        validate(RunConfig(benchmark="facts", scenario="domain", strategy="naive", augment="crop_flip"))
    with pytest.raises(BadInput, match="^normalize='mean_std' needs per-channel statistics, which benchmark "
                                       "'split-digits' does not declare"):
        validate(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", normalize="mean_std"))


def test_a_digits_run_trains_on_its_minibatches_unchanged(store):
    r = run(RunConfig(benchmark="split-digits", scenario="class", strategy="naive", epochs=1, eval_every=50),
            store=store)
    assert r["status"] == "finished" and r["metrics"]["augmented_batches"] == 0 and r["metrics"]["iterations"] > 0


def _cifar_cfg(cifar: str, strategy: str, **kw) -> RunConfig:
    params = {"der": {"mem_size": 12, "batch_size_mem": 4}, "er_ace": {"mem_size": 12, "batch_size_mem": 4},
              "mir": {"mem_size": 12, "batch_size_mem": 4}, "replay": {"mem_size": 12},
              "icarl": {"mem_size": 12}}.get(strategy, {})
    return RunConfig(benchmark="split-cifar10", scenario="class", strategy=strategy, params=params, epochs=2, seed=3,
                     batch_size=4, eval_every=4, data_dir=cifar, benchmark_params={"n_experiences": 3}, **kw)


def _rows(store, run_id):
    return {t: store.query(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? ORDER BY ALL", [run_id])
            for t in ("evaluations", "train_curve")}


@pytest.mark.parametrize("strategy", [
    "replay", "der",
    *(pytest.param(s, marks=pytest.mark.slow) for s in ("naive", "er_ace", "mir", "icarl", "lwf")),
])
def test_identical_results_with_and_without_the_fast_path_with_augmentation(cifar, store, strategy):
    """replay: ReplayPlugin's loader replaces the fast path's from the second experience; der (and er_ace, mir):
    a replay batch drawn from the strategy's own loader, augmented too (more augmented batches than steps)."""
    fast = run(_cifar_cfg(cifar, strategy), store=store)
    slow = run(_cifar_cfg(cifar, strategy, fast=False), store=store)
    assert fast["status"] == slow["status"] == "finished", (fast["error"], slow["error"])
    assert fast["accuracy_matrix"] == slow["accuracy_matrix"]
    a, b = _rows(store, fast["run_id"]), _rows(store, slow["run_id"])
    for table in a:
        assert a[table].equals(b[table]), table
    m = fast["metrics"]
    replays_own_batch = strategy in ("der", "er_ace", "mir")
    assert m["augmented_batches"] > m["iterations"] if replays_own_batch else m["augmented_batches"] == m["iterations"]


@pytest.mark.slow
def test_augmentation_changes_what_the_run_learns(cifar, store):
    on = run(_cifar_cfg(cifar, "naive"), store=store)
    off = run(_cifar_cfg(cifar, "naive", augment="none"), store=store)
    assert on["metrics"]["augmented_batches"] > 0 and off["metrics"]["augmented_batches"] == 0
    losses = [_rows(store, r["run_id"])["train_curve"]["loss"].tolist() for r in (on, off)]
    assert losses[0] != losses[1]
