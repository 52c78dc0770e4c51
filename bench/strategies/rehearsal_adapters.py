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

import warnings

import torch
import torch.nn.functional as F
from avalanche.models import MlpVAE
from avalanche.training import GenerativeReplay, VAETraining
from avalanche.training.losses import ICaRLLossPlugin
from avalanche.training.plugins import EvaluationPlugin, GenerativeReplayPlugin
from avalanche.training.supervised.icarl import _ICaRLPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from ..benchmarks.base import Stream
from ..models import cnn_features, mlp_features
from ..params import BadInput, ParamSpec
from .base import BuildContext, StrategySpec, mem_size_param

# -- iCaRL ------------------------------------------------------------------------------------------------------------

UNSEEN_SCORE = -4.0  # features and class means are unit vectors, so a seen class scores -distance in [-2, 0]


class NearestMeanHead(nn.Module):
    """Nearest-mean-of-exemplars scores over a fixed set of `n_outputs` classes: -||f/|f| - mu_c||, and
    UNSEEN_SCORE for classes without a mean yet. Speaks the `replace_class_means_dict` API that Avalanche's iCaRL
    plugin calls (a zero vector there means "no mean")."""

    def __init__(self, n_outputs: int, feat_dim: int) -> None:
        super().__init__()
        self.register_buffer("means", torch.zeros(n_outputs, feat_dim))
        self.register_buffer("known", torch.zeros(n_outputs, dtype=torch.bool))

    @property
    def ready(self) -> bool:
        return bool(self.known.any())

    @torch.no_grad()
    def replace_class_means_dict(self, class_means: dict) -> None:
        self.means.zero_()
        self.known.zero_()
        for c, mu in class_means.items():
            if bool((mu != 0).any()):
                self.means[int(c)] = mu.to(self.means.device)
                self.known[int(c)] = True

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        f = F.normalize(feats, dim=1)
        scores = -torch.cdist(f, self.means.to(f.dtype))
        return scores.masked_fill(~self.known, UNSEEN_SCORE)


class ICaRLNet(nn.Module):
    """features -> linear head (training, and the iCaRL distillation targets) | nearest-mean head (eval mode).

    Until the first experience has produced class means, eval mode falls back to the linear head, so the
    untrained model is scored like any other backbone."""

    def __init__(self, *, features: nn.Module, feat_dim: int, n_outputs: int) -> None:
        super().__init__()
        self.feature_extractor = features
        self.train_classifier = nn.Linear(feat_dim, n_outputs)
        self.eval_classifier = NearestMeanHead(n_outputs, feat_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.feature_extractor(x)
        if self.training or not self.eval_classifier.ready:
            return self.train_classifier(feats)
        return self.eval_classifier(feats)


def _icarl_model(stream: Stream, p: dict) -> nn.Module:
    kind = p["backbone"]
    if kind == "auto":
        from ..benchmarks import get_benchmark

        kind = get_benchmark(stream.benchmark).default_model
    features, dim = (mlp_features if kind == "mlp" else cnn_features)(stream.input_shape)
    return ICaRLNet(features=features, feat_dim=dim, n_outputs=stream.n_outputs)


class _StreamAwareICaRLPlugin(_ICaRLPlugin):
    """Avalanche's iCaRL plugin (herded exemplars, memory split over the classes seen), given the two class-split
    attributes it reads from the benchmark, derived from the experiences' own class lists. Class means go straight
    into our fixed-width head; averaging them over horizontally flipped exemplars (Avalanche's default, a CIFAR
    augmentation) is optional, since a flipped digit is another glyph."""

    def __init__(self, memory_size: int, *, flip: bool) -> None:
        super().__init__(memory_size, buffer_transform=None, fixed_memory=True)
        self.flip = flip

    def before_training_exp(self, strategy, **kwargs):
        bench = strategy.experience.benchmark
        if not hasattr(bench, "n_classes_per_exp"):
            per_exp = [sorted(int(c) for c in e.classes_in_this_experience) for e in bench.train_stream]
            bench.n_classes_per_exp = [len(cs) for cs in per_exp]
            bench.classes_order = [c for cs in per_exp for c in cs]
        super().before_training_exp(strategy, **kwargs)

    @torch.no_grad()
    def compute_class_means(self, strategy):
        model = strategy.model
        means = {}
        for x, labels in zip(self.x_memory, self.y_memory, strict=True):
            if not len(labels):
                continue
            x = x.to(strategy.device)
            views = [x, torch.flip(x, [3])] if self.flip and x.dim() == 4 else [x]
            mu = torch.stack([F.normalize(model.feature_extractor(v), dim=1).mean(0) for v in views]).mean(0)
            means[int(labels[0])] = F.normalize(mu, dim=0)
        model.eval_classifier.replace_class_means_dict(means)


def _icarl(ctx: BuildContext, p: dict):
    if not isinstance(ctx.model, ICaRLNet):
        raise TypeError("icarl needs the model from its make_model (ICaRLNet)")
    loss = ICaRLLossPlugin()
    kw = ctx.kwargs()
    # The iCaRL plugin (exemplars, class means) and its loss (old-model snapshot) must finish their
    # after_training_exp before our recorder scores the end-of-experience model.
    icarl = _StreamAwareICaRLPlugin(p["mem_size"], flip=p["flip_means"])
    kw.update(criterion=loss, plugins=[icarl, loss, *ctx.plugins])
    return SupervisedTemplate(**kw)


# -- generative replay ------------------------------------------------------------------------------------------------

class _GeneratorTraining(VAETraining):
    """VAETraining that never hands the VAE a lone sample: its encoder's BatchNorm cannot train on a minibatch of one,
    which an experience of k * batch_size + 1 samples would end with (later experiences add replay to every batch)."""

    def make_train_dataloader(self, **kwargs):
        kwargs["drop_last"] = len(self.adapted_dataset) % self.train_mb_size == 1
        super().make_train_dataloader(**kwargs)


def _generative_replay(ctx: BuildContext, p: dict):
    generator = MlpVAE(tuple(ctx.stream.input_shape), nhid=p["latent_dim"], n_classes=ctx.stream.n_outputs,
                       device=ctx.device)
    gen_opt = torch.optim.Adam(generator.parameters(), lr=p["generator_lr"], weight_decay=1e-4)
    replay = dict(replay_size=p["replay_size"] or None, increasing_replay_size=p["increasing_replay_size"])
    with warnings.catch_warnings():  # "no loggers": the generator's training is not reported
        warnings.simplefilter("ignore", UserWarning)
        quiet = EvaluationPlugin(loggers=[])
    # The VAE trains under its own template, loss and plugins: its forward returns (x_hat, mean, logvar), which our
    # recorder (argmax of the output) cannot score.
    gen_strategy = _GeneratorTraining(
        model=generator, optimizer=gen_opt, train_mb_size=max(2, ctx.train_mb_size), train_epochs=p["generator_epochs"],
        eval_mb_size=ctx.eval_mb_size, device=ctx.device, plugins=[GenerativeReplayPlugin(**replay)], evaluator=quiet,
    )
    kw = ctx.kwargs()
    kw["plugins"] = list(ctx.plugins)  # GenerativeReplay appends to the list it is given
    return GenerativeReplay(**kw, generator_strategy=gen_strategy, **replay)


# -- specs ------------------------------------------------------------------------------------------------------------

def _mem(p: dict, n_experiences: int) -> int:
    return int(p["mem_size"])


def _images_only(params: dict, bench_params: dict, bench) -> None:
    """A VAE generates images; the facts stream's inputs are (entity, relation) ids."""
    if bench.kind not in ("split", "domain"):
        raise BadInput(f"strategy 'generative_replay' needs an image stream: {bench.name!r} has no images to "
                       "generate; use replay or another strategy")


SPECS = [
    StrategySpec(
        name="icarl", family="rehearsal", scenarios=("class",), build=_icarl, make_model=_icarl_model, memory=_mem,
        paper="Rebuffi et al. 2017, iCaRL: Incremental Classifier and Representation Learning",
        description="Herded exemplars per class, distillation of old outputs, nearest-mean-of-exemplars "
                    "classification.",
        params=(
            mem_size_param(),
            ParamSpec(name="backbone", type="str", default="auto", choices=("auto", "mlp", "cnn"),
                      help="Feature extractor; auto uses the benchmark's default model."),
            ParamSpec(name="flip_means", type="bool", default=False,
                      help="Average each class mean over horizontally flipped exemplars too (iCaRL's CIFAR setup)."),
        ),
    ),
    StrategySpec(
        name="generative_replay", family="rehearsal", scenarios=("class", "domain"), build=_generative_replay,
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
