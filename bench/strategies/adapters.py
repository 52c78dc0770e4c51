"""iCaRL's, generative replay's, MIR's and GDumb's adapters, imported when a run builds one of them (see
rehearsal_adapters and rehearsal)."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from avalanche.core import SupervisedPlugin
from avalanche.models import MlpVAE
from avalanche.training import GenerativeReplay, VAETraining
from avalanche.training.losses import ICaRLLossPlugin
from avalanche.training.plugins import EvaluationPlugin, GenerativeReplayPlugin, MIRPlugin
from avalanche.training.plugins.mir import cycle
from avalanche.training.storage_policy import ReservoirSamplingBuffer
from avalanche.training.supervised.icarl import _ICaRLPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from bench.benchmarks.base import Stream
from bench.models import backbone_features, resolve_model
from bench.strategies.base import BuildContext

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


def icarl_model(stream: Stream, p: dict) -> nn.Module:
    """ICaRLNet over the registry's feature extractor (auto: the stream's default backbone; resnet32 is iCaRL's
    CIFAR-100 one), behind the stream's normalisation when the run has it."""
    from bench.benchmarks import get_benchmark

    kind = resolve_model(p["backbone"], get_benchmark(stream.benchmark))
    features, dim = backbone_features(kind, input_shape=stream.input_shape, info=stream.info)
    return ICaRLNet(features=features, feat_dim=dim, n_outputs=stream.n_outputs)


class _StreamAwareICaRLPlugin(_ICaRLPlugin):
    """Avalanche's iCaRL plugin (herded exemplars, memory split over the classes seen), given the two class-split
    attributes it reads from the benchmark, derived from the experiences' own class lists. Class means go straight
    into our fixed-width head; averaging them over horizontally flipped exemplars (Avalanche's default, a CIFAR
    augmentation) is optional, since a flipped digit is another glyph."""

    def __init__(self, memory_size: int, *, flip: bool) -> None:
        super().__init__(memory_size, buffer_transform=None, fixed_memory=True)
        self.flip = flip
        self.budget = memory_size

    def after_training_exp(self, strategy, **kwargs):
        # Avalanche keeps ceil(memory_size / classes seen) exemplars per class, which can exceed the budget (200 over
        # 3 classes: 201). iCaRL's m = K / t, rounded down: with memory_size a multiple of the class count, Avalanche's
        # ceil equals that floor, so the memory never holds more than `budget`.
        n = len(self.observed_classes)
        self.memory_size = (self.budget // n) * n
        super().after_training_exp(strategy, **kwargs)

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


def build_icarl(ctx: BuildContext, p: dict):
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


def build_generative_replay(ctx: BuildContext, p: dict):
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




# -- MIR --------------------------------------------------------------------------------------------------------------

class BufferWideMIRPlugin(MIRPlugin):
    """Avalanche's MIR (a virtual SGD step on the current minibatch, then replay of the stored samples whose loss it
    raises most) with two fixes for the bench's offline experiences.

    Avalanche leaves out of the replay candidates every class present in the last minibatch of the experience just
    trained. In the task- and domain-incremental scenarios every experience reuses labels 0..k-1, so that removed
    all but one label from the buffer (each head then saw replay of one class only: ACC 0.77 against naive's 0.99 in
    task-incremental split digits); in the class-incremental scenario it left out the experience just trained while
    training the next. The official code (optimass/Maximally_Interfered_Retrieval) excludes the *current* task; here
    the buffer is filled at the end of each experience, so it holds only earlier ones and nothing is excluded. The
    buffer is a reservoir over the stream, as in the official code (Avalanche's is class-balanced by label, which in
    task- and domain-incremental streams merges classes of different experiences)."""

    def __init__(self, *, batch_size_mem: int, mem_size: int, subsample: int) -> None:
        super().__init__(batch_size_mem=batch_size_mem, mem_size=mem_size, subsample=subsample)
        self.storage_policy = ReservoirSamplingBuffer(max_size=mem_size)

    def after_training_exp(self, strategy, **kwargs):
        self.storage_policy.update(strategy, **kwargs)
        buffer = self.storage_policy.buffer
        self.replay_loader = None
        if len(buffer) > self.batch_size_mem:
            self.replay_loader = cycle(torch.utils.data.DataLoader(buffer, batch_size=self.subsample, shuffle=True))


def build_mir(ctx: BuildContext, p: dict, *, batch_size_mem: int, subsample: int):
    kw = ctx.kwargs()
    kw["plugins"] = [*ctx.plugins, BufferWideMIRPlugin(batch_size_mem=batch_size_mem, mem_size=p["mem_size"],
                                                       subsample=subsample)]
    return SupervisedTemplate(**kw)


# -- GDumb ------------------------------------------------------------------------------------------------------------

class ClipGradNorm(SupervisedPlugin):
    """Clip the gradient norm before each update: GDumb's own clipping (drimpossible/GDumb, --clip 10), which
    applies whatever the run's grad_clip (bench.train.recorder.GradClip, a run setting one layer up)."""

    def __init__(self, max_norm: float) -> None:
        super().__init__()
        self.max_norm = max_norm

    def before_update(self, strategy, **kwargs) -> None:
        torch.nn.utils.clip_grad_norm_(strategy.model.parameters(), self.max_norm)
