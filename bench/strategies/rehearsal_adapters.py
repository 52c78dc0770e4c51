"""Rehearsal strategies that Avalanche ships but that do not run on our streams as shipped, each behind a small adapter.

iCaRL: Avalanche's `ICaRL` wraps its own `TrainEvalModel`, whose nearest-mean classifier has no output before the
first class means exist and is only as wide as the largest class id seen so far; its plugin also reads
`n_classes_per_exp` / `classes_order`, which the benchmarks our runner builds do not have, and it runs after our
recorder, so end-of-experience rows would be scored with stale class means. The adapter brings its own backbone
(`ICaRLNet`: features + linear head for training, a fixed-width nearest-mean-of-exemplars head in eval mode), fills in
the two benchmark attributes, and puts Avalanche's iCaRL plugin and loss ahead of our plugins.

Generative replay: Avalanche's default generator is a VAE for 28x28 MNIST; the adapter gives it a VAE sized to the
stream's input shape, with its own epochs and learning rate, trained by `VAETraining` on each experience.
"""
from __future__ import annotations

from bench.models import backbones
from bench.spec.params import BadInput, ParamSpec
from bench.strategies.base import QUICK_CLAIM, Claim, StrategySpec, mem_size_param


def _icarl(ctx, p):
    from bench.strategies.adapters import build_icarl

    return build_icarl(ctx, p)


def _icarl_model(stream, p):
    from bench.strategies.adapters import icarl_model

    return icarl_model(stream, p)


def _generative_replay(ctx, p):
    from bench.strategies.adapters import build_generative_replay

    return build_generative_replay(ctx, p)


# -- specs ------------------------------------------------------------------------------------------------------------
IMAGE_BACKBONES = ("auto", *(b.name for b in backbones() if "image" in b.inputs))  # iCaRL's feature extractors


def _mem(p: dict, n_experiences: int) -> int:
    return int(p["mem_size"])


def _images_only(params: dict, bench_params: dict, bench) -> None:
    """A VAE generates images; the facts stream's inputs are (entity, relation) ids."""
    if not bench.images:
        raise BadInput(f"strategy 'generative_replay' needs an image stream: {bench.name!r} has no images to "
                       "generate; use replay or another strategy")


SPECS = [
    StrategySpec(
        name="icarl", family="rehearsal", scenarios=("class",),
        claims=(Claim(benchmark="split-digits", scenario="class", margin=0.3, **QUICK_CLAIM,
                      source="Rebuffi et al. 2017: class-incremental CIFAR-100"),),
        build=_icarl, make_model=_icarl_model, memory=_mem,
        paper="Rebuffi et al. 2017, iCaRL: Incremental Classifier and Representation Learning",
        description="Herded exemplars per class, distillation of old outputs, nearest-mean-of-exemplars "
                    "classification.",
        params=(
            mem_size_param(),
            ParamSpec(name="backbone", type="str", default="auto", choices=IMAGE_BACKBONES,
                      help="Feature extractor, from the backbone registry (bench/models); auto uses the benchmark's "
                           "default model. iCaRL's own CIFAR-100 setup is resnet32."),
            ParamSpec(name="flip_means", type="bool", default=False,
                      help="Average each class mean over horizontally flipped exemplars too (iCaRL's CIFAR setup)."),
        ),
    ),
    StrategySpec(
        name="generative_replay", family="rehearsal", scenarios=("class", "domain"),
        claims=(Claim(benchmark="split-digits", scenario="class", margin=0.1, **QUICK_CLAIM,
                      source="van de Ven & Tolias 2019: generative replay in class-incremental split MNIST"),),
        build=_generative_replay,
        check=_images_only,
        paper="Shin et al. 2017, Continual Learning with Deep Generative Replay",
        description="A VAE learns the inputs seen so far; its samples, labelled by the previous model, are mixed "
                    "into every minibatch.",
        params=(
            ParamSpec(name="latent_dim", type="int", default=16, min=2, max=512, log=True,
                      help="Latent size of the VAE generator."),
            ParamSpec(name="generator_epochs", type="int", default=20, min=1, max=1000,
                      help="Epochs the VAE trains on each experience (with replay of its own samples)."),
            ParamSpec(name="generator_lr", type="float", default=1e-3, min=1e-6, max=1.0, log=True,
                      help="Adam learning rate of the VAE."),
            ParamSpec(name="replay_size", type="int", default=0, min=0, max=4096,
                      help="Generated samples added to each minibatch; 0 sizes the replay by the minibatch."),
            ParamSpec(name="increasing_replay_size", type="bool", default=True,
                      help="With replay_size 0: replay t minibatches' worth at experience t, so every past experience "
                           "keeps an equal share; off: one minibatch, so the oldest experiences fade geometrically."),
        ),
    ),
]
