"""The training recipe: the learning-rate schedule against hand-computed rates, the optimizer-state reset, the batch
composition (no step trains a few new samples against a full replay batch), and the run settings' contract."""
import math

import pytest
import torch

from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import LEGACY, RUN_PARAMS, RunConfig
from bench.spec.params import BadInput
from bench.train.optim import Recipe, lr_factor, make_optimizer
from bench.train.runner import run

CFG = dict(benchmark="split-digits", scenario="class", seed=0)


def test_lr_factor_by_hand():
    kw = dict(steps_per_epoch=10, total=30)
    assert [lr_factor(s, schedule="constant", **kw) for s in (0, 29)] == [1.0, 1.0]
    # multistep at epochs 1 and 2: steps 0-9 at 1, 10-19 at 0.1, 20-29 at 0.01
    ms = dict(schedule="multistep", milestones=(1, 2), gamma=0.1, **kw)
    assert [lr_factor(s, **ms) for s in (9, 10, 19, 20)] == pytest.approx([1, 0.1, 0.1, 0.01])
    # cosine from 1 at step 0 down towards 0: 0.5 (1 + cos(pi s / 30))
    assert lr_factor(0, schedule="cosine", **kw) == 1.0
    assert lr_factor(15, schedule="cosine", **kw) == pytest.approx(0.5)
    assert lr_factor(29, schedule="cosine", **kw) == pytest.approx(0.5 * (1 + math.cos(math.pi * 29 / 30)))
    # warm-up of half an epoch (5 steps): 1/5 .. 5/5, then the cosine over the remaining 25 steps
    wc = dict(schedule="cosine", warmup=0.5, **kw)
    assert [lr_factor(s, **wc) for s in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lr_factor(5, **wc) == 1.0 and lr_factor(5 + 25 // 2, **wc) == pytest.approx(0.5 * (1 + math.cos(
        math.pi * 12 / 25)))


class _Strategy:
    """What the Recipe plugin reads of a strategy: its optimizer, loader, batch size, epochs and training set."""

    def __init__(self, n: int, *, batch: int = 10, epochs: int = 2, lr: float = 0.2) -> None:
        self.optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=lr, momentum=0.9)
        self.adapted_dataset = list(range(n))
        self.dataloader = [None] * math.ceil(n / batch)
        self.train_mb_size, self.train_epochs = batch, epochs


def _rates(recipe: Recipe, strategy: _Strategy, n_exp: int) -> list[list[float]]:
    out = []
    for _ in range(n_exp):
        recipe.before_training_exp(strategy)
        rates = []
        for _ in range(strategy.train_epochs):
            recipe.before_training_epoch(strategy)
            for _ in strategy.dataloader:
                recipe.before_training_iteration(strategy)
                rates.append(strategy.optimizer.param_groups[0]["lr"])
        out.append(rates)
    return out


def test_the_schedule_restarts_at_every_experience():
    s = _Strategy(100)
    exp0, exp1 = _rates(Recipe(schedule="cosine"), s, 2)
    assert exp0 == exp1 and len(exp0) == 20
    assert exp0[0] == pytest.approx(0.2) and exp0 == sorted(exp0, reverse=True) and exp0[-1] < 0.01
    flat = _rates(Recipe(schedule="constant"), _Strategy(100), 1)[0]
    assert set(flat) == {0.2}


def test_a_tiny_last_minibatch_is_skipped_and_the_schedule_counts_without_it():
    s = _Strategy(101, batch=10)  # 10 full minibatches and one of 1
    recipe = Recipe(schedule="cosine")
    (rates,) = _rates(recipe, s, 1)
    assert len(rates) == 2 * 10 and rates[-1] < 0.01
    (kept,) = _rates(Recipe(schedule="constant", drop_small_last=False), _Strategy(101, batch=10), 1)
    assert len(kept) == 2 * 11
    (half,) = _rates(Recipe(schedule="constant"), _Strategy(105, batch=10), 1)  # a last minibatch of 5: kept
    assert len(half) == 2 * 11


def test_momentum_and_weight_decay_reach_the_optimizer():
    model = torch.nn.Linear(3, 2)
    cfg = validate(RunConfig(**CFG, strategy="naive", momentum=0.9, weight_decay=5e-4))
    opt = make_optimizer(cfg, model)
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["weight_decay"] == 5e-4
    assert isinstance(make_optimizer(validate(RunConfig(**CFG, strategy="naive", optimizer="adam")), model),
                      torch.optim.Adam)


def test_reset_optimizer_clears_the_state_at_each_experience():
    class Strategy:
        optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)

    s = Strategy()
    s.optimizer.state[s.optimizer.param_groups[0]["params"][0]]["momentum_buffer"] = torch.ones(2, 2)
    Recipe(schedule="constant", reset=False).before_training_exp(s)
    assert len(s.optimizer.state) == 1
    Recipe(schedule="constant", reset=True).before_training_exp(s)
    assert len(s.optimizer.state) == 0


def test_reset_optimizer_auto_is_the_strategys_declared_default():
    assert validate(RunConfig(**CFG, strategy="naive")).reset_optimizer == "false"
    assert validate(RunConfig(**CFG, strategy="gdumb")).reset_optimizer == "true"
    assert validate(RunConfig(**CFG, strategy="l2p")).reset_optimizer == "true"
    assert validate(RunConfig(**CFG, strategy="l2p", reset_optimizer="false")).reset_optimizer == "false"


def _step_sizes(store: Store, last_batch: str) -> list[tuple[int, int]]:
    """(experience, minibatch size) of every training step of replay (mem 200) on split digits, seed 0: with a dense
    evaluation after every step, each training-curve row covers one step and its n is that step's minibatch."""
    r = run(RunConfig(**CFG, strategy="replay", epochs=1, eval_every=1, last_batch=last_batch), store=store)
    assert r["status"] == "finished", r["error"]
    rows = store.query("SELECT trained_exp, n FROM train_curve WHERE run_id = ? ORDER BY iteration", [r["run_id"]])
    return list(zip(rows.trained_exp.tolist(), rows.n.tolist(), strict=True))


def test_no_step_mixes_a_few_new_samples_with_a_full_replay_batch(tmp_path):
    """Seed 0's experiences hold 281, 289, 291, 289 and 288 training samples. Avalanche's replay loader adds 32 buffer
    samples to every step, also to the last one of experience 1, which holds a single new sample; drop_small skips
    such a step. (A step of 40 is 32 new samples with the buffer's own last 8: 200 = 6 * 32 + 8.)"""
    batch, store = 32, Store(tmp_path / "s.duckdb")
    kept = _step_sizes(store, "keep")
    assert (1, 1 + batch) in kept and (2, 3 + batch) in kept  # the bug as shipped: 1 or 3 new against 32 stored
    dropped = _step_sizes(store, "drop_small")
    assert {n for e, n in dropped if e > 0} <= {2 * batch, batch + 8}
    assert [sum(e == k for e, _ in dropped) for k in range(5)] == [9, 9, 9, 9, 9]  # 281 = 8 * 32 + 25: kept
    assert min(n for e, n in dropped if e == 0) == 25  # without replay, the 25 kept (over half a batch)


@pytest.mark.parametrize("field,value,needle", [
    ("lr_schedule", "multistep", "needs run.lr_milestones"),
    ("lr_milestones", "3,1", "increasing epoch numbers"),
    ("lr_milestones", "a", "increasing epoch numbers"),
    ("reset_optimizer", "yes", "run.reset_optimizer"),
    ("momentum", 1.5, "run.momentum"),
])
def test_bad_recipe_is_one_line(field, value, needle):
    with pytest.raises(BadInput, match=needle) as exc:
        validate(RunConfig(**CFG, strategy="naive", **{field: value}))
    assert "\n" not in str(exc.value)


def test_every_recipe_setting_is_a_cli_flag_and_old_configs_read_as_what_they_ran():
    from bench.cli import build_parser

    names = {p.name for p in RUN_PARAMS}
    assert {"momentum", "weight_decay", "lr_schedule", "lr_milestones", "lr_gamma", "warmup", "reset_optimizer",
            "last_batch"} <= names
    parser, _ = build_parser()
    args = parser.parse_args(["run", "--momentum", "0.9", "--lr-schedule", "cosine", "--warmup", "0.5",
                              "--reset-optimizer", "true", "--lr-milestones", "2", "--last-batch", "keep"])
    assert (args.momentum, args.lr_schedule, args.warmup, args.reset_optimizer) == ("0.9", "cosine", "0.5", "true")
    old = '{"benchmark": "split-digits", "scenario": "class", "strategy": "naive", "lr": 0.1, "epochs": 3}'
    stored = RunConfig.from_json(old, stored=True)
    assert {k: getattr(stored, k) for k in LEGACY} == LEGACY
    fresh = RunConfig.from_json(old)  # a config typed by hand takes today's defaults
    assert {k: getattr(fresh, k) for k in LEGACY} == {p.name: p.default for p in RUN_PARAMS if p.name in LEGACY}
