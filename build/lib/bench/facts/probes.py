"""The facts stream's probes, taken at every evaluation point: recognition of each experience's facts and
hallucination about never-trained entities. The recorder calls them through the stream's `probe` hook; the
measures themselves are bench.facts.measures', the functions the tests check by hand."""
from __future__ import annotations

import torch
from avalanche.models.utils import avalanche_forward

from bench.facts.measures import hallucination_rate, recognition_accuracy


class FactProbes:
    """Bound to the run's device: candidate sets per experience (true value first) and the held-out entities."""

    def __init__(self, device: torch.device, *, recognition: list[torch.Tensor], held_out: torch.Tensor,
                 threshold: float) -> None:
        self.device = device
        self.recognition = [c.to(device) for c in recognition]
        self.held_out = held_out.to(device)
        self.threshold = threshold

    def __call__(self, model: torch.nn.Module, outputs: list[torch.Tensor], point: int) -> list[dict]:
        """Rows (point, test_exp, measure, value, n) from the outputs on each experience's test set (already
        computed by the recorder) and one forward pass over the held-out entities."""
        rows = []
        for j, (out, cands) in enumerate(zip(outputs, self.recognition, strict=True)):
            acc = recognition_accuracy(out.gather(1, cands).cpu().numpy())
            rows.append({"point": point, "test_exp": j, "measure": "recognition", "value": acc, "n": len(cands)})
        task = torch.zeros(len(self.held_out), dtype=torch.long, device=self.device)
        probs = avalanche_forward(model, self.held_out, task).softmax(1)
        rate = hallucination_rate(probs.cpu().numpy(), threshold=self.threshold)
        rows.append({"point": point, "test_exp": -1, "measure": "hallucination", "value": rate,
                     "n": len(self.held_out)})
        return rows
