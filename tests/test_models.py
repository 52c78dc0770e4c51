"""The backbone registry (bench/models): each backbone's parameter count equals its reference implementation's, every
backbone builds single- and multi-head, `model` is a run setting whose choices come from the registry, and a
backbone that does not fit the stream or the strategy is refused in one line."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.models import MODEL_CHOICES, backbone_features, backbones, build_model, gpu_ready, gpu_state, param_count
from bench.registry import validate
from bench.spec.config import LATER_SETTINGS, LEGACY, NOT_IDENTITY, RUN_PARAMS, RunConfig
from bench.spec.params import BadInput
from bench.strategies import get_strategy

ROOT = Path(__file__).resolve().parents[1]
CIFAR = (3, 32, 32)


def resnet18_count(nf: int, n_classes: int, in_channels: int = 3) -> int:
    """Parameters of the CIFAR ResNet-18 of GEM's model/common.py and Mammoth's backbone/ResNetBlock.py, counted
    from their layer list by hand: 3x3 stem + BN, four stages of two BasicBlocks (two 3x3 convs + two BNs each; a
    1x1 conv + BN shortcut where the width doubles), a linear head on the 8nf pooled features."""
    stem = 9 * in_channels * nf + 2 * nf
    total, c_in = stem, nf
    for width in (nf, 2 * nf, 4 * nf, 8 * nf):
        for _ in range(2):
            total += 9 * c_in * width + 9 * width * width + 4 * width
            if c_in != width:
                total += c_in * width + 2 * width
            c_in = width
    return total + 8 * nf * n_classes + n_classes


def resnet32_count(n_classes: int) -> int:
    """Parameters of PyCIL's convs/cifar_resnet.py resnet32 (He et al.'s option A: parameter-free shortcuts), by
    hand: 3x3 stem to 16 + BN, three stages of five blocks (two 3x3 convs + two BNs), a linear head on 64."""
    total, c_in = 9 * 3 * 16 + 2 * 16, 16
    for width in (16, 32, 64):
        for _ in range(5):
            total += 9 * c_in * width + 9 * width * width + 4 * width
            c_in = width
    return total + 64 * n_classes + n_classes


# (backbone, input shape, classes, expected count, where the number comes from)
REFERENCES = [
    # Mammoth backbone/ResNetBlock.py resnet18(num_classes, num_filters=64), the seq-cifar10 backbone
    # (datasets/seq_cifar10.py get_backbone() -> "resnet18"), commit e75a491c69fd729edeb01431afb753d9157d9a81;
    # 11,173,962 is also the CIFAR ResNet-18 figure the literature quotes (11.17M).
    ("resnet18", CIFAR, 10, 11_173_962),
    # GEM model/common.py ResNet18(nclasses=100, nf=20), commit 34c6b8e9a0607db7567301c48b727430d20bee7e
    ("reduced_resnet18", CIFAR, 100, 1_109_240),
    # PyCIL convs/cifar_resnet.py resnet32() + a 100-way linear head, commit 87cc4110d60765dc3f64af7ef7a693efed8418ff
    # (463,504 in the extractor: He et al. 2016 give 0.46M for ResNet-32)
    ("resnet32", CIFAR, 100, 470_004),
    # the bench's own MLP (784 -> 256 -> 256 -> 10) and CNN (3 -> 32 -> 64 -> 128 3x3 convs, 128 -> 10)
    ("mlp", (1, 28, 28), 10, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10),
    ("cnn", CIFAR, 10, 9 * 3 * 32 + 32 + 9 * 32 * 64 + 64 + 9 * 64 * 128 + 128 + 128 * 10 + 10),
]


@pytest.mark.parametrize("name,shape,n_classes,expected", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_parameter_count_equals_the_reference_implementations(name, shape, n_classes, expected):
    model = build_model(name, input_shape=shape, n_outputs=n_classes, n_heads=1)
    assert param_count(model) == expected


def test_hand_counts_agree_with_avalanches_own_implementations():
    """Two independent installed implementations of the same nets: Avalanche's SlimResNet18 (GEM's reduced
    ResNet-18) and make_icarl_net (iCaRL's ResNet-32) have the counts the arithmetic above gives."""
    from avalanche.models import SlimResNet18, make_icarl_net

    assert param_count(SlimResNet18(100)) == resnet18_count(20, 100) == 1_109_240
    assert param_count(make_icarl_net(100)) == resnet32_count(100) == 470_004
    assert resnet18_count(64, 10) == 11_173_962


@pytest.mark.parametrize("name", [b.name for b in backbones() if "image" in b.inputs])
@pytest.mark.parametrize("shape", [CIFAR, (1, 8, 8), (1, 28, 28)], ids=["cifar", "digits", "mnist"])
def test_every_image_backbone_builds_single_and_multi_head(name, shape):
    x = torch.rand(3, *shape)
    single = build_model(name, input_shape=shape, n_outputs=10, n_heads=1)
    assert single(x).shape == (3, 10)
    multi = build_model(name, input_shape=shape, n_outputs=2, n_heads=5)
    out = multi(x, torch.tensor([0, 4, 4]))
    assert out.shape == (3, 2)
    # each sample went through its own task's head, on the shared features
    feats = multi.features(x)
    assert torch.allclose(out[1:], multi.heads[4](feats[1:]), atol=1e-5)
    # the heads are the only difference in size: five 2-way linear heads against one 10-way head
    d = multi.heads[0].in_features
    assert param_count(multi) - param_count(single) == 5 * (2 * d + 2) - (10 * d + 10)


def test_normalisation_is_the_models_first_layer_and_only_shifts_and_scales():
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2615)
    torch.manual_seed(0)
    plain = build_model("resnet32", input_shape=CIFAR, n_outputs=10, n_heads=1).eval()
    torch.manual_seed(0)
    normed = build_model("resnet32", input_shape=CIFAR, n_outputs=10, n_heads=1,
                         info={"normalization": (mean, std)}).eval()
    assert param_count(plain) == param_count(normed)  # constants, not parameters
    x = torch.rand(4, *CIFAR)
    by_hand = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(normed(x), plain(by_hand), atol=1e-5)


def test_model_is_a_run_setting_with_the_registrys_choices():
    (spec,) = [p for p in RUN_PARAMS if p.name == "model"]
    assert spec.choices == MODEL_CHOICES == ("auto", *(b.name for b in backbones())) and spec.default == "auto"
    icarl = {p.name: p for p in get_strategy("icarl").params}["backbone"]
    assert icarl.choices == ("auto", *(b.name for b in backbones() if "image" in b.inputs))
    out = subprocess.run([sys.executable, "-m", "bench", "run", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert "--model" in out.stdout and "--augment" in out.stdout and "--bf16" in out.stdout


def _cfg(**kw) -> RunConfig:
    base = {"benchmark": "split-digits", "scenario": "class", "strategy": "naive"}
    return RunConfig(**{**base, **kw})


@pytest.mark.parametrize("kw,message", [
    ({"benchmark": "facts", "scenario": "domain", "model": "resnet18"},
     "model='resnet18' does not fit benchmark 'facts': resnet18 reads images (C, H, W), facts gives (entity, "
     "relation) ids; expected one of auto, facts"),
    ({"model": "facts"}, "model='facts' does not fit benchmark 'split-digits': facts reads (entity, relation) ids, "
                         "split-digits gives images (C, H, W); expected one of auto, mlp, cnn, resnet18, "
                         "reduced_resnet18, resnet32"),
    ({"strategy": "l2p", "model": "resnet18"},
     "model='resnet18' is not allowed with strategy 'l2p': it brings its own model, expected model=auto"),
    ({"strategy": "icarl", "model": "resnet32"},
     "model='resnet32' is not allowed with strategy 'icarl': it brings its own model, expected model=auto; pick its "
     "feature extractor with its backbone parameter (--param backbone=resnet32)"),
    ({"model": "resnet50"}, "run.model='resnet50' is not allowed: expected one of auto, mlp, cnn, resnet18, "
                            "reduced_resnet18, resnet32, facts"),
    ({"bf16": True, "device": "cpu"}, "bf16=True needs a CUDA device (bf16 autocast is for the ResNets on a GPU), "
                                      "and device is 'cpu': expected bf16=false, or device auto or cuda"),
])
def test_a_backbone_that_does_not_fit_is_refused_in_one_line(kw, message):
    with pytest.raises(BadInput) as exc:
        validate(_cfg(**kw))
    assert str(exc.value) == message


def test_every_image_backbone_is_accepted_on_every_image_stream():
    for name in ("mlp", "cnn", "resnet18", "reduced_resnet18", "resnet32"):
        for bench, scenario in (("split-digits", "task"), ("rotated-digits", "domain")):
            assert validate(_cfg(benchmark=bench, scenario=scenario, model=name)).model == name
    assert validate(_cfg(strategy="icarl", params={"backbone": "resnet32"})).params["backbone"] == "resnet32"


def test_icarl_takes_its_feature_extractor_from_the_registry():
    from bench.benchmarks import get_benchmark
    from bench.strategies.adapters import ICaRLNet, icarl_model

    stream = get_benchmark("split-digits").build({"n_experiences": 5, "class_order": "seeded"}, "class", seed=0)
    net = icarl_model(stream, {"backbone": "resnet32"})
    assert isinstance(net, ICaRLNet)
    features, _ = backbone_features("resnet32", input_shape=stream.input_shape)
    assert param_count(net.feature_extractor) == param_count(features) == resnet32_count(0) - 16 * 9 * 3 + 16 * 9
    assert net.train_classifier.in_features == 64


def test_new_settings_leave_the_identity_of_runs_stored_before_them():
    """A stored config from before model/augment/normalize/bf16 existed keeps its group and config keys; a run
    that trains differently (CIFAR's augmented, normalised recipe) gets new ones."""
    def old_key(cfg: RunConfig, n: int) -> str:
        d = cfg.to_dict()
        for k in ("seed", "device", "data_dir", "fast", *NOT_IDENTITY, *LATER_SETTINGS):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:n]

    digits = validate(_cfg(**LEGACY))  # the recipe of the first release (momentum 0, every last minibatch, ...)
    assert (digits.augment, digits.normalize, digits.model) == ("none", "none", "auto")
    assert digits.group_key() == old_key(digits, 12)
    stored = RunConfig.from_json(json.dumps({k: v for k, v in digits.to_dict().items() if k not in LATER_SETTINGS}),
                                 stored=True)
    assert stored.group_key() == digits.group_key() and stored.config_key() == digits.config_key()
    assert validate(_cfg(model="cnn")).group_key() != digits.group_key()


def test_gpu_settings_stay_off_on_a_cpu_and_the_bf16_path_computes_in_bf16():
    model = build_model("resnet18", input_shape=CIFAR, n_outputs=10, n_heads=1)
    gpu_ready(model, torch.device("cpu"), bf16=True)
    assert gpu_state(model) == {"channels_last": 0.0, "bf16_autocast": 0.0}
    x = torch.rand(2, *CIFAR)
    model.eval()
    full = model(x)
    model.features.autocast_bf16 = True  # what gpu_ready sets on CUDA; autocast runs on the input's device
    half = model(x)
    assert half.dtype == torch.float32 and not torch.equal(half, full)
    assert torch.allclose(half, full, atol=0.05 * float(full.abs().max()))


@pytest.mark.slow
def test_the_issue_command_trains_resnet18_on_cifar_files_with_augmentation(tmp_path):
    """`python -m bench run --benchmark split-cifar10 --scenario class --strategy replay --model resnet18 --data-dir
    DIR --json` on CIFAR-10 files written here (3 images per class, 1 epoch, 2 experiences)."""
    from test_torchvision_sets import write_cifar10

    from bench.results.store import Store

    write_cifar10(tmp_path / "data")
    cmd = [sys.executable, "-m", "bench", "run", "--benchmark", "split-cifar10", "--scenario", "class",
           "--strategy", "replay", "--model", "resnet18", "--data-dir", str(tmp_path / "data"), "--json",
           "--epochs", "1", "--bench-param", "n_experiences=2", "--eval-every", "100",
           "--store", str(tmp_path / "s.duckdb")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished", result["error"]
    m = result["metrics"]
    assert m["param_count"] == 11_173_962  # the ResNet-18 of the REFERENCES above, with its 10-way head
    assert m["augmented_batches"] == m["iterations"] > 0
    (cfg,) = Store(tmp_path / "s.duckdb").query("SELECT config_json FROM runs")["config_json"]
    stored = RunConfig.from_json(cfg)
    assert (stored.model, stored.augment, stored.normalize) == ("resnet18", "crop_flip", "mean_std")


def test_the_launch_form_offers_the_backbones_and_refuses_a_misfit(tmp_path, monkeypatch, fresh_streamlit):
    from apphelp import open_app

    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "form.duckdb"))
    at = open_app("pages/launch.py")
    model = at.selectbox(key="launch.run.model")
    assert model.options == list(MODEL_CHOICES) and model.value == "auto"
    model.set_value("resnet18").run()
    assert not at.error and not at.button(key="launch.start").disabled  # split-digits: an image stream
    at.selectbox(key="launch.benchmark").set_value("facts").run()
    assert [e.value for e in at.error] == [
        "Cannot start: model='resnet18' does not fit benchmark 'facts': resnet18 reads images (C, H, W), facts gives "
        "(entity, relation) ids; expected one of auto, facts"]
    assert at.button(key="launch.start").disabled
