"""Equal error rate the ASVspoof way: real (bona fide) is the target class, higher score = more real.

The DET curve is evaluated at every distinct score (ties are one threshold, so the result does not
depend on the order of tied trials), and the EER is the mean of the miss and false-alarm rates at the
threshold where they are closest, as in the ASVspoof evaluation package.
"""

from __future__ import annotations

import numpy as np


class UndefinedMetricError(ValueError):
    """The metric does not exist for these trials (e.g. a test set with one class only)."""


def det_curve(target_scores: np.ndarray, nontarget_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss rate (targets rejected), false-alarm rate (non-targets accepted) and thresholds.

    A trial is accepted as target when its score is above the threshold; the first point is the
    threshold below every score (nothing rejected)."""
    target_scores = np.asarray(target_scores, dtype=np.float64).ravel()
    nontarget_scores = np.asarray(nontarget_scores, dtype=np.float64).ravel()
    if target_scores.size == 0 or nontarget_scores.size == 0:
        raise UndefinedMetricError(
            f"EER needs both classes: {target_scores.size} real and {nontarget_scores.size} fake trials")
    scores = np.concatenate([target_scores, nontarget_scores])
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    is_target = np.concatenate([np.ones(target_scores.size), np.zeros(nontarget_scores.size)])
    order = np.argsort(scores, kind="mergesort")
    scores, is_target = scores[order], is_target[order]
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]
    targets_at_or_below = np.cumsum(is_target)[last_of_tie]
    nontargets_at_or_below = np.cumsum(1.0 - is_target)[last_of_tie]
    miss = np.r_[0.0, targets_at_or_below / target_scores.size]
    false_alarm = np.r_[1.0, 1.0 - nontargets_at_or_below / nontarget_scores.size]
    thresholds = np.r_[-np.inf, scores[last_of_tie]]
    return miss, false_alarm, thresholds


def compute_eer(target_scores: np.ndarray, nontarget_scores: np.ndarray) -> tuple[float, float]:
    """(EER in [0, 1], threshold) for real=target scores and fake=non-target scores."""
    miss, false_alarm, thresholds = det_curve(target_scores, nontarget_scores)
    index = int(np.argmin(np.abs(miss - false_alarm)))
    return float((miss[index] + false_alarm[index]) / 2.0), float(thresholds[index])


def eer_from_labels(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER from scores and 0 fake / 1 real labels."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    return compute_eer(scores[labels == 1], scores[labels == 0])[0]
