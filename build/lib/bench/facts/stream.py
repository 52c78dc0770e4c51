"""A synthetic factual-recall stream: fictional entities with attributes, new entities in every experience.

Each fact is (entity, relation) -> value, the value drawn from that relation's own vocabulary. An input is the
pair of ids; the target is the value's id in one shared output space of relations x vocabulary. Experience t
teaches the facts of a new group of entities, each fact shown `exposures` times per epoch on average, spread
over entities by a Zipf law (imbalance), optionally with old facts re-exposed on a schedule. Probes measured at
every evaluation: recognition (the true value among a few candidates from the same relation's vocabulary) and
hallucination (confident answers about held-out entities that were never trained).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench.benchmarks.base import BenchmarkSpec, Experience, Stream
from bench.spec.params import BadInput, ParamSpec

if TYPE_CHECKING:
    import torch

N_CANDIDATES = 4


@dataclass(frozen=True)
class FactTable:
    values: np.ndarray  # (n_entities, n_relations): value id within the relation's vocabulary
    vocab: int

    def target(self, e: np.ndarray, r: np.ndarray) -> np.ndarray:
        return r * self.vocab + self.values[e, r]


def make_facts(n_entities: int, n_relations: int, vocab: int, *, seed: int) -> FactTable:
    rng = np.random.RandomState([seed, 7919])
    return FactTable(rng.randint(0, vocab, size=(n_entities, n_relations)), vocab)


def zipf_counts(n_items: int, *, mean: float, exponent: float, rng: np.random.RandomState) -> np.ndarray:
    """How often each item is shown: proportional to rank^-exponent (ranks shuffled), mean `mean`, at least 1."""
    w = (np.arange(1, n_items + 1, dtype=float)) ** (-exponent)
    rng.shuffle(w)
    counts = np.maximum(1, np.round(w / w.mean() * mean)).astype(int)
    return counts


def _pairs(entities: np.ndarray, n_relations: int) -> tuple[np.ndarray, np.ndarray]:
    e = np.repeat(entities, n_relations)
    r = np.tile(np.arange(n_relations), len(entities))
    return e, r


def _reexposed(t: int, n_per_exp: int, p: dict, rng: np.random.RandomState) -> np.ndarray:
    """Old entities shown again in experience t: none, a uniform sample, or a power law in time since seen."""
    if t == 0 or p["reexposure"] == "none":
        return np.zeros(0, dtype=int)
    old = np.arange(t * n_per_exp)
    k = min(len(old), max(1, int(round(p["reexposure_fraction"] * n_per_exp))))
    if p["reexposure"] == "uniform":
        return rng.choice(old, size=k, replace=False)
    age = t - old // n_per_exp  # experiences since the entity's group was taught
    w = age.astype(float) ** (-p["reexposure_exponent"])
    return rng.choice(old, size=k, replace=False, p=w / w.sum())


def build_facts(params: dict, scenario: str, *, seed: int, data_dir: str | None = None) -> Stream:
    import torch

    n_exp, E, K, V = params["n_experiences"], params["entities_per_exp"], params["relations"], params["vocab"]
    held_out = params["held_out_entities"]
    table = make_facts(n_exp * E + held_out, K, V, seed=seed)
    rng = np.random.RandomState([seed, 104729])
    exps = []
    for t in range(n_exp):
        ents = np.arange(t * E, (t + 1) * E)
        counts = zipf_counts(E, mean=params["exposures"], exponent=params["imbalance"], rng=rng)
        train_e = np.concatenate([np.repeat(ents, counts), _reexposed(t, E, params, rng)])
        te, tr = _pairs(train_e, K)
        xe, xr = _pairs(ents, K)
        x_train = torch.as_tensor(np.stack([te, tr], 1), dtype=torch.long)
        y_train = torch.as_tensor(table.target(te, tr), dtype=torch.long)
        x_test = torch.as_tensor(np.stack([xe, xr], 1), dtype=torch.long)
        y_test = torch.as_tensor(table.target(xe, xr), dtype=torch.long)
        exps.append(Experience(x_train, y_train, y_train, x_test, y_test, y_test, tuple(range(K * V)), 0))
    from bench.facts.probes import FactProbes

    probe = functools.partial(
        FactProbes,
        recognition=[recognition_probe(e.test_x, e.test_y, V, seed=seed + i) for i, e in enumerate(exps)],
        held_out=torch.as_tensor(np.stack(_pairs(np.arange(n_exp * E, n_exp * E + held_out), K), 1),
                                 dtype=torch.long),
        threshold=params["confidence_threshold"])
    return Stream(benchmark="facts", scenario=scenario, experiences=exps, input_shape=(2,), n_classes=K * V,
                  n_outputs=K * V, n_heads=1, probe=probe,
                  info={"source": "synthetic fictional entities (generated from the seed)",
                        "n_entities": n_exp * E + held_out, "n_relations": K, "vocab": V,
                        "model": params["model"], "layers": params["layers"], "class_recall": False})


def recognition_probe(x: torch.Tensor, y: torch.Tensor, vocab: int, *, seed: int) -> torch.Tensor:
    """Candidate sets (N, N_CANDIDATES) of output ids: the true value first, distractors from the same relation."""
    import torch

    rng = np.random.RandomState([seed, 31])
    rel = (y // vocab).numpy()
    true = (y % vocab).numpy()
    k = min(N_CANDIDATES, vocab)
    cands = np.empty((len(y), k), dtype=int)
    for i in range(len(y)):
        others = rng.choice(np.delete(np.arange(vocab), true[i]), size=k - 1, replace=False)
        cands[i] = rel[i] * vocab + np.concatenate([[true[i]], others])
    return torch.as_tensor(cands, dtype=torch.long)


def _check(p: dict) -> None:
    if p["vocab"] < 2:
        raise BadInput(f"vocab={p['vocab']} is out of range: expected at least 2")


PARAMS = (
    ParamSpec(name="model", type="str", default="mlp", choices=("mlp", "transformer"),
              help="Embedding MLP, or a tiny transformer over the (entity, relation) tokens."),
    ParamSpec(name="layers", type="int", default=1, min=1, max=2, help="Transformer layers."),
    ParamSpec(name="n_experiences", type="int", default=5, min=2, max=50, help="Number of experiences."),
    ParamSpec(name="entities_per_exp", type="int", default=40, min=1, max=10_000,
              help="New fictional entities taught in each experience."),
    ParamSpec(name="relations", type="int", default=4, min=1, max=50, help="Attributes per entity (K)."),
    ParamSpec(name="vocab", type="int", default=20, min=2, max=1000, help="Values per relation."),
    ParamSpec(name="exposures", type="float", default=8.0, min=1.0, max=1000.0,
              help="Average times each fact is shown per epoch."),
    ParamSpec(name="imbalance", type="float", default=0.0, min=0.0, max=3.0,
              help="Zipf exponent of exposures over entities (0 = every entity equally often)."),
    ParamSpec(name="reexposure", type="str", default="none", choices=("none", "uniform", "power_law"),
              help="Show old facts again: never, a uniform sample, or a power law in time since seen."),
    ParamSpec(name="reexposure_fraction", type="float", default=0.25, min=0.0, max=10.0,
              help="Old entities re-exposed per experience, as a fraction of the new ones."),
    ParamSpec(name="reexposure_exponent", type="float", default=1.0, min=0.0, max=5.0,
              help="Power-law exponent over time since an entity was taught."),
    ParamSpec(name="held_out_entities", type="int", default=40, min=1, max=10_000,
              help="Never-trained entities used to measure hallucination."),
    ParamSpec(name="confidence_threshold", type="float", default=0.5, min=0.0, max=1.0,
              help="An answer about a held-out entity with top probability above this counts as a hallucination."),
)

SPECS = [
    BenchmarkSpec(
        name="facts", kind="facts", params=PARAMS, scenarios=("domain",), load=None, make=build_facts,
        default_model="facts", check=_check,
        description="Synthetic factual recall: new fictional entities each experience; recall, recognition, "
                    "hallucination.",
    ),
]
