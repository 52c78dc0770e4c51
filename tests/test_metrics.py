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


# -- the two forgettings, FWT where it measures nothing ------------------------------------------------------
def test_forgetting_initial_is_accuracy_just_after_learning_minus_final():
    # exp 0: R[0,0] - R[2,0] = 0.90 - 0.50; exp 1: R[1,1] - R[2,1] = 0.80 - 0.70
    f = metrics.forgetting_initial_per_experience(R)
    assert f[:2] == pytest.approx([0.40, 0.10]) and math.isnan(f[2])
    assert metrics.forgetting_initial(R) == pytest.approx(0.25)
    # where an old experience improved after it was learned the two definitions part: exp 0 rose 0.5 -> 0.9, ends 0.6
    R2 = np.array([[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.6, 0.8, 0.9]])
    assert metrics.forgetting(R2) == pytest.approx((0.3 + 0.0) / 2)
    assert metrics.forgetting_initial(R2) == pytest.approx((-0.1 + 0.0) / 2)
    assert metrics.forgetting_initial(R2) == pytest.approx(-metrics.backward_transfer(R2))


def test_fwt_is_undefined_in_the_class_incremental_scenario():
    # one shared head: an unseen class is never predicted, R[j-1, j] = 0 and FWT would be -mean(b[1:]) for anyone
    R0 = np.array([[0.9, 0.0, 0.0], [0.3, 0.8, 0.0], [0.1, 0.2, 0.9]])
    assert metrics.forward_transfer(R0, B) == pytest.approx(-(0.05 + 0.30) / 2)
    assert math.isnan(metrics.summary(R0, B, scenario="class")["fwt"])
    assert metrics.summary(R0, B, scenario="task")["fwt"] == pytest.approx(-(0.05 + 0.30) / 2)
    assert "class" in metrics.FWT_UNDEFINED and "task" not in metrics.FWT_UNDEFINED


# -- continual evaluation (De Lange et al. 2023) on a hand-made dense curve -----------------------------------
# 3 experiences of 4 iterations, evaluated every 2 iterations and at each end; (iteration, trained_exp, accs).
CURVE = [
    (0, -1, [0.1, 0.1, 0.1]),     # untrained: ignored
    (2, 0, [0.6, 0.0, 0.0]),
    (4, 0, [0.9, 0.0, 0.0]),      # dense point at the last iteration of experience 0 ...
    (4, 0, [0.9, 0.0, 0.0]),      # ... and its end point: one model state, counted once
    (6, 1, [0.3, 0.7, 0.0]),      # the stability gap: experience 0 dips to 0.3 right after the switch
    (8, 1, [0.8, 0.9, 0.0]),      # end of experience 1, recovered
    (10, 2, [0.7, 0.4, 0.8]),     # experience 1 dips to 0.4
    (12, 2, [0.75, 0.85, 0.95]),  # end of the stream
]


def test_min_acc_is_the_mean_over_old_experiences_of_their_lowest_accuracy_after_learning():
    # exp 0: min over iterations 6..12 = min(0.3, 0.8, 0.7, 0.75) = 0.3 (not 0.6 of iteration 2, before it was
    # learned); exp 1: min over 10..12 = 0.4; the last experience has none
    per = metrics.min_accuracy_per_experience(CURVE, 3)
    assert per[:2] == pytest.approx([0.3, 0.4]) and math.isnan(per[2])
    assert metrics.min_accuracy(CURVE, 3) == pytest.approx(0.35)


def test_wc_acc_weighs_the_last_experience_against_min_acc():
    # 1/T * A(E_T, f_t) + (1 - 1/T) * min-ACC = 0.95 / 3 + 2/3 * 0.35; the official code's mean of [0.95, 0.3, 0.4]
    assert metrics.worst_case_accuracy(CURVE, 3) == pytest.approx(0.95 / 3 + 2 / 3 * 0.35)
    assert metrics.worst_case_accuracy(CURVE, 3) == pytest.approx(np.mean([0.95, 0.3, 0.4]))


def test_anytime_acc_averages_the_seen_experiences_over_every_point():
    seen = [0.6, 0.9, (0.3 + 0.7) / 2, (0.8 + 0.9) / 2, (0.7 + 0.4 + 0.8) / 3, (0.75 + 0.85 + 0.95) / 3]
    assert metrics.anytime_accuracy(CURVE) == pytest.approx(np.mean(seen))


def test_summary_has_every_metric_and_joint_training_none_of_the_sequence_ones():
    Rc = np.array([[0.9, 0.0, 0.0], [0.8, 0.9, 0.0], [0.75, 0.85, 0.95]])
    s = metrics.summary(Rc, B, scenario="class", curve=CURVE)
    assert set(s) == {"acc", *metrics.SEQUENCE_METRICS}
    assert s["min_acc"] == pytest.approx(0.35) and math.isnan(s["fwt"])
    assert s["forgetting"] == pytest.approx(((0.9 - 0.75) + (0.9 - 0.85)) / 2)
    joint = metrics.summary(np.array([[0.8, 0.6, 0.7]]), scenario="class", curve=[(5, 2, [0.8, 0.6, 0.7])])
    assert joint["acc"] == pytest.approx(0.7)
    assert all(math.isnan(joint[k]) for k in metrics.SEQUENCE_METRICS)
    assert math.isnan(metrics.summary(Rc, B)["min_acc"])  # no curve, no curve metrics


def test_curve_from_rows_reads_stored_evaluation_rows():
    import pandas as pd

    rows = pd.DataFrame([{"point": p, "kind": "dense", "iteration": it, "trained_exp": exp, "test_exp": j,
                          "accuracy": a} for p, (it, exp, accs) in enumerate(CURVE) for j, a in enumerate(accs)])
    back = metrics.curve_from_rows(rows.sample(frac=1, random_state=0))  # in any order
    assert [(it, exp) for it, exp, _ in back] == [(it, exp) for it, exp, _ in CURVE]
    assert metrics.min_accuracy(back, 3) == pytest.approx(0.35)
