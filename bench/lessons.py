"""Guided lessons and the first-run demo: preset comparisons that reuse finished runs with the same config."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.status import Status

STREAM = "split-digits"
SECONDS_PER_RUN = 6.0  # a digits run at the run defaults (20 epochs) with one warm worker, 2 shared CPU cores
POOL_START_S = 10.0  # a fresh worker imports torch and Avalanche
# The facts lesson keeps the recipe its texts were written against (3 epochs of plain SGD at 0.1, clipped at 10, every
# minibatch kept): its stream sets how often a fact is seen through `exposures`, and its curves were read at that.
FACTS_RECIPE = {"epochs": 3, "lr": 0.1, "momentum": 0.0, "grad_clip": 10.0, "last_batch": "keep"}
# The prompt lesson trains a ViT: 3 epochs keep a run near half a minute on one core (20 would take minutes). It is
# the recipe of the README's prompt table (scripts/prompt_report.py), which its takeaway quotes.
PROMPT_RECIPE = FACTS_RECIPE


def _cfgs(strategies: list[tuple[str, dict]], *, scenarios=("class",), seeds=(0, 1),
          run: dict | None = None) -> tuple[RunConfig, ...]:
    return tuple(RunConfig(benchmark=STREAM, scenario=sc, strategy=name, params=dict(params), seed=seed,
                           **dict(run or {}))
                 for sc in scenarios for name, params in strategies for seed in seeds)


@dataclass(frozen=True, kw_only=True)
class Lesson:
    key: str
    title: str
    summary: str
    text: str  # plain-language explanation (Markdown), shown above the results
    configs: tuple[RunConfig, ...]
    view: str  # how the results are shown: "compare", "scenarios", "replay", "facts" or "stability"
    takeaway: str = ""  # shown under the results
    seconds_per_run: float = SECONDS_PER_RUN

    def estimate_s(self, missing: int, *, pool_running: bool) -> float:
        return missing * self.seconds_per_run + (0 if pool_running or not missing else POOL_START_S)


DEMO = Lesson(
    key="demo", title="One-minute demo", view="compare",
    summary="Fine-tuning, EWC and replay on split digits, two seeds each.",
    text="A small network learns the ten handwritten digits two at a time (five experiences). "
         "Plain fine-tuning forgets; EWC adds a penalty; replay keeps a small buffer of old examples.",
    configs=_cfgs([("naive", {}), ("ewc", {}), ("replay", {})]),
)

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        key="forgetting", title="1. Catastrophic forgetting", view="compare",
        summary="Fine-tuning on one task after another, against training on everything at once.",
        text="""
A neural network trained on a **sequence** of tasks tends to overwrite what it learned before: this is
*catastrophic forgetting*. Here the stream is sklearn's handwritten digits, cut into five **experiences**
of two digits each (which digits come first is shuffled by the seed).

* **naive** (fine-tuning) trains on each experience in turn, with nothing to protect the old ones.
* **joint** trains on all the data at once. It is not continual learning at all: it is the upper bound.

In the retention curves below, each panel follows the accuracy on one experience's test set while training
goes on. Watch the naive line for experience 1: it climbs while experience 1 is trained, then drops to
about zero as soon as the dashed line marks the start of experience 2.
""",
        takeaway="Naive fine-tuning ends with high accuracy only on the last experience (its ACC is near "
                 "1/5 of joint's); its forgetting is the accuracy it lost on each earlier experience.",
        configs=_cfgs([("naive", {}), ("joint", {})]),
    ),
    Lesson(
        key="scenarios", title="2. The three scenarios", view="scenarios",
        summary="The same strategies in task-, domain- and class-incremental settings.",
        text="""
How hard continual learning is depends on what the model is told at test time (van de Ven & Tolias, 2019):

* **Task-incremental**: the model is told which experience a test image comes from and has one output
  head per experience; it only picks between the two digits of that experience.
* **Domain-incremental**: one shared head with two outputs ("first or second digit of the pair"); the
  experience is not given.
* **Class-incremental**: one head over all ten digits; the model must also tell experiences apart.

Fine-tuning (naive), a regularization method (EWC) and replay run in all three settings.
""",
        takeaway="Task-incremental is easy even for fine-tuning; class-incremental is where fine-tuning and "
                 "EWC collapse and only replay keeps old classes alive.",
        configs=_cfgs([("naive", {}), ("ewc", {}), ("replay", {})], scenarios=("task", "domain", "class"),
                      seeds=(0,)),
    ),
    Lesson(
        key="replay", title="3. How much replay is enough?", view="replay",
        summary="Replay buffer size against forgetting, class-incremental split digits.",
        text="""
Replay keeps a fixed-size **buffer** of old training examples and mixes them into every new minibatch.
A bigger buffer protects more, but costs memory (and, with real data, privacy). Here replay runs with
buffers of 20, 50, 200 and 500 stored images (the stream has about 1,400 training images), two seeds each;
naive fine-tuning, a buffer of zero, is the dashed line.
""",
        takeaway="A few dozen stored images already cut forgetting sharply; the gains flatten as the buffer "
                 "grows.",
        configs=_cfgs([("naive", {})]) + _cfgs([("replay", {"mem_size": m}) for m in (20, 50, 200, 500)]),
    ),
    Lesson(
        key="facts", title="4. Forgetting of facts", view="facts",
        summary="Fine-tuning, replay and EWC on a stream of new facts: recall, recognition and retention.",
        text="""
Here the model learns **facts** instead of pictures: made-up entities with a few attributes each
("entity 17's colour is value 4"). Every experience teaches the facts of 40 new entities, and nothing
from earlier experiences is shown again. Two ways of asking what the model still knows:

* **Recall**: produce the value from the question alone (like answering an open question).
* **Recognition**: pick the true value among four candidates (like a multiple-choice question).

Studies of language models found the same patterns you can look for below: recall of newly learned
facts first stays at zero for a while (a *plateau*), then rises; once new facts are trained in, recall of
the old ones drops **steeply over the first updates and then slowly**, while recognition holds up much
better than recall; and the fraction retained falls roughly as a **power law** of the number of later
updates, a straight line on log-log axes. Naive fine-tuning, EWC (a penalty on changing weights that
mattered) and replay (a small buffer of old facts mixed into new batches) run two seeds each.
""",
        takeaway="Under naive fine-tuning, recall of the first facts ends far below their recognition, which "
                 "stays above chance, and retention falls along a power law with the largest exponent; replay "
                 "and EWC keep much more recall (a smaller exponent: slower forgetting).",
        configs=tuple(RunConfig(benchmark="facts", scenario="domain", strategy=name, seed=seed, **FACTS_RECIPE)
                      for name in ("naive", "replay", "ewc") for seed in (0, 1)),
    ),
    Lesson(
        key="prompts", title="5. Prompts instead of a buffer", view="compare",
        summary="L2P and CODA-Prompt on a frozen pretrained ViT, against fine-tuning it and replay at equal memory.",
        text="""
Prompt-based methods start from a **pretrained** transformer (a ViT) and never change it. Instead they learn
a few small vectors, **prompts**, that are fed to the frozen network alongside each image, and pick which
prompts to use by comparing the image's features with a learned **key** per prompt. No old image is stored.

* **vit_finetune** trains the same pretrained ViT and its classifier on each experience in turn: everything
  moves, and the old experiences are overwritten.
* **l2p** (Learning to Prompt) keeps a pool of 10 prompts and uses the 5 whose keys best match the image.
* **coda_prompt** builds each prompt as a weighted sum of components; each experience adds its own
  components and freezes the earlier ones.
* **replay** with a buffer of 60 images: as much memory as L2P's prompts and keys (3,840 numbers, the size
  of 60 8x8 digits), so the comparison is at equal memory. Replay trains the small network of lesson 1.

The ViT here is the bench's own small one, pretrained on other handwritten digits (MNIST) **without their
labels**: it learned only that two distorted copies of one image belong together (SimCLR), so it was never
taught the ten classes this stream teaches. The first run pretrains it once (about two and a half minutes);
the prompt runs are slower than the others (a transformer instead of a small MLP).
""",
        takeaway="Freezing the pretrained ViT and learning prompts forgets far less than fine-tuning it "
                 "(forgetting about 0.3 against 0.8), and CODA-Prompt ends more than twice as high; L2P, which "
                 "reads its answer off the prompts, learns each new experience poorly here and ends near "
                 "fine-tuning. Replay with the same memory still does much better, and a linear probe on the "
                 "frozen ViT (vit_finetune with freeze_backbone and mask_logits) matches the prompt methods: "
                 "the papers' methods lean on large ViTs pretrained on ImageNet-21k (try a timm backbone on "
                 "CIFAR with a GPU).",
        configs=_cfgs([("vit_finetune", {}), ("l2p", {}), ("coda_prompt", {}), ("replay", {"mem_size": 60})],
                      run=PROMPT_RECIPE),
        seconds_per_run=22.0,  # the ViT runs take 20-40 s each on one core
    ),
    Lesson(
        key="stability", title="6. The stability gap", view="stability",
        summary="Evaluating after every training step: old experiences dip when a new one starts, then recover.",
        text="""
Accuracy matrices evaluate the model only **at the end** of each experience. Evaluate it after **every
training step** instead, and a surprise appears (De Lange, van de Ven & Tuytelaars, ICLR 2023): as soon as
training moves to a new experience, the accuracy on the old ones drops sharply, even with replay, and only
then recovers. The end-of-experience numbers see the recovered model and miss the dip: this is the
**stability gap**. A model deployed while it learns is queried during the dip too.

Naive fine-tuning and replay run here with `eval_every=1` (a dense point after every step, two seeds each).
Three numbers read the dense curves:

* **min-ACC**: for each old experience, its lowest accuracy after it was learned, averaged.
* **WC-ACC** (worst-case accuracy): the last experience's accuracy weighed by 1/T against min-ACC by (T-1)/T.
* **Anytime ACC**: the accuracy on the experiences seen so far, averaged over every evaluation point.

In the retention curves, look at replay's line for experience 1 just after the first dashed line.
""",
        takeaway="Replay's final accuracy (ACC) is high, but its min-ACC is far lower: right after each switch the "
                 "old experiences lose much of their accuracy before replay wins it back. Naive fine-tuning "
                 "never recovers, so its min-ACC is 0.",
        configs=_cfgs([("naive", {}), ("replay", {})], run={"eval_every": 1}),
    ),
)


def get_lesson(key: str) -> Lesson:
    for lesson in (DEMO, *LESSONS):
        if lesson.key == key:
            return lesson
    raise KeyError(key)


@dataclass(frozen=True)
class Plan:
    found: dict[str, str]  # config_key -> run_id of a run that is finished, running or queued
    missing: list[RunConfig]  # normalised configs with no such run

    @property
    def run_ids(self) -> list[str]:
        return list(self.found.values())


def plan(lesson: Lesson, store: Store) -> Plan:
    """The lesson's runs already in the store, and the configs still to run."""
    return match(lesson.configs, store)


def match(configs, store: Store) -> Plan:
    """Match configs against stored runs by RunConfig.config_key(); finished runs win over running, running
    over queued, newer over older. Failed and cancelled runs do not count."""
    from bench.results.queries import configs as stored_configs

    wanted = {c.config_key(): c for c in (validate(c) for c in configs)}
    rank = {Status.FINISHED: 0, Status.RUNNING: 1, Status.QUEUED: 2}
    best: dict[str, tuple] = {}
    for run_id, status, cfg_json, created in zip(*(stored_configs(store)[k] for k in
                                                   ("run_id", "status", "config_json", "created_at")), strict=True):
        try:
            key = RunConfig.from_json(cfg_json, stored=True).config_key()
        except (ValueError, TypeError):
            continue
        if key in wanted:
            cand = (rank[status], -created, run_id)
            best[key] = min(best.get(key, cand), cand)
    return Plan(found={k: v[2] for k, v in best.items()}, missing=[c for k, c in wanted.items() if k not in best])


def start(lesson: Lesson, store: Store, **pool) -> list[str]:
    """Queue the lesson's missing runs and make sure the worker pool runs (`pool`: jobs.ensure_pool's settings, used
    when no pool runs yet); returns every run id of the lesson."""
    from bench.execute import jobs

    p = plan(lesson, store)
    if p.missing:
        jobs.submit(p.missing, store=store, sweep_id=f"{lesson.key}-{uuid.uuid4().hex[:8]}")
        jobs.ensure_pool(store, **pool)
        p = plan(lesson, store)
    return p.run_ids
