"""Real logger output for the import tests: a tiny Avalanche stream of tensors trained with Naive on the CPU, logged
by Avalanche's own CSVLogger and TensorboardLogger, with the accuracy matrix Avalanche itself computed."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np


def tiny_benchmark(n_exp: int = 3, seed: int = 0):
    """n_exp experiences of 2 classes each, 4 features that carry the class (learnable in a few epochs)."""
    import torch
    from avalanche.benchmarks import dataset_benchmark
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset as make

    g = torch.Generator().manual_seed(seed)

    def exp(k: int, n: int):
        y = torch.randint(2 * k, 2 * k + 2, (n,), generator=g)
        x = torch.randn(n, 4, generator=g)
        x[:, 0] += y.float()
        return make(x, y, task_labels=0, targets=y)

    return dataset_benchmark([exp(k, 60) for k in range(n_exp)], [exp(k, 30) for k in range(n_exp)])


def run_logged(out: Path, *, n_exp: int = 3, epochs: int = 2, eval_every: int = -1, initial: bool = True,
               seed: int = 0) -> dict:
    """Train Naive through the stream with both loggers writing under `out` (csv/, tb/). With eval_every=1 the
    test stream is also evaluated after every epoch during training (Avalanche's periodic evaluation). Returns
    the folders and Avalanche's own results: R[i][j] from Top1_Acc_Exp after training experience i, and the
    initial row."""
    import torch
    from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics, loss_metrics
    from avalanche.logging import CSVLogger, TensorboardLogger
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    torch.manual_seed(seed)
    bm = tiny_benchmark(n_exp, seed)
    csv_dir, tb_dir = out / "csv", out / "tb"
    csv_logger, tb_logger = CSVLogger(str(csv_dir)), TensorboardLogger(tb_dir)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2 * n_exp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = EvaluationPlugin(accuracy_metrics(epoch=True, experience=True, stream=True),
                                     loss_metrics(epoch=True, experience=True), forgetting_metrics(experience=True),
                                     loggers=[csv_logger, tb_logger])
        strategy = Naive(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_mb_size=16,
                         train_epochs=epochs, eval_mb_size=64, evaluator=evaluator, device="cpu",
                         eval_every=eval_every)
        name = "Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp{:03d}"
        b = None
        if initial:
            res = strategy.eval(bm.test_stream, num_workers=0)
            b = [res[name.format(j)] for j in range(n_exp)]
        R = []
        for e in bm.train_stream:
            strategy.train(e, eval_streams=[bm.test_stream] if eval_every > 0 else None, num_workers=0)
            res = strategy.eval(bm.test_stream, num_workers=0)
            R.append([res[name.format(j)] for j in range(n_exp)])
    csv_logger.close()
    tb_logger.writer.close()
    return {"csv": csv_dir, "tb": tb_dir, "matrix": np.array(R), "initial": np.array(b) if b else None}
