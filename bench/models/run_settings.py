"""What a run's backbone is fed and how it runs (`model`, `normalize`, `augment`, `bf16`): `auto` resolved for the
stream and strategy, and every misfit refused in one line before anything is stored."""
from __future__ import annotations

from typing import Any

from bench.models import MODEL_CHOICES, get_backbone, input_kind, resolve_model
from bench.spec.params import BadInput

_ALLOWED_FOR = {"image": "images (C, H, W)", "facts": "(entity, relation) ids", "arrays": "tensors of any shape"}


def registry_backbone(strategy: Any) -> bool:
    """Whether a strategy that brings its own model takes its feature extractor from this registry (iCaRL's
    `backbone` parameter), so that the registry's normalisation and GPU settings reach it."""
    return any(p.name == "backbone" and p.choices and set(p.choices) <= set(MODEL_CHOICES) for p in strategy.params)


def check_fit(name: str, bench: Any, *, what: str = "model") -> None:
    spec = get_backbone(name)
    if spec.fits(bench):
        return
    kind = input_kind(bench)
    fitting = ", ".join(["auto", *(n for n in MODEL_CHOICES[1:] if get_backbone(n).fits(bench))])
    raise BadInput(f"{what}={name!r} does not fit benchmark {bench.name!r}: {name} reads "
                   f"{' or '.join(_ALLOWED_FOR[k] for k in spec.inputs)}, {bench.name} gives "
                   f"{_ALLOWED_FOR.get(kind, kind)}; expected one of {fitting}")


def backbone_of(run: dict, *, bench: Any, strategy: Any, params: dict) -> str | None:
    """The registry backbone the run trains (None: the strategy's own model, e.g. a prompt method's ViT)."""
    if strategy.make_model is not None:
        if run["model"] != "auto":
            hint = (f"; pick its feature extractor with its backbone parameter (--param backbone={run['model']})"
                    if registry_backbone(strategy) else "")
            raise BadInput(f"model={run['model']!r} is not allowed with strategy {strategy.name!r}: it brings its own "
                           f"model, expected model=auto{hint}")
        if not registry_backbone(strategy):
            return None
        name = resolve_model(params["backbone"], bench)
        check_fit(name, bench, what=f"{strategy.name}.backbone")
        return name
    name = resolve_model(run["model"], bench)
    check_fit(name, bench)
    return name


def check_run_settings(run: dict, *, bench: Any, strategy: Any, params: dict) -> dict:
    """The run settings with `normalize` and `augment` resolved (what the stored config says is what ran); `model`
    stays as given (auto is the stream's default, see resolve_model)."""
    run = dict(run)
    backbone = backbone_of(run, bench=bench, strategy=strategy, params=params)
    stats = getattr(bench, "normalization", None)
    if run["normalize"] == "auto":
        run["normalize"] = "mean_std" if stats is not None and backbone is not None else "none"
    elif run["normalize"] == "mean_std":
        if stats is None:
            raise BadInput(f"normalize='mean_std' needs per-channel statistics, which benchmark {bench.name!r} does "
                           f"not declare (CIFAR-10 and CIFAR-100 do): expected auto or none")
        if backbone is None:
            raise BadInput(f"normalize='mean_std' does not apply to strategy {strategy.name!r}: its own model "
                           f"normalises with its pretraining statistics; expected auto or none")
    if run["augment"] == "auto":
        run["augment"] = getattr(bench, "augment", "none")
    elif run["augment"] != "none" and not bench.images:
        raise BadInput(f"augment={run['augment']!r} needs an image stream: {bench.name!r} gives "
                       f"{_ALLOWED_FOR.get(input_kind(bench), bench.kind)}; expected auto or none")
    if run["bf16"] and run["device"] == "cpu":
        raise BadInput("bf16=True needs a CUDA device (bf16 autocast is for the ResNets on a GPU), and device is "
                       "'cpu': expected bf16=false, or device auto or cuda")
    return run
