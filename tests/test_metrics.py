"""EER: hand-made cases and a cross-check against scikit-learn's ROC curve."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from deepfake_rl.metrics import UndefinedMetricError, compute_eer, det_curve, eer_from_labels


def test_perfect_separation_is_zero():
    assert compute_eer(np.array([0.9, 0.8]), np.array([0.1, 0.2]))[0] == 0.0


def test_inverted_scores_is_one():
    assert compute_eer(np.array([0.1, 0.2]), np.array([0.9, 0.8]))[0] == 1.0


def test_all_equal_scores_is_one_half_whatever_the_order():
    assert compute_eer(np.full(3, 0.5), np.full(5, 0.5))[0] == 0.5
    assert eer_from_labels(np.zeros(6), np.array([0, 1, 0, 1, 1, 0])) == 0.5


def test_hand_computed_overlap():
    # targets 0.2 0.6 0.7 0.9, non-targets 0.1 0.3 0.5 0.8: one of four wrong on each side
    eer, threshold = compute_eer(np.array([0.2, 0.6, 0.7, 0.9]), np.array([0.1, 0.3, 0.5, 0.8]))
    assert eer == pytest.approx(0.25)
    assert 0.2 <= threshold < 0.6


def test_ties_between_classes_count_as_one_threshold():
    # a target and a non-target share 0.5: the curve must not split the tie
    miss, false_alarm, thresholds = det_curve(np.array([0.5, 0.9]), np.array([0.1, 0.5]))
    assert list(thresholds[1:]) == [0.1, 0.5, 0.9]
    assert list(miss) == [0.0, 0.0, 0.5, 1.0]
    assert list(false_alarm) == [1.0, 0.5, 0.0, 0.0]
    assert compute_eer(np.array([0.5, 0.9]), np.array([0.1, 0.5]))[0] == 0.25


def test_one_class_only_is_undefined():
    with pytest.raises(UndefinedMetricError, match="both classes"):
        compute_eer(np.array([0.1, 0.2]), np.array([]))


def _sklearn_eer(scores, labels):
    fpr, tpr, _ = roc_curve(labels, scores, pos_label=1, drop_intermediate=False)
    fnr = 1 - tpr
    index = np.argmin(np.abs(fnr - fpr))
    return (fnr[index] + fpr[index]) / 2


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_sklearn_roc_on_random_and_tied_scores(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 400)
    scores = rng.normal(labels * 1.0, 1.0)
    if seed % 2:
        scores = np.round(scores, 1)  # many ties
    assert eer_from_labels(scores, labels) == pytest.approx(_sklearn_eer(scores, labels), abs=1e-12)


def test_gaussian_eer_matches_theory():
    # two unit Gaussians 2 sigma apart: EER = Phi(-1) = 0.1587
    rng = np.random.default_rng(0)
    eer, _ = compute_eer(rng.normal(2, 1, 200_000), rng.normal(0, 1, 200_000))
    assert eer == pytest.approx(0.1587, abs=0.003)
