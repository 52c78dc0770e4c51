"""Prompt-based strategies: L2P, DualPrompt and CODA-Prompt on a frozen pretrained ViT (bench/prompt/).

Each brings its own model (`make_model`): the backbone (frozen), the method's prompts and keys, and a linear head.
Training runs through Avalanche's Naive template with `PromptPlugin`, so the recorder, the fast path, the store rows
and the charts are the same as for every other strategy. No rehearsal buffer: `memory` is 0 stored samples, and the
runner records the prompts' size (`prompt_params`) to set against rehearsal buffers."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from bench.prompt.names import BACKBONES, MICRO, MICROS, check_backbone
from bench.spec.params import BadInput, ParamSpec
from bench.strategies.base import ALL_SCENARIOS, QUICK_CLAIM, BuildContext, Claim, StrategySpec, avalanche

if TYPE_CHECKING:
    from bench.benchmarks.base import Stream
    from bench.prompt.model import PromptNet

DEPTH = dict.fromkeys(MICROS, 6)  # every timm ViT offered has 12 blocks

BACKBONE_PARAMS = (
    ParamSpec(name="backbone", type="str", default=MICRO, choices=BACKBONES,
              help="Frozen ViT: micro-vit-ssl is pretrained offline by the bench without labels (SimCLR on MNIST "
                   "images), micro-vit-supervised with the digit labels 0-9 that the digits streams teach (CPU is "
                   "fine for both); the timm ViTs load their ImageNet-21k weights through timm (GPU recommended)."),
    ParamSpec(name="pretrained", type="bool", default=True,
              help="Load the backbone's pretrained weights (false: same architecture, random weights)."),
)


def _int(name: str, default: int, lo: int, hi: int, help: str) -> ParamSpec:
    return ParamSpec(name=name, type="int", default=default, min=lo, max=hi, help=help)


def _layers_param(name: str, default: str, what: str) -> ParamSpec:
    return ParamSpec(name=name, type="str", default=default, help=f"Blocks that get {what}, e.g. 0,1 (0 is the first).")


def parse_layers(raw: str, name: str, depth: int) -> tuple[int, ...]:
    try:
        layers = tuple(int(s) for s in str(raw).replace(" ", "").split(",") if s != "")
    except ValueError:
        layers = ()
    if not layers or any(not 0 <= i < depth for i in layers) or len(set(layers)) != len(layers):
        raise BadInput(f"{name}={raw!r} is not allowed: expected distinct block indices in 0..{depth - 1}, "
                       f"comma-separated")
    return layers


def _check(params: dict, bench_params: dict, bench, *, per_task_pool: bool) -> None:
    if not bench.images:
        raise BadInput(f"benchmark {bench.name} is not made of images: prompt-based strategies need a ViT input")
    check_backbone(params["backbone"], bench.name)
    depth = DEPTH.get(params["backbone"], 12)
    for key in ("g_layers", "e_layers", "layers"):
        if key in params:
            parse_layers(params[key], key, depth)
    n_exp = bench_params.get("n_experiences", 1)
    if "top_k" in params and params["top_k"] > params["pool_size"]:
        raise BadInput(f"top_k={params['top_k']} is larger than pool_size={params['pool_size']}: expected top_k <= "
                       f"pool_size")
    if per_task_pool and params["pool_size"] < n_exp:
        raise BadInput(f"pool_size={params['pool_size']} is smaller than n_experiences={n_exp}: "
                       f"expected at least one prompt per experience")


def _methods():
    from bench.prompt import methods

    return methods


def _make(method_factory):
    def make_model(stream: Stream, params: dict) -> PromptNet:
        from bench.prompt.backbones import load_backbone
        from bench.prompt.model import PromptNet

        vit, info = load_backbone(params["backbone"], pretrained=params["pretrained"])
        depth = len(vit.blocks)
        method = method_factory(vit.embed_dim, params, len(stream.experiences), depth)
        return PromptNet(backbone=vit, info=info, method=method, n_outputs=stream.n_outputs, n_heads=stream.n_heads,
                         freeze=params.get("freeze_backbone", True))
    return make_model


def _build(ctx: BuildContext, params: dict):
    masked = ctx.stream.scenario == "class" and params.get("mask_logits", True)
    groups = [e.classes for e in ctx.stream.experiences] if masked else None
    from bench.prompt.model import PromptPlugin

    return avalanche("Naive")(**{**ctx.kwargs(), "plugins": [*ctx.plugins, PromptPlugin(groups)]})


AGAINST_FINETUNING = (Claim(benchmark="split-digits", scenario="class", margin=0.1, against="vit_finetune",
                            **QUICK_CLAIM, source="Wang et al. 2022 (L2P): prompts far above fine-tuning the same ViT "
                                   "(sequential fine-tuning), class-incremental split CIFAR-100"),)


def _spec(name: str, description: str, paper: str, params: tuple, factory, per_task_pool: bool,
          family: str = "prompt") -> StrategySpec:
    # reset_optimizer: the official L2P / DualPrompt / CODA-Prompt code builds a new optimizer for every task (and
    # vit_finetune, their lower bound, trains under the same recipe).
    return StrategySpec(name=name, family=family, description=description, paper=paper,
                        params=BACKBONE_PARAMS + params, scenarios=ALL_SCENARIOS, build=_build,
                        make_model=_make(factory), check=functools.partial(_check, per_task_pool=per_task_pool),
                        reset_optimizer=True, claims=AGAINST_FINETUNING if family == "prompt" else ())


SPECS = [
    _spec("l2p", "Learning to Prompt: a pool of prompts with keys; the top-k keys nearest to the frozen ViT's query "
          "pick the prompts prepended to the input. No rehearsal buffer.",
          "Wang et al., Learning to Prompt for Continual Learning, CVPR 2022",
          (_int("pool_size", 10, 1, 200, "Prompts in the pool (M)."),
           _int("prompt_length", 5, 1, 50, "Tokens per prompt (L_p)."),
           _int("top_k", 5, 1, 200, "Prompts chosen per input (N)."),
           ParamSpec(name="pull", type="float", default=0.1, min=0.0, max=10.0,
                     help="Pull-constraint coefficient λ (draws the chosen keys towards the queries)."),
           ParamSpec(name="readout", type="str", default="prompts", choices=("prompts", "class_token"),
                     help="What the classifier reads: the mean of the prompt tokens' outputs (the paper) or the "
                          "class token.")),
          lambda dim, p, n_exp, depth: _methods().L2P(dim, pool_size=p["pool_size"], length=p["prompt_length"],
                                           top_k=p["top_k"], pull=p["pull"], readout=p["readout"]),
          per_task_pool=False),
    _spec("dualprompt", "DualPrompt: a shared G-prompt in the first blocks and one E-prompt per experience in later "
          "blocks (attention prefixes); the nearest key picks the E-prompt at test time. No rehearsal buffer.",
          "Wang et al., DualPrompt: Complementary Prompting for Rehearsal-free Continual Learning, ECCV 2022",
          (_layers_param("g_layers", "0,1", "the general (G) prompt"),
           _int("g_length", 5, 1, 50, "Length of the G-prompt (L_g)."),
           _layers_param("e_layers", "2,3,4", "the expert (E) prompts"),
           _int("e_length", 20, 1, 100, "Length of each E-prompt (L_e)."),
           _int("pool_size", 10, 1, 100, "E-prompts in the pool (at least one per experience)."),
           ParamSpec(name="pull", type="float", default=1.0, min=0.0, max=10.0,
                     help="Coefficient of the key-query matching loss.")),
          lambda dim, p, n_exp, depth: _methods().DualPrompt(
              dim, g_layers=parse_layers(p["g_layers"], "g_layers", depth), g_length=p["g_length"],
              e_layers=parse_layers(p["e_layers"], "e_layers", depth), e_length=p["e_length"],
              pool_size=p["pool_size"], pull=p["pull"]), per_task_pool=True),
    _spec("coda_prompt", "CODA-Prompt: each block's prompt is an attention-weighted sum of components, trained end "
          "to end; each experience adds components and freezes the earlier ones. No rehearsal buffer.",
          "Smith et al., CODA-Prompt: COntinual Decomposed Attention-based Prompting, CVPR 2023",
          (_layers_param("layers", "0,1,2,3,4", "prompts"),
           _int("pool_size", 100, 1, 1000, "Prompt components, shared out equally between the experiences."),
           _int("prompt_length", 8, 2, 50, "Length of each component (half key prefix, half value prefix)."),
           ParamSpec(name="ortho", type="float", default=0.1, min=0.0, max=1e6, log=False,
                     help="Weight of the orthogonality penalty on components, keys and attention vectors, on the "
                          "official code's scale (its ortho_mu, times 1e-6 inside the penalty; 0.1 in the paper's "
                          "CIFAR-100 script; its later code, which re-initialises new components, uses 0).")),
          lambda dim, p, n_exp, depth: _methods().CodaPrompt(
              dim, n_tasks=n_exp, layers=parse_layers(p["layers"], "layers", depth), pool_size=p["pool_size"],
              length=p["prompt_length"], ortho=p["ortho"]), per_task_pool=True),
    _spec("vit_finetune", "Fine-tuning the prompt methods' ViT and head, no prompts (their lower bound); with "
          "freeze_backbone, a linear probe on the frozen ViT; with mask_logits, the prompt methods' logit masking.",
          "",
          (ParamSpec(name="freeze_backbone", type="bool", default=False,
                     help="Keep the ViT frozen and train the head only (a linear probe)."),
           ParamSpec(name="mask_logits", type="bool", default=False,
                     help="Class-incremental: mask the logits of classes outside the current experience while "
                          "training, as the prompt methods do.")),
          lambda dim, p, n_exp, depth: _methods().NoPrompt(), per_task_pool=False, family="baselines"),
]
