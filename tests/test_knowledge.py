"""Facts stream: generator determinism and disjointness, measures on hand-made numbers, and a run where
fine-tuning forgets earlier facts while replay keeps clearly more."""
import numpy as np
import pytest
import torch

from bench.benchmarks import get_benchmark
from bench.facts import measures as knowledge
from bench.registry import validate
from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.train.runner import run


def build(seed=0, **params):
    cfg = validate(RunConfig(benchmark="facts", scenario="domain", strategy="naive", benchmark_params=params))
    return get_benchmark("facts").build(cfg.benchmark_params, "domain", seed=seed)


def facts_of(e):
    return {(int(a), int(b)) for a, b in e.test_x}


def test_generator_is_deterministic_and_seeded():
    a, b, c = build(seed=1), build(seed=1), build(seed=2)
    for ea, eb in zip(a.experiences, b.experiences, strict=True):
        assert torch.equal(ea.train_x, eb.train_x) and torch.equal(ea.train_y, eb.train_y)
    assert not all(torch.equal(x.test_y, y.test_y) for x, y in zip(a.experiences, c.experiences, strict=True))


def test_no_fact_is_shared_across_experiences_without_reexposure():
    s = build(n_experiences=4, entities_per_exp=10, relations=3)
    seen = set()
    for e in s.experiences:
        train = {(int(a), int(b)) for a, b in e.train_x}
        assert train == facts_of(e) and len(train) == 30
        assert not train & seen
        seen |= train
    import torch

    held = {int(a) for a, _ in s.probe(torch.device("cpu")).held_out}
    assert not held & {a for a, _ in seen}


def test_reexposure_brings_back_old_facts_only_when_asked():
    s = build(n_experiences=3, entities_per_exp=10, reexposure="uniform", reexposure_fraction=0.5)
    later = {(int(a), int(b)) for a, b in s.experiences[2].train_x}
    assert later & facts_of(s.experiences[0]) or later & facts_of(s.experiences[1])
    p = build(n_experiences=3, entities_per_exp=10, reexposure="power_law", reexposure_fraction=0.5)
    assert len(p.experiences[2].train_x) > len(p.experiences[0].train_x)


def test_labels_are_values_of_the_right_relation_and_exposures_follow_zipf():
    s = build(n_experiences=2, entities_per_exp=20, relations=4, vocab=7, exposures=5, imbalance=1.5)
    e = s.experiences[0]
    assert torch.equal(e.test_y // 7, e.test_x[:, 1])  # value ids live in their relation's block
    counts = torch.bincount(e.train_x[:, 0])[e.train_x[:, 0].unique()] // 4
    assert counts.max() > 3 * counts.min()  # imbalanced
    flat = build(n_experiences=2, entities_per_exp=20, exposures=5, imbalance=0.0).experiences[0]
    assert set((torch.bincount(flat.train_x[:, 0])[flat.train_x[:, 0].unique()] // 4).tolist()) == {5}


def test_plateau_retention_and_power_law_by_hand():
    assert knowledge.plateau_length([0, 10, 20, 30, 40], [0, 0.1, 0.2, 0.8, 0.9], threshold=0.5) == 30
    assert knowledge.plateau_length([100, 110, 120], [0.9, 0.9, 0.9], threshold=0.5, start=100) == 0
    assert np.isnan(knowledge.plateau_length([0, 1], [0.1, 0.2], threshold=0.5))
    u, r = knowledge.retention([0, 10, 20, 40], [0.2, 0.8, 0.4, 0.2], learned_at=10)
    assert u.tolist() == [0, 10, 30] and r.tolist() == [1.0, 0.5, 0.25]
    updates = np.array([0, 1, 3, 7, 15, 31])
    fit = knowledge.fit_power_law(updates, 0.9 * (1 + updates) ** -0.5)
    assert fit["exponent"] == pytest.approx(0.5) and fit["a"] == pytest.approx(0.9) and fit["r2"] == pytest.approx(1)
    assert np.isnan(knowledge.fit_power_law([0, 1], [1, 0.5])["exponent"])


def test_recognition_and_hallucination_by_hand():
    assert knowledge.recognition_accuracy([[3, 1, 2], [0, 5, 1], [2, 2.5, 0]]) == pytest.approx(1 / 3)
    assert knowledge.hallucination_rate([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]], threshold=0.6) == pytest.approx(2 / 3)


@pytest.mark.slow
def test_finetuning_forgets_earlier_facts_and_replay_keeps_more(tmp_path):
    store = Store(tmp_path / "f.duckdb")
    bp = {"n_experiences": 4, "entities_per_exp": 30}
    first = {}
    for strategy in ("naive", "replay"):
        accs = []
        for seed in (0, 1):
            r = run(RunConfig(benchmark="facts", scenario="domain", strategy=strategy, seed=seed, benchmark_params=bp,
                              params={"mem_size": 300} if strategy == "replay" else {}), store=store)
            assert r["status"] == "finished"
            R = np.array(r["accuracy_matrix"])
            assert R[0, 0] > 0.9  # the first facts were learned
            accs.append(R[-1, 0])
        first[strategy] = np.mean(accs)
    assert first["naive"] < 0.65  # from about 1.0 right after learning
    assert first["replay"] > first["naive"] + 0.25
    probes = store.query("SELECT measure, count(*) AS n FROM probes GROUP BY measure ORDER BY measure")
    assert probes.measure.tolist() == ["hallucination", "recognition"]


@pytest.mark.slow
def test_facts_summary_from_stored_rows(tmp_path):
    from bench.facts.queries import facts_summary, recall_points, retention_table

    store = Store(tmp_path / "f.duckdb")
    bp = {"n_experiences": 3, "entities_per_exp": 20}
    ids = [run(RunConfig(benchmark="facts", scenario="domain", strategy=s, benchmark_params=bp,
                         params={"mem_size": 200} if s == "replay" else {}), store=store)["run_id"]
           for s in ("naive", "replay")]
    points = recall_points(store, ids)
    ret = retention_table(points)
    assert set(ret.test_exp) == {0, 1}  # the last experience has no "later updates"
    assert (ret.groupby(["run_id", "test_exp"]).retained.first() == 1.0).all()  # normalised at learning time
    summ = facts_summary(store, ids).set_index("strategy")
    R = {s: np.array(run_result_matrix(store, i)) for s, i in zip(("naive", "replay"), ids, strict=True)}
    assert summ.loc["naive", "recall_mean"] == pytest.approx(R["naive"][-1, 0])
    assert summ.loc["replay", "recall_mean"] > summ.loc["naive", "recall_mean"]
    assert summ.loc["naive", "exponent"] > summ.loc["replay", "exponent"]  # fine-tuning forgets faster
    assert 0 <= summ.loc["naive", "hallucination_mean"] <= 1


def run_result_matrix(store, run_id):
    from bench.results.queries import accuracy_matrix

    return accuracy_matrix(store, run_id)


def _accepts_facts(name: str) -> bool:
    from bench.spec.params import BadInput

    try:
        validate(RunConfig(benchmark="facts", scenario="domain", strategy=name))
        return True
    except BadInput:
        return False


DOMAIN_STRATEGIES = [s.name for s in __import__("bench.strategies", fromlist=["strategies"]).strategies()
                     if "domain" in s.scenarios]
FACTS_STRATEGIES = [n for n in DOMAIN_STRATEGIES if _accepts_facts(n)]


def test_only_image_bound_strategies_refuse_facts():
    refused = set(DOMAIN_STRATEGIES) - set(FACTS_STRATEGIES)
    assert refused == {"generative_replay", "rwalk", "l2p", "dualprompt", "coda_prompt", "vit_finetune"}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", FACTS_STRATEGIES)
def test_every_strategy_runs_on_facts(tmp_path, strategy):
    store = Store(tmp_path / "f.duckdb")
    r = run(RunConfig(benchmark="facts", scenario="domain", strategy=strategy, epochs=1,
                      benchmark_params={"n_experiences": 2, "entities_per_exp": 8}), store=store)
    assert r["status"] == "finished", r["error"]
    assert store.query("SELECT count(*) AS n FROM probes WHERE run_id = ?", [r["run_id"]]).n[0] > 0


def test_generative_replay_is_refused_on_facts():
    from bench.spec.params import BadInput

    with pytest.raises(BadInput, match="needs an image stream"):
        validate(RunConfig(benchmark="facts", scenario="domain", strategy="generative_replay"))
    with pytest.raises(BadInput, match="'rwalk' needs an image stream"):
        validate(RunConfig(benchmark="facts", scenario="domain", strategy="rwalk"))
