"""Offline task streams: class groups, scenario labels, permutations and rotations."""
import pytest
import torch

from bench.benchmarks import benchmarks, get_benchmark
from bench.registry import validate
from bench.spec.config import RunConfig
from bench.spec.params import BadInput


def build(name, scenario, seed=0, **params):
    spec = get_benchmark(name)
    cfg = validate(RunConfig(benchmark=name, scenario=scenario, strategy="naive", benchmark_params=params))
    return spec.build(cfg.benchmark_params, scenario, seed=seed)


@pytest.mark.parametrize("name", ["split-digits", "split-mnist-lite"])
def test_split_streams_have_disjoint_classes(name):
    s = build(name, "class", n_experiences=5)
    seen = set()
    for e in s.experiences:
        classes = set(e.train_y.tolist())
        assert classes == set(e.test_y.tolist()) == set(e.classes) and len(classes) == 2
        assert not classes & seen
        seen |= classes
    assert seen == set(range(10))
    assert s.n_outputs == 10 and s.n_heads == 1


def test_split_digits_sizes_and_shapes():
    s = build("split-digits", "class", n_experiences=2)
    n_train = sum(len(e.train_x) for e in s.experiences)
    n_test = sum(len(e.test_x) for e in s.experiences)
    assert n_train + n_test == 1797 and abs(n_test / 1797 - 0.2) < 0.01
    assert s.input_shape == (1, 8, 8) and float(s.experiences[0].train_x.max()) <= 1.0
    lite = build("split-mnist-lite", "class", n_experiences=2)
    assert lite.input_shape == (1, 28, 28) and sum(len(e.train_x) + len(e.test_x) for e in lite.experiences) == 5000


def test_class_order_follows_the_seed():
    a = [e.classes for e in build("split-digits", "class", seed=0).experiences]
    b = [e.classes for e in build("split-digits", "class", seed=1).experiences]
    assert a != b and a == [e.classes for e in build("split-digits", "class", seed=0).experiences]
    natural = build("split-digits", "class", seed=5, class_order="natural")
    assert [e.classes for e in natural.experiences] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]


def test_task_and_domain_scenarios_use_within_task_labels():
    task = build("split-digits", "task", class_order="natural")
    assert [e.task_label for e in task.experiences] == [0, 1, 2, 3, 4] and task.n_heads == 5
    e = task.experiences[2]
    assert set(e.train_y.tolist()) == {0, 1} and set(e.train_cls.tolist()) == {4, 5}
    assert torch.equal(e.train_y, e.train_cls - 4)
    dom = build("split-digits", "domain", class_order="natural")
    assert {e.task_label for e in dom.experiences} == {0} and dom.n_heads == 1 and dom.n_outputs == 2


def test_permuted_digits_permutes_pixels_per_experience():
    s = build("permuted-digits", "domain", n_experiences=3)
    x0, x1, x2 = (e.train_x.reshape(len(e.train_x), -1) for e in s.experiences)
    assert not torch.equal(x0, x1) and not torch.equal(x1, x2)
    # the same samples, pixels reordered: every image keeps its multiset of pixel values
    assert torch.equal(x0.sort(dim=1).values, x1.sort(dim=1).values)
    assert all(torch.equal(e.train_y, s.experiences[0].train_y) for e in s.experiences)


def test_rotated_digits_rotates():
    s = build("rotated-digits", "domain", n_experiences=3, max_angle=180.0)
    x0, x2 = s.experiences[0].test_x, s.experiences[2].test_x
    torch.testing.assert_close(x2, torch.flip(x0, dims=(-2, -1)), atol=1e-5, rtol=0)  # 180 degrees


def test_bad_benchmark_inputs():
    with pytest.raises(BadInput, match="unknown benchmark 'nope'"):
        get_benchmark("nope")
    with pytest.raises(BadInput, match="n_experiences=11.*expected an integer in \\[2, 10\\]"):
        build("split-digits", "class", n_experiences=11)
    with pytest.raises(BadInput, match="does not support the class-incremental scenario"):
        build("permuted-digits", "class")


def test_every_benchmark_declares_params_and_scenarios():
    for b in benchmarks():
        assert b.scenarios and all(p.help for p in b.params)
