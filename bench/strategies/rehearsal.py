"""Rehearsal: keep (or generate) samples of old experiences and train on them alongside new data."""
from __future__ import annotations

from bench.spec.params import ParamSpec
from bench.strategies.base import ALL_SCENARIOS, QUICK_CLAIM, Claim, StrategySpec, avalanche, mem_size_param

_MEM = mem_size_param()


def _class_il(margin: float, source: str) -> tuple[Claim, ...]:
    return (Claim(benchmark="split-digits", scenario="class", margin=margin, source=source, **QUICK_CLAIM),)


def _permuted(margin: float, source: str) -> tuple[Claim, ...]:
    return (Claim(benchmark="permuted-digits", scenario="domain", margin=margin, source=source, **QUICK_CLAIM),)


GDUMB_EPOCHS = 50  # class-incremental split digits, seeds 0-1: ACC 0.905 at 30 epochs, 0.920 at 50, 0.933 at 100
_BATCH_MEM = ParamSpec(name="batch_size_mem", type="int", default=0, min=0, max=4096,
                       help="Samples drawn from the buffer per training step; 0: as many as the training batch (the "
                            "papers' and official code's choice; Avalanche's own default is 10 for ER-ACE and MIR).")


def _mem_batch(ctx, p) -> int:
    return p["batch_size_mem"] or ctx.train_mb_size


def _gdumb(ctx, p):
    # GDumb retrains from scratch on its buffer alone, for its own epochs (the stream's 3 leave it underfit), with
    # the official code's gradient clipping.
    from bench.strategies.adapters import ClipGradNorm

    plugins = [*ctx.plugins, *([ClipGradNorm(p["grad_clip"])] if p["grad_clip"] > 0 else [])]
    return avalanche("GDumb")(**{**ctx.kwargs(), "train_epochs": p["epochs"], "plugins": plugins},
                              mem_size=p["mem_size"])


def _mir(ctx, p):
    from bench.strategies.adapters import build_mir

    bm = _mem_batch(ctx, p)
    return build_mir(ctx, p, batch_size_mem=bm, subsample=p["subsample"] or 5 * bm)


def _replay(ctx, p):
    if p["buffer"] == "class_balanced":
        policy = avalanche("ClassBalancedBuffer")(max_size=p["mem_size"], adaptive_size=True)
    else:
        policy = avalanche("ReservoirSamplingBuffer")(max_size=p["mem_size"])
    kw = ctx.kwargs()
    kw["plugins"] = [*kw["plugins"], avalanche("ReplayPlugin")(mem_size=p["mem_size"], storage_policy=policy)]
    return avalanche("Naive")(**kw)


def _mem(p: dict, n_experiences: int) -> int:
    return int(p.get("mem_size", 0))


def _per_exp_mem(p: dict, n_experiences: int) -> int:
    return int(p["patterns_per_exp"]) * n_experiences


SPECS = [
    StrategySpec(
        name="replay", family="rehearsal", scenarios=ALL_SCENARIOS, build=_replay, memory=_mem,
        claims=_class_il(0.3, "Chaudhry et al. 2019 (tiny episodic memories); van de Ven & Tolias 2019: "
                              "class-incremental split MNIST needs replay"),
        paper="Chaudhry et al. 2019, On Tiny Episodic Memories in Continual Learning",
        description="Experience replay: mix samples from a fixed-size buffer into every minibatch.",
        params=(_MEM, ParamSpec(name="buffer", type="str", default="reservoir",
                                choices=("reservoir", "class_balanced"),
                                help="Reservoir sampling over the stream, or an equal share per class.")),
    ),
    StrategySpec(
        name="gdumb", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_mem, build=_gdumb, reset_optimizer=True,
        claims=_class_il(0.3, "Prabhu et al. 2020: class-incremental MNIST"),
        paper="Prabhu et al. 2020, GDumb: A Simple Approach that Questions Our Progress in Continual Learning",
        description="Greedily fill a class-balanced buffer, retrain from scratch on the buffer only, for its own "
                    "epochs. Deviations from the official code (drimpossible/GDumb: 128 passes on MNIST, SGDR cosine "
                    "restarts, batch 16): the run's optimizer, schedule and batch size, and a retraining after every "
                    "experience, so each row of the accuracy matrix is a GDumb model.",
        params=(_MEM, ParamSpec(name="epochs", type="int", default=GDUMB_EPOCHS, min=1, max=1000,
                                help="Epochs of each retraining on the buffer (its own, not the run's; the official "
                                     "code trains 128 passes on MNIST)."),
                ParamSpec(name="grad_clip", type="float", default=10.0, min=0.0, max=1e6,
                          help="Clip the gradient norm at this value, as the official code does (10); 0: off. "
                               "Applies on top of the run's own grad_clip.")),
    ),
    StrategySpec(
        name="gem", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_per_exp_mem,
        claims=_permuted(0.15, "Lopez-Paz & Ranzato 2017: MNIST permutations, one shared head"),
        build=lambda ctx, p: avalanche("GEM")(**ctx.kwargs(), patterns_per_exp=p["patterns_per_exp"],
                                 memory_strength=p["memory_strength"]),
        paper="Lopez-Paz & Ranzato 2017, Gradient Episodic Memory for Continual Learning",
        description="Project each gradient so that the loss on stored samples of every old experience does not grow.",
        params=(
            ParamSpec(name="patterns_per_exp", type="int", default=64, min=1, max=10_000,
                      help="Stored samples per experience."),
            ParamSpec(name="memory_strength", type="float", default=0.5, min=0.0, max=100.0,
                      help="Margin added to the projected gradient."),
        ),
    ),
    StrategySpec(
        name="agem", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_per_exp_mem,
        claims=_permuted(0.08, "Chaudhry et al. 2019 (A-GEM): permuted MNIST, one shared head"),
        build=lambda ctx, p: avalanche("AGEM")(**ctx.kwargs(), patterns_per_exp=p["patterns_per_exp"],
                                  sample_size=p["sample_size"]),
        paper="Chaudhry et al. 2019, Efficient Lifelong Learning with A-GEM",
        description="Averaged GEM: one projection against the average gradient of a memory sample.",
        params=(
            ParamSpec(name="patterns_per_exp", type="int", default=64, min=1, max=10_000,
                      help="Stored samples per experience."),
            ParamSpec(name="sample_size", type="int", default=64, min=1, max=10_000,
                      help="Memory samples used per projection."),
        ),
    ),
    StrategySpec(
        name="der", family="rehearsal", scenarios=("class", "domain"), memory=_mem,  # no task labels in its forward
        claims=_class_il(0.3, "Buzzega et al. 2020: Seq-MNIST class-incremental"),
        build=lambda ctx, p: avalanche("DER")(**ctx.kwargs(), mem_size=p["mem_size"],
                                              batch_size_mem=_mem_batch(ctx, p), alpha=p["alpha"], beta=p["beta"]),
        paper="Buzzega et al. 2020, Dark Experience for General Continual Learning (DER++)",
        description="Dark experience replay: replay stored logits (and labels) of old samples. Deviations from the "
                    "paper (Avalanche's): one joint forward pass and one memory batch for both terms, logits stored "
                    "at the end of each experience instead of when a sample is first seen.",
        params=(
            _MEM, _BATCH_MEM,
            ParamSpec(name="alpha", type="float", default=0.1, min=0.0, max=100.0, help="Weight of the logit loss."),
            ParamSpec(name="beta", type="float", default=0.5, min=0.0, max=100.0, help="Weight of the label loss."),
        ),
    ),
    StrategySpec(
        name="er_ace", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_mem,
        claims=_class_il(0.3, "Caccia et al. 2022: class-incremental split CIFAR-10"),
        build=lambda ctx, p: avalanche("ER_ACE")(**ctx.kwargs(), mem_size=p["mem_size"],
                                                 batch_size_mem=_mem_batch(ctx, p)),
        paper="Caccia et al. 2022, New Insights on Reducing Abrupt Representation Change in Online Continual Learning",
        description="Replay with asymmetric cross-entropy: new data only competes among the current classes.",
        params=(_MEM, _BATCH_MEM),
    ),
    StrategySpec(
        name="mir", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_mem,
        claims=_class_il(0.3, "Aljundi et al. 2019: class-incremental MNIST split"),
        build=_mir,
        paper="Aljundi et al. 2019, Online Continual Learning with Maximally Interfered Retrieval",
        description="Replay the stored samples whose loss a virtual update would increase the most (a reservoir "
                    "buffer of earlier experiences; see BufferWideMIRPlugin for the fixes to Avalanche's). Deviation: "
                    "several epochs over each experience instead of the paper's single online pass.",
        params=(
            _MEM, _BATCH_MEM,
            ParamSpec(name="subsample", type="int", default=0, min=0, max=10_000,
                      help="Candidates scored per step; 0: five times the memory batch (the official code's 50 "
                           "candidates for 10 replayed)."),
        ),
    ),
]

