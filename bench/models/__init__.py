"""The one registry of backbones: each declared once with what it reads and its reference; nets are built lazily.

Importing this is cheap (no torch): the run settings (bench/spec/config.py), the Launch form and validation read the
names, descriptions and inputs; the nets (bench/models/nets.py, resnet.py) are imported when a run builds its model.

Every backbone is a feature extractor; `build_model` adds one linear head, or one head per experience in the
task-incremental scenario (`MultiHeadNet`). Where the run normalises its inputs (`normalize`), the stream's
per-channel mean and std (`stream.info["normalization"]`) form the model's first layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from bench.spec.params import BadInput

if TYPE_CHECKING:
    from torch import nn

# What a backbone reads: "image" = float tensors (C, H, W) of an image stream (cut by class or by domain);
# "facts" = (entity, relation) id pairs of the facts stream.
INPUT_KINDS = ("image", "facts")
_NETS = ("SingleHeadNet", "MultiHeadNet", "per_task_heads", "mlp_features", "cnn_features", "Normalize")


@dataclass(frozen=True, kw_only=True)
class BackboneSpec:
    """A registered backbone. `features(input_shape, info)` returns (feature extractor, feature size);
    `gpu`: on CUDA it runs channels-last and may run under bf16 autocast (the ResNets)."""

    name: str
    description: str
    inputs: tuple[str, ...]
    reference: str
    features: Callable[[tuple[int, ...], dict], tuple[Any, int]]
    gpu: bool = False

    def fits(self, bench: Any) -> bool:
        return input_kind(bench) in self.inputs


def _mlp(shape, info):
    from bench.models.nets import mlp_features

    return mlp_features(shape)


def _cnn(shape, info):
    from bench.models.nets import cnn_features

    return cnn_features(shape)


def _facts(shape, info):
    from bench.models.nets import facts_features

    return facts_features(shape, info)


def _resnet18(nf: int):
    def build(shape, info):
        from bench.models.resnet import resnet18_features

        return resnet18_features(shape, nf=nf)
    return build


def _resnet32(shape, info):
    from bench.models.resnet import resnet32_features

    return resnet32_features(shape)


_SPECS = (
    BackboneSpec(name="mlp", inputs=("image", "arrays"), features=_mlp, reference="this bench (bench/models/nets.py)",
                 description="MLP, two hidden layers of 256 ReLU units over the flattened input (the digits, MNIST "
                             "and arrays default; the one backbone for arrays, which may be any tensors)."),
    BackboneSpec(name="cnn", inputs=("image",), features=_cnn, reference="this bench (bench/models/nets.py)",
                 description="Small CNN: three 3x3 convolutions (32, 64, 128 channels), max-pooling, global average "
                             "pooling (the CIFAR default)."),
    BackboneSpec(name="resnet18", inputs=("image",), features=_resnet18(64), gpu=True,
                 reference="Mammoth backbone/ResNetBlock.py resnet18 (num_filters=64), the backbone its "
                           "seq-cifar10 and seq-cifar100 use (datasets/seq_cifar10.py get_backbone), at commit "
                           "e75a491c69fd729edeb01431afb753d9157d9a81",
                 description="ResNet-18 for CIFAR, 64 base filters (11.2M parameters with 10 classes): Mammoth's "
                             "seq-cifar10/100 backbone, as in the DER and ER references."),
    BackboneSpec(name="reduced_resnet18", inputs=("image",), features=_resnet18(20), gpu=True,
                 reference="GEM model/common.py ResNet18(nclasses, nf=20) at commit "
                           "34c6b8e9a0607db7567301c48b727430d20bee7e (also Mammoth's reduced-resnet18 and "
                           "Avalanche's SlimResNet18)",
                 description="Reduced ResNet-18, 20 base filters (1.1M parameters with 100 classes): GEM's "
                             "(Lopez-Paz & Ranzato 2017) CIFAR-100 backbone, used by the online CIFAR references."),
    BackboneSpec(name="resnet32", inputs=("image",), features=_resnet32, gpu=True,
                 reference="PyCIL convs/cifar_resnet.py resnet32 at commit 87cc4110d60765dc3f64af7ef7a693efed8418ff "
                           "(He et al. 2016 option-A shortcuts; Avalanche's make_icarl_net has the same count)",
                 description="ResNet-32 for CIFAR: three stages of five basic blocks, 16/32/64 channels, 0.46M "
                             "parameters: the iCaRL / PyCIL / FACIL CIFAR-100 backbone."),
    BackboneSpec(name="facts", inputs=("facts",), features=_facts, reference="this bench (bench/models/nets.py)",
                 description="The facts stream's embedding MLP or tiny transformer (its `model` stream parameter)."),
)
_REGISTRY: dict[str, BackboneSpec] = {s.name: s for s in _SPECS}
MODEL_CHOICES: tuple[str, ...] = ("auto", *_REGISTRY)


def backbones() -> list[BackboneSpec]:
    return list(_REGISTRY.values())


def get_backbone(name: str) -> BackboneSpec:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise BadInput(f"unknown model {name!r}: expected one of {', '.join(MODEL_CHOICES)}") from None


def input_kind(bench: Any) -> str:
    """What a stream's samples are, in INPUT_KINDS terms (a BenchmarkSpec: its `images` flag, else its kind)."""
    return "image" if bench.images else str(bench.kind)


def resolve_model(model: str, bench: Any) -> str:
    """`auto` is the stream's default backbone; any other name is itself."""
    return bench.default_model if model == "auto" else model


def model_help() -> str:
    return ("Backbone (a feature extractor plus one linear head, one per experience in task-incremental runs). auto: "
            "the stream's default. " + " ".join(f"{s.name}: {s.description}" for s in _SPECS)
            + " Strategies that bring their own model (the prompt methods, iCaRL) take auto.")


# -- building (imports torch) ----------------------------------------------------------------------------------------
def backbone_features(name: str, *, input_shape: tuple[int, ...], info: dict | None = None) -> tuple[nn.Module, int]:
    """The named feature extractor for this input, behind the stream's normalisation when the run has it."""
    info = info or {}
    net, dim = get_backbone(name).features(tuple(input_shape), info)
    norm = info.get("normalization")
    if norm is not None:
        from torch import nn

        from bench.models.nets import Normalize

        net = nn.Sequential(Normalize(*norm), net)
    return net, dim


def build_model(name: str, *, input_shape: tuple[int, ...], n_outputs: int, n_heads: int,
                info: dict | None = None) -> nn.Module:
    """The named backbone with its head(s): one shared linear head, or one per task when n_heads > 1."""
    from bench.models.nets import with_head

    features, dim = backbone_features(name, input_shape=input_shape, info=info)
    return with_head(features, dim, n_outputs=n_outputs, n_heads=n_heads)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _resnets(model: nn.Module) -> list:
    from bench.models.resnet import ResNetFeatures

    return [m for m in model.modules() if isinstance(m, ResNetFeatures)]


def gpu_ready(model: nn.Module, device: Any, *, bf16: bool) -> None:
    """On CUDA: every ResNet in the model to channels-last (the layout cuDNN's fast convolutions want; the weights
    keep it when Avalanche moves the model) and, if asked, under bf16 autocast (bf16 needs no loss scaling).
    Elsewhere nothing changes: bf16 is ignored on a CPU. `gpu_state` reads back what is on."""
    import torch

    if torch.device(device).type != "cuda":
        return
    for net in _resnets(model):
        net.to(memory_format=torch.channels_last)
        net.autocast_bf16 = bool(bf16)


def gpu_state(model: nn.Module) -> dict[str, float]:
    """What the model runs with, as the run's metrics record it: channels_last and bf16_autocast (1 or 0)."""
    import torch

    nets = _resnets(model)
    weights = [n.stages[0][0].conv1.weight for n in nets]  # C_in >= 16: the two layouts differ
    return {"channels_last": float(any(w.is_cuda and w.is_contiguous(memory_format=torch.channels_last)
                                       and not w.is_contiguous() for w in weights)),
            "bf16_autocast": float(any(n.autocast_bf16 for n in nets))}


def __getattr__(name: str):
    """The nets' classes and helpers by their old names (`from bench.models import MultiHeadNet`), imported on use."""
    if name in _NETS:
        from bench.models import nets

        return getattr(nets, name)
    raise AttributeError(f"module 'bench.models' has no attribute {name!r}")
