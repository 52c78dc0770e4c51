"""Rehearsal: keep (or generate) samples of old experiences and train on them alongside new data."""
from __future__ import annotations

from bench.spec.params import ParamSpec
from bench.strategies.base import ALL_SCENARIOS, StrategySpec, avalanche, mem_size_param

_MEM = mem_size_param()
_BATCH_MEM = ParamSpec(name="batch_size_mem", type="int", default=10, min=1, max=1024,
                       help="Samples drawn from the buffer per training step.")


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
        paper="Chaudhry et al. 2019, On Tiny Episodic Memories in Continual Learning",
        description="Experience replay: mix samples from a fixed-size buffer into every minibatch.",
        params=(_MEM, ParamSpec(name="buffer", type="str", default="reservoir",
                                choices=("reservoir", "class_balanced"),
                                help="Reservoir sampling over the stream, or an equal share per class.")),
    ),
    StrategySpec(
        name="gdumb", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_mem,
        build=lambda ctx, p: avalanche("GDumb")(**ctx.kwargs(), mem_size=p["mem_size"]),
        paper="Prabhu et al. 2020, GDumb: A Simple Approach that Questions Our Progress in Continual Learning",
        description="Greedily fill a class-balanced buffer, retrain from scratch on the buffer only.",
        params=(_MEM,),
    ),
    StrategySpec(
        name="gem", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_per_exp_mem,
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
        build=lambda ctx, p: avalanche("DER")(**ctx.kwargs(), mem_size=p["mem_size"],
                                              batch_size_mem=p["batch_size_mem"], alpha=p["alpha"], beta=p["beta"]),
        paper="Buzzega et al. 2020, Dark Experience for General Continual Learning (DER++)",
        description="Dark experience replay: replay stored logits (and labels) of old samples.",
        params=(
            _MEM, _BATCH_MEM,
            ParamSpec(name="alpha", type="float", default=0.1, min=0.0, max=100.0, help="Weight of the logit loss."),
            ParamSpec(name="beta", type="float", default=0.5, min=0.0, max=100.0, help="Weight of the label loss."),
        ),
    ),
    StrategySpec(
        name="er_ace", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_mem,
        build=lambda ctx, p: avalanche("ER_ACE")(**ctx.kwargs(), mem_size=p["mem_size"],
                                                 batch_size_mem=p["batch_size_mem"]),
        paper="Caccia et al. 2022, New Insights on Reducing Abrupt Representation Change in Online Continual Learning",
        description="Replay with asymmetric cross-entropy: new data only competes among the current classes.",
        params=(_MEM, _BATCH_MEM),
    ),
    StrategySpec(
        name="mir", family="rehearsal", scenarios=ALL_SCENARIOS, memory=_mem,
        build=lambda ctx, p: avalanche("MIR")(**ctx.kwargs(), mem_size=p["mem_size"], subsample=p["subsample"],
                                 batch_size_mem=p["batch_size_mem"]),
        paper="Aljundi et al. 2019, Online Continual Learning with Maximally Interfered Retrieval",
        description="Replay the stored samples whose loss a virtual update would increase the most.",
        params=(
            _MEM, _BATCH_MEM,
            ParamSpec(name="subsample", type="int", default=50, min=1, max=10_000,
                      help="Candidates scored per step."),
        ),
    ),
]

