"""Regularization: penalties that keep weights (or outputs) important for old experiences close.

SI, EWC and MAS train through the bench's own plugins (bench/strategies/regularization_plugins.py, imported when a
run builds one): SI because Avalanche's aliases its weight snapshots on CPU (SI equalled fine-tuning there), EWC and
MAS for importances computed per sample, as their papers define them, so that lambda does not change meaning with
the batch size. LwF and RWalk are Avalanche's (their snapshots are copies)."""
from __future__ import annotations

from bench.spec.params import BadInput, ParamSpec
from bench.strategies.base import ALL_SCENARIOS, QUICK_CLAIM, Claim, StrategySpec, avalanche

EWC_LAMBDA = 100.0  # chosen on permuted digits, seeds 10-11 (README, 'Default protocol')


def _permuted(margin: float, source: str) -> tuple[Claim, ...]:
    return (Claim(benchmark="permuted-digits", scenario="domain", margin=margin, source=source, **QUICK_CLAIM),)


def _plugins():
    from bench.strategies import regularization_plugins

    return regularization_plugins


def _with(ctx, plugin):
    return avalanche("Naive")(**{**ctx.kwargs(), "plugins": [*ctx.plugins, plugin]})


def _ewc(ctx, p):
    decay = p["decay_factor"] if p["mode"] == "online" else None
    return _with(ctx, _plugins().PerSampleEWCPlugin(ewc_lambda=p["ewc_lambda"], mode=p["mode"], decay_factor=decay))


def _si(ctx, p):
    return _with(ctx, _plugins().SynapticIntelligencePlugin(si_lambda=p["si_lambda"], eps=p["eps"]))


def _mas(ctx, p):
    return _with(ctx, _plugins().PerSampleMASPlugin(lambda_reg=p["lambda_reg"], alpha=p["alpha"]))


def _rwalk(ctx, p):
    return _with(ctx, avalanche("RWalkPlugin")(ewc_lambda=p["ewc_lambda"], ewc_alpha=p["ewc_alpha"],
                                               delta_t=p["delta_t"]))


def _no_embeddings(params: dict, bench_params: dict, bench) -> None:
    """RWalk's path-integral importance divides by each parameter's movement: embedding rows of entities not
    in the current experience never move, giving 0/0 = NaN on the facts stream."""
    if not bench.images:
        raise BadInput(f"strategy 'rwalk' needs an image stream: on {bench.name!r} its importance is NaN for "
                       "embedding rows that do not move; use ewc, si or mas")


SPECS = [
    StrategySpec(
        name="ewc", family="regularization", scenarios=ALL_SCENARIOS, build=_ewc,
        claims=_permuted(0.08, "Kirkpatrick et al. 2017: permuted MNIST"),
        paper="Kirkpatrick et al. 2017, Overcoming catastrophic forgetting in neural networks",
        description="Elastic Weight Consolidation: a quadratic penalty weighted by the Fisher information. "
                    "Deviations: the empirical Fisher (true labels), from per-sample gradients over the experience's "
                    "training set; penalty written without the paper's 1/2.",
        params=(
            ParamSpec(name="ewc_lambda", type="float", default=EWC_LAMBDA, min=0.0, max=1e7, log=True,
                      help="Strength of the penalty lambda * sum_i F_i (theta_i - theta*_i)^2, F the per-sample "
                           "empirical Fisher; Kirkpatrick et al. write lambda / 2, so their lambda is twice this "
                           "(with SGD at 0.1, 1000 diverges on permuted digits)."),
            ParamSpec(name="mode", type="str", default="separate", choices=("separate", "online"),
                      help="separate: one penalty per experience; online: one running Fisher (Schwarz et al.)."),
            ParamSpec(name="decay_factor", type="float", default=0.9, min=0.0, max=1.0,
                      help="Online mode only: decay of the running Fisher."),
        ),
    ),
    StrategySpec(
        name="si", family="regularization", scenarios=ALL_SCENARIOS,
        claims=_permuted(0.04, "Zenke et al. 2017: permuted MNIST"),
        build=_si,
        paper="Zenke et al. 2017, Continual Learning Through Synaptic Intelligence",
        description="Synaptic Intelligence: importance accumulated online along the training path (the bench's "
                    "own plugin; Avalanche's equals fine-tuning on CPU). Deviation: none known.",
        params=(
            ParamSpec(name="si_lambda", type="float", default=10.0, min=0.0, max=1e6, log=True,
                      help="c, the strength of the penalty c * sum_i Omega_i (theta_i - theta*_i)^2 (the paper's "
                           "form; it used c = 0.1 with Adam on permuted MNIST; Omega grows with the path length, so "
                           "c depends on the recipe: 10 was best here among 1, 10, 30, 100)."),
            ParamSpec(name="eps", type="float", default=0.1, min=1e-12, max=1.0, log=True,
                      help="xi, the damping in Omega = omega / (Delta^2 + xi); 0.1 as in the official permuted-MNIST "
                           "code (1e-3 for split MNIST)."),
        ),
    ),
    StrategySpec(
        name="lwf", family="regularization", scenarios=ALL_SCENARIOS,
        claims=_permuted(0.05, "Li & Hoiem 2016: less forgetting of old tasks than fine-tuning; checked, like "
                               "EWC, on permuted digits"),
        build=lambda ctx, p: avalanche("LwF")(**ctx.kwargs(), alpha=p["alpha"], temperature=p["temperature"]),
        paper="Li & Hoiem 2016, Learning without Forgetting",
        description="Learning without Forgetting: distil the previous model's outputs on new data (Avalanche's). "
                    "Deviation: one shared or per-task head of fixed width instead of heads added per task.",
        params=(
            ParamSpec(name="alpha", type="float", default=1.0, min=0.0, max=100.0, help="Distillation weight."),
            ParamSpec(name="temperature", type="float", default=2.0, min=0.1, max=100.0,
                      help="Softmax temperature of the distillation."),
        ),
    ),
    StrategySpec(
        name="mas", family="regularization", scenarios=ALL_SCENARIOS,
        claims=_permuted(0.08, "Aljundi et al. 2018: less forgetting than fine-tuning; checked, like EWC, on "
                               "permuted digits"),
        build=_mas,
        paper="Aljundi et al. 2018, Memory Aware Synapses",
        description="Memory Aware Synapses: importance from the sensitivity of the squared output norm, per "
                    "sample. Deviation: importances of successive experiences blended by alpha (Avalanche's), where "
                    "the paper sums them.",
        params=(
            ParamSpec(name="lambda_reg", type="float", default=0.1, min=0.0, max=1e6, log=True,
                      help="Strength of the penalty lambda * sum_i Omega_i (theta_i - theta*_i)^2 (Omega from "
                           "per-sample gradients; with SGD at 0.1, 1 diverges on permuted digits)."),
            ParamSpec(name="alpha", type="float", default=0.5, min=0.0, max=1.0,
                      help="Running-average weight of the importance."),
        ),
    ),
    StrategySpec(
        name="rwalk", family="regularization", scenarios=ALL_SCENARIOS, build=_rwalk, check=_no_embeddings,
        claims=_permuted(0.05, "Chaudhry et al. 2018: less forgetting than fine-tuning; checked, like EWC, on "
                               "permuted digits"),
        paper="Chaudhry et al. 2018, Riemannian Walk for Incremental Learning",
        description="Riemannian Walk: EWC-style Fisher plus path-integral importance (Avalanche's plugin). "
                    "Deviation: no episodic memory (the paper pairs it with a small replay buffer in the "
                    "class-incremental scenario).",
        params=(
            ParamSpec(name="ewc_lambda", type="float", default=1.0, min=0.0, max=1e6, log=True,
                      help="Strength of the penalty on the importances normalised to [0, 1] (Avalanche's 0.1 left "
                           "the run equal to fine-tuning; with SGD at 0.1, 10 diverges on permuted digits)."),
            ParamSpec(name="ewc_alpha", type="float", default=0.9, min=0.0, max=1.0,
                      help="Moving-average weight of the Fisher."),
            ParamSpec(name="delta_t", type="int", default=10, min=1, max=10_000,
                      help="Iterations between importance updates."),
        ),
    ),
]
