"""Metric functions on hand-computed matrices."""
import math

import numpy as np
import pytest

from bench.train import metrics

# R[i, j]: accuracy on experience j after training experience i.
R = np.array([
    [0.90, 0.10, 0.20],
    [0.60, 0.80, 0.15],
    [0.50, 0.70, 0.95],
])
B = np.array([0.10, 0.05, 0.30])  # untrained model


def test_acc_is_mean_of_last_row():
    assert metrics.average_accuracy(R) == pytest.approx((0.50 + 0.70 + 0.95) / 3)


def test_average_incremental_accuracy_by_hand():
    steps = [0.90, (0.60 + 0.80) / 2, (0.50 + 0.70 + 0.95) / 3]
    assert metrics.average_incremental_accuracy(R) == pytest.approx(sum(steps) / 3)


def test_bwt_by_hand():
    # (R[2,0]-R[0,0] + R[2,1]-R[1,1]) / 2 = (-0.40 - 0.10) / 2
    assert metrics.backward_transfer(R) == pytest.approx(-0.25)


def test_fwt_by_hand():
    # (R[0,1]-b1 + R[1,2]-b2) / 2 = (0.05 - 0.15) / 2
    assert metrics.forward_transfer(R, B) == pytest.approx(-0.05)


def test_forgetting_uses_max_over_earlier_accuracies():
    # exp 0: max(0.90, 0.60) - 0.50 = 0.40; exp 1: max(0.80) - 0.70 = 0.10
    f = metrics.forgetting_per_experience(R)
    assert f[:2] == pytest.approx([0.40, 0.10])
    assert math.isnan(f[2])
    assert metrics.forgetting(R) == pytest.approx(0.25)


def test_forgetting_differs_from_bwt_when_accuracy_rose_then_fell():
    # exp 0 improves after exp 1 (0.5 -> 0.9) then drops to 0.6: Chaudhry forgetting 0.3, BWT +0.1
    R2 = np.array([[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.6, 0.8, 0.9]])
    assert metrics.forgetting_per_experience(R2)[0] == pytest.approx(0.3)
    assert metrics.backward_transfer(R2) == pytest.approx(((0.6 - 0.5) + (0.8 - 0.8)) / 2)


def test_learning_accuracy_is_the_diagonal_mean():
    assert metrics.learning_accuracy(R) == pytest.approx((0.90 + 0.80 + 0.95) / 3)


def test_functions_do_not_mutate_input():
    R_copy = R.copy()
    metrics.summary(R, B)
    np.testing.assert_array_equal(R, R_copy)


def test_single_experience_and_joint_rows():
    assert math.isnan(metrics.backward_transfer([[0.7]]))
    s = metrics.summary(np.array([[0.8, 0.6, 0.7]]))
    assert s["acc"] == pytest.approx(0.7)
    assert math.isnan(s["bwt"]) and math.isnan(s["forgetting"])


def test_rejects_non_square():
    with pytest.raises(ValueError):
        metrics.backward_transfer(np.ones((2, 3)))
