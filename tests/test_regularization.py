"""The bench's regularization plugins against hand computations: SI's path integral and snapshots (no aliasing on
CPU), EWC's and MAS's per-sample importances (independent of the batch size, equal to a per-sample loop)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset as make

from bench.results.store import Store
from bench.spec.config import RunConfig
from bench.strategies.regularization_plugins import (
    PerSampleEWCPlugin,
    SynapticIntelligencePlugin,
    per_sample_sum,
)
from bench.train.runner import run


def _data(n=40, d=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)
    return make(x, y, task_labels=0, targets=y), x, y


def test_ewc_fisher_is_the_mean_of_per_sample_squared_gradients_whatever_the_batch_size():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ds, x, y = _data()
    plugin = PerSampleEWCPlugin(ewc_lambda=1.0)
    fisher = {b: plugin.compute_importances(model, None, None, ds, "cpu", b) for b in (1, 32)}
    for k, p in model.named_parameters():  # the reference: one backward pass per sample
        ref = torch.zeros_like(p)
        for xi, yi in zip(x, y, strict=True):
            (g,) = torch.autograd.grad(F.cross_entropy(model(xi[None]), yi[None]), [p])
            ref += g.pow(2)
        ref /= len(x)
        assert torch.allclose(fisher[1][k].data, ref, atol=1e-6)
        assert torch.allclose(fisher[32][k].data, ref, atol=1e-6)
    # What Avalanche computed: the square of minibatch-mean gradients, smaller the larger the batch.
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    assert sum(p.grad.pow(2).sum() for p in model.parameters()) < 0.5 * sum(
        fisher[1][k].data.sum() for k, _ in model.named_parameters())


def test_the_vmap_path_and_the_per_sample_loop_agree():
    """A model torch.func cannot map falls back to a loop; both give the same sums."""
    from bench.strategies import regularization_plugins as rp

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    ds, _, _ = _data(n=17)
    fast, n = per_sample_sum(model, ds, "cpu", loss=rp._nll, reduce=lambda g: g.pow(2))
    slow, m = per_sample_sum(model, ds, "cpu", loss=rp._nll, reduce=lambda g: g.pow(2), use_vmap=False)
    assert n == m == 17
    for k in fast:
        assert torch.allclose(fast[k], slow[k], atol=1e-6)


def test_si_path_integral_by_hand_and_no_aliasing_on_cpu():
    """Three SGD steps on a linear model: omega = -sum_t g_t * delta_t, Omega = relu(omega / (Delta^2 + xi))."""

    class S:  # what the plugin reads of a strategy
        pass

    torch.manual_seed(0)
    s = S()
    s.model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(s.model.parameters(), lr=0.5)
    plugin = SynapticIntelligencePlugin(si_lambda=2.0, eps=0.1)
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    start = {k: p.detach().clone() for k, p in s.model.named_parameters()}
    plugin.before_training_exp(s)
    omega = {k: torch.zeros_like(p) for k, p in s.model.named_parameters()}
    for _ in range(3):
        opt.zero_grad()
        s.loss = F.cross_entropy(s.model(x), y)
        plugin.before_backward(s)
        s.loss.backward()
        plugin.after_backward(s)
        before = {k: p.detach().clone() for k, p in s.model.named_parameters()}
        grads = {k: p.grad.clone() for k, p in s.model.named_parameters()}
        opt.step()
        plugin.after_update(s)
        for k, p in s.model.named_parameters():
            omega[k] -= grads[k] * (p.detach() - before[k])
    plugin.after_training_exp(s)
    for k, p in s.model.named_parameters():
        expected = torch.relu(omega[k] / ((p.detach() - start[k]) ** 2 + 0.1))
        assert torch.allclose(plugin.omega_total[k], expected, atol=1e-7)
        assert plugin.omega_total[k].sum() > 0
        assert plugin.anchor[k].data_ptr() != p.data_ptr()  # a copy, not a view of the live weights
    with torch.no_grad():
        for p in s.model.parameters():
            p.add_(1.0)
    assert plugin.penalty(s.model) > 0  # the anchors did not move with the weights


def test_si_changes_the_run_on_cpu(tmp_path):
    """Avalanche's SI gave exactly naive's matrix on CPU; ours does not, and it forgets less."""
    store = Store(tmp_path / "s.duckdb")
    common = dict(benchmark="permuted-digits", scenario="domain", seed=0, benchmark_params={"n_experiences": 2},
                  epochs=1, device="cpu")
    naive = run(RunConfig(strategy="naive", **common), store=store)
    si = run(RunConfig(strategy="si", **common), store=store)
    assert naive["status"] == si["status"] == "finished"
    assert not np.array_equal(np.array(naive["accuracy_matrix"]), np.array(si["accuracy_matrix"]))
    assert si["metrics"]["bwt"] > naive["metrics"]["bwt"]


@pytest.mark.parametrize("name", ["ewc", "mas"])
def test_importances_do_not_depend_on_the_batch_size(tmp_path, name):
    """The same run at batch 8 and 64 differs, but the importance scale does not: the importances of the first
    experience's model (copied into both) agree."""
    from bench.strategies.regularization_plugins import PerSampleMASPlugin

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ds, _, _ = _data(n=50)

    class S:
        pass

    out = []
    for b in (8, 64):
        s = S()
        s.model, s.device, s.train_mb_size = model, "cpu", b
        s.experience = S()
        s.experience.dataset = ds
        if name == "ewc":
            imp = PerSampleEWCPlugin(ewc_lambda=1.0).compute_importances(model, None, None, ds, "cpu", b)
        else:
            imp = PerSampleMASPlugin(lambda_reg=1.0)._get_importance(s)
        out.append({k: v.data for k, v in imp.items()})
    for k in out[0]:
        assert torch.allclose(out[0][k], out[1][k], atol=1e-6)
