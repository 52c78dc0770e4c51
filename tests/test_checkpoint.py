"""Checkpoints: a run resumed in-process from the checkpoint taken after experience k ends with the accuracy matrix,
rows and metrics of the uninterrupted run (each strategy family, its buffers and importances included); the encoding
refuses what it cannot hold and every file that could run code; keep_checkpoints prunes as it says."""
from __future__ import annotations

import collections
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from cases import SLOW_STRATEGIES

from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.spec.status import Status
from bench.train import checkpoint, state_decode
from bench.train.runner import new_run_row, run
from bench.train.state_codec import CheckpointError, Encoder, dumps, loads
from bench.train.state_decode import Decoder

MEASURED = {"time_s", "train_time_s", "peak_memory_mb"}  # process measurements: never equal between two runs


def _cfg(strategy: str, **kw) -> RunConfig:
    base = dict(benchmark="split-digits", scenario="class", epochs=1, keep_checkpoints="all")
    return RunConfig(strategy=strategy, **{**base, **kw})


def _resume_from(store: Store, cfg: RunConfig, source: str, k: int) -> dict:
    """A new run of `cfg` that starts from `source`'s checkpoint after experience k, as a re-queued run does."""
    row = new_run_row(validate(cfg), status=Status.RUNNING)
    store.insert_runs([row])
    dst = store.checkpoint_sink(row["run_id"]).dir
    dst.mkdir(parents=True)
    shutil.copy(store.checkpoint_sink(source).dir / f"exp{k}.pt", dst / f"exp{k}.pt")
    return run(cfg, store=store, run_id=row["run_id"], resume=True)


def _same_run(a: dict, b: dict) -> None:
    assert a["status"] == b["status"] == Status.FINISHED, (a["error"], b["error"])
    assert b["accuracy_matrix"] == a["accuracy_matrix"]  # exactly, not approximately
    assert b["val_accuracy_matrix"] == a["val_accuracy_matrix"]
    assert {k: v for k, v in b["metrics"].items() if k not in MEASURED} == \
        {k: v for k, v in a["metrics"].items() if k not in MEASURED}


def _rows(store: Store, run_id: str) -> dict:
    order = {"evaluations": "point, split, test_exp", "class_recall": "point, split, test_exp, class_id",
             "train_curve": "iteration", "probes": "point, test_exp, measure"}
    return {t: store.query(f"SELECT * EXCLUDE (run_id) FROM {t} WHERE run_id = ? ORDER BY {o}", [run_id])
            for t, o in order.items()}


CASES = [  # strategy, its params, the experience whose checkpoint is restored, other run settings
    ("naive", {}, 1, {}),
    ("replay", {}, 2, {"val_fraction": 0.2}),
    ("ewc", {}, 1, {"fast": False}),
    ("lwf", {}, 3, {}),
    ("der", {}, 1, {"augment": "crop_flip"}),
    ("icarl", {}, 2, {}),
    ("replay", {"buffer": "class_balanced"}, 1, {"scenario": "task"}),
    ("gem", {}, 2, {}),
    ("agem", {}, 1, {}),
    ("gdumb", {}, 1, {}),
    ("er_ace", {}, 2, {}),
    ("mir", {}, 1, {}),
    ("si", {}, 1, {}),
    ("mas", {}, 2, {}),
    ("rwalk", {}, 1, {"benchmark": "permuted-digits", "scenario": "domain"}),
    ("ewc", {"mode": "online"}, 2, {"benchmark": "permuted-digits", "scenario": "domain"}),
    ("cumulative", {}, 1, {}),
    ("generative_replay", {"generator_epochs": 2}, 1, {}),
    ("l2p", {}, 1, {}),
    ("dualprompt", {}, 2, {}),
    ("coda_prompt", {}, 1, {}),
]
QUICK = {"naive", "replay", "ewc", "lwf", "der", "icarl"}


def _param(strategy, params, k, kw):
    slow = strategy in SLOW_STRATEGIES or strategy not in QUICK or kw.get("scenario", "class") != "class"
    return pytest.param(strategy, params, k, kw, id=f"{strategy}-{k}-{'-'.join(map(str, kw.values())) or 'plain'}",
                        marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(("strategy", "params", "k", "kw"), [_param(*c) for c in CASES])
def test_a_run_resumed_from_a_checkpoint_ends_as_the_uninterrupted_run(tmp_path, strategy, params, k, kw):
    store = Store(tmp_path / "s.duckdb")
    cfg = _cfg(strategy, params=params, **kw)
    whole = run(cfg, store=store)
    resumed = _resume_from(store, cfg, whole["run_id"], k)
    _same_run(whole, resumed)
    assert store.run_row(resumed["run_id"])["resumed_from_exp"] == k
    # the rows the resumed run recorded after the checkpoint are the uninterrupted run's rows from there on
    point = store.query("SELECT min(point) AS p FROM evaluations WHERE run_id = ?", [resumed["run_id"]]).p[0]
    mine, theirs = _rows(store, resumed["run_id"]), _rows(store, whole["run_id"])
    later = theirs["evaluations"][theirs["evaluations"].point >= point].reset_index(drop=True)
    assert len(later) and mine["evaluations"].equals(later)


def test_the_comparison_can_fail_without_the_random_generators_or_the_buffer(tmp_path, monkeypatch):
    """The equality above is not a given: a resume that skips the random generators draws other minibatches, and one
    that loses replay's buffer trains without replay."""
    store = Store(tmp_path / "s.duckdb")
    naive = _cfg("naive")
    whole = run(naive, store=store)
    monkeypatch.setattr(checkpoint, "set_rng_state", lambda states: None)
    assert _resume_from(store, naive, whole["run_id"], 1)["accuracy_matrix"] != whole["accuracy_matrix"]
    monkeypatch.undo()

    replay = _cfg("replay")
    whole = run(replay, store=store)
    path = store.checkpoint_sink(whole["run_id"]).dir / "exp1.pt"
    tree = loads(path.read_bytes())
    at = [c.rsplit(":", 1)[-1] for c in tree["strategy"]["plugin_classes"]].index("ReplayPlugin")
    tree["strategy"]["plugins"][at] = {"__t": "skip"}  # the fresh, empty buffer stays
    path.write_bytes(dumps(tree))
    assert _resume_from(store, replay, whole["run_id"], 1)["accuracy_matrix"] != whole["accuracy_matrix"]


def test_keep_checkpoints_prunes_as_it_says(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    left, ids = {}, {}
    for keep in ("none", "last", "all"):
        ids[keep] = run(_cfg("naive", keep_checkpoints=keep), store=store)["run_id"]
        left[keep] = [k for k, _ in store.checkpoint_sink(ids[keep]).files()]
    assert left == {"none": [], "last": [4], "all": [0, 1, 2, 3, 4]}
    assert not store.checkpoint_sink(ids["none"]).dir.exists()
    assert store.checkpoint_sink(ids["all"]).disk_use() > 5 * 100_000  # five checkpoints of a 0.1 MB model
    store.delete_runs([ids["all"]])  # deleting a run deletes its checkpoints
    assert not store.checkpoint_sink(ids["all"]).dir.exists()


def test_a_strategy_state_the_encoding_cannot_hold_is_refused_not_checkpointed_wrongly(tmp_path, caplog):
    from avalanche.core import SupervisedPlugin

    class Foreign(SupervisedPlugin):  # a plugin of another package, holding an open iterator
        def __init__(self):
            super().__init__()
            self.loader = iter(range(3))

    model = torch.nn.Linear(4, 2)
    from avalanche.training import Naive

    strategy = Naive(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), plugins=[Foreign()])
    with pytest.raises(CheckpointError, match="cannot hold: strategy.plugins.0"):
        checkpoint.capture(strategy, name="naive", recorder=None, exp=0, run={})


# -- the encoding and the file format ---------------------------------------------------------------------------
def test_nested_state_round_trips_through_bytes():
    counts = collections.defaultdict(set, {3: {1, 2}})
    tree = {"a": [1, 2.5, "x", None, True], (1, "k"): torch.arange(6).view(2, 3)[:, 1], "set": {4, 5},
            "np": np.arange(4, dtype=np.uint32), "dev": torch.device("cpu"), "dd": counts,
            "od": collections.OrderedDict([("z", 1), ("y", 2)]), 7: (torch.ones(2), 3)}
    back = Decoder(device=torch.device("cpu")).decode(loads(dumps(Encoder().encode(tree, []))), None, [])
    assert back["a"] == tree["a"] and back["set"] == {4, 5} and back["dev"] == torch.device("cpu")
    assert torch.equal(back[(1, "k")], torch.tensor([1, 4]))  # a view is stored as its own values only
    assert back["np"].dtype == np.uint32 and back["np"].tolist() == [0, 1, 2, 3]
    assert isinstance(back["dd"], collections.defaultdict) and back["dd"][3] == {1, 2} and back["dd"][9] == set()
    assert list(back["od"]) == ["z", "y"] and torch.equal(back[7][0], torch.ones(2)) and back[7][1] == 3


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    payload = _RunsCode()
    payload.marker = tmp_path / "pwned"
    for data in (pickle.dumps({"format": 1, "x": payload}), _torch_saved({"format": 1, "x": payload})):
        with pytest.raises(CheckpointError, match="not a bench checkpoint"):
            loads(data)
    assert not payload.marker.exists()
    # a file torch reads without complaint but holding a type the checkpoint never has
    with pytest.raises(CheckpointError, match="only dicts, lists"):
        loads(_torch_saved({"format": 1, "x": (1, 2)}))
    # a checkpoint naming a class outside Avalanche's and the bench's own
    with pytest.raises(CheckpointError, match="only Avalanche's and the bench's"):
        Decoder(device=torch.device("cpu")).decode({"__t": "object", "cls": "os:system", "attrs": {}}, None, [])


def test_a_run_whose_checkpoint_would_run_code_starts_over_and_runs_nothing(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    cfg = _cfg("naive")
    whole = run(cfg, store=store)
    payload = _RunsCode()
    payload.marker = tmp_path / "pwned"
    (store.checkpoint_sink(whole["run_id"]).dir / "exp2.pt").write_bytes(pickle.dumps(payload))
    resumed = _resume_from(store, cfg, whole["run_id"], 2)
    assert not payload.marker.exists()
    _same_run(whole, resumed)
    assert store.run_row(resumed["run_id"])["resumed_from_exp"] == -1  # started over, and says so


def test_a_frozen_parameter_is_fingerprinted_not_stored_and_a_changed_one_refused():
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 2))
    net[0].requires_grad_(False)
    e = Encoder().encode(net, ["m"])
    assert set(e["state"]) == {"1.weight", "1.bias"} and set(e["frozen"]) == {"0.weight", "0.bias"}
    same = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 2))
    same.load_state_dict(net.state_dict())
    state_decode.load_module(same, e, ["m"])
    with torch.no_grad():
        same[0].weight[0, 0] += 1e-3
    with pytest.raises(CheckpointError, match="frozen parameter 0.weight"):
        state_decode.load_module(same, e, ["m"])


def _torch_saved(obj) -> bytes:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.slow
def test_a_resnet18_cifar_run_with_augmentation_resumes_exactly(tmp_path):
    """BatchNorm's running statistics, the augmentation plugin's generator and DER's replayed logits on the CIFAR
    recipe (crop_flip and mean_std by default on split-cifar10)."""
    from test_torchvision_sets import write_cifar10

    write_cifar10(tmp_path / "data")
    store = Store(tmp_path / "s.duckdb")
    cfg = _cfg("der", benchmark="split-cifar10", model="resnet18", batch_size=4, data_dir=str(tmp_path / "data"),
               params={"mem_size": 12, "batch_size_mem": 4})
    whole = run(cfg, store=store)
    assert validate(cfg).augment == "crop_flip" and whole["metrics"]["augmented_batches"] > 0
    _same_run(whole, _resume_from(store, cfg, whole["run_id"], 2))
