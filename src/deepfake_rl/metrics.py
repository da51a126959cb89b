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


# ---- metrics beyond EER (DESIGN section 5; TSRL Table 2) -------------------------------------------
#
# Definitions follow the ASVspoof 5 evaluation package (github.com/asvspoof-challenge/asvspoof5,
# evaluation-package/calculate_modules.py: compute_mindcf, compute_actDCF, calculate_CLLR; cost model
# in calculate_metrics.py: Pspoof 0.05, Cmiss 1, Cfa 10):
#   DCF(t)   = Cmiss (1 - Pspoof) Pmiss(t) + Cfa Pspoof Pfa(t), normalised by min(Cmiss (1 - Pspoof), Cfa Pspoof)
#   minDCF   = min over thresholds t of the normalised DCF (here over the tie-grouped DET points of det_curve)
#   actDCF   = normalised DCF at the Bayes threshold t = -log(beta), beta = Cmiss (1 - Pspoof) / (Cfa Pspoof),
#              a bona fide trial is missed when its LLR < t, a spoof is accepted when its LLR >= t
#   Cllr     = (mean log2(1 + exp(-llr_real)) + mean log2(1 + exp(llr_fake))) / 2   (bits)
# With the defaults the normalised DCF is 1.9 Pmiss + Pfa and the Bayes threshold is -log(1.9).

ASVSPOOF5_P_SPOOF = 0.05
ASVSPOOF5_C_MISS = 1.0
ASVSPOOF5_C_FA = 10.0


def _by_class(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) values as float64, checked: both classes present, all finite."""
    values = np.asarray(values, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if values.shape != labels.shape:
        raise ValueError(f"{values.size} values but {labels.size} labels")
    real, fake = values[labels == 1], values[labels == 0]
    if real.size == 0 or fake.size == 0:
        raise UndefinedMetricError(f"the metric needs both classes: {real.size} real and {fake.size} fake trials")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores contain NaN or infinite values")
    return real, fake


def _dcf_weights(p_spoof: float, c_miss: float, c_fa: float) -> tuple[float, float]:
    """Weights of Pmiss and Pfa in the normalised DCF (the cheaper trivial system costs exactly 1)."""
    if not 0.0 < p_spoof < 1.0 or c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"need 0 < p_spoof < 1 and positive costs, got {p_spoof}, {c_miss}, {c_fa}")
    miss_weight, fa_weight = c_miss * (1.0 - p_spoof), c_fa * p_spoof
    norm = min(miss_weight, fa_weight)
    return miss_weight / norm, fa_weight / norm


def bayes_threshold(p_spoof: float = ASVSPOOF5_P_SPOOF, c_miss: float = ASVSPOOF5_C_MISS,
                    c_fa: float = ASVSPOOF5_C_FA) -> float:
    """The LLR threshold that minimises the expected cost of calibrated scores: -log(beta)."""
    _dcf_weights(p_spoof, c_miss, c_fa)
    return float(-np.log(c_miss * (1.0 - p_spoof) / (c_fa * p_spoof)))


def min_dcf(scores: np.ndarray, labels: np.ndarray, p_spoof: float = ASVSPOOF5_P_SPOOF,
            c_miss: float = ASVSPOOF5_C_MISS, c_fa: float = ASVSPOOF5_C_FA) -> float:
    """Normalised minimum DCF (ASVspoof 5 Track 1 primary metric); any score scale, higher = more real.

    At most 1: the accept-everything point of the DET curve costs exactly min(...)/min(...) = 1 or less."""
    real, fake = _by_class(scores, labels)
    miss, false_alarm, _ = det_curve(real, fake)
    miss_weight, fa_weight = _dcf_weights(p_spoof, c_miss, c_fa)
    return float(np.min(miss_weight * miss + fa_weight * false_alarm))


def act_dcf(llr: np.ndarray, labels: np.ndarray, p_spoof: float = ASVSPOOF5_P_SPOOF,
            c_miss: float = ASVSPOOF5_C_MISS, c_fa: float = ASVSPOOF5_C_FA) -> float:
    """Normalised actual DCF: the decisions of LLR scores at the Bayes threshold (measures calibration)."""
    real, fake = _by_class(llr, labels)
    threshold = bayes_threshold(p_spoof, c_miss, c_fa)
    miss_weight, fa_weight = _dcf_weights(p_spoof, c_miss, c_fa)
    return float(miss_weight * np.mean(real < threshold) + fa_weight * np.mean(fake >= threshold))


def cllr(llr: np.ndarray, labels: np.ndarray) -> float:
    """Log-likelihood-ratio cost in bits (1 bit = an uninformative LLR of 0 for every trial)."""
    real, fake = _by_class(llr, labels)
    return float((np.mean(np.logaddexp(0.0, -real)) + np.mean(np.logaddexp(0.0, fake))) / (2.0 * np.log(2.0)))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (real = positive): P(real score > fake score), ties counted one half.

    Trapezoids between the tie-grouped points of det_curve, so a tie between classes is a diagonal step."""
    real, fake = _by_class(scores, labels)
    miss, false_alarm, _ = det_curve(real, fake)
    hit = 1.0 - miss
    return float(np.sum((false_alarm[:-1] - false_alarm[1:]) * (hit[:-1] + hit[1:]) / 2.0))


def accuracy(p_real: np.ndarray, labels: np.ndarray) -> float:
    """Share of trials classified correctly at posterior 0.5: real when p_real > 0.5 (argmax of the two
    logits; an exact tie goes to fake, like torch.argmax picking index 0)."""
    real, fake = _by_class(p_real, labels)
    return float((np.sum(real > 0.5) + np.sum(fake <= 0.5)) / (real.size + fake.size))


def llr_from_logits(logit_fake: np.ndarray, logit_real: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio real vs fake from the detector's two logits: logit_real - logit_fake.

    This is the log posterior odds of the softmax; it equals the LLR only under the assumption that the
    training prior was balanced (prior odds 1). The training pools are not exactly balanced and the
    detector is not calibrated on the test domain, so actDCF and Cllr also measure that miscalibration."""
    return np.asarray(logit_real, dtype=np.float64) - np.asarray(logit_fake, dtype=np.float64)


# ---- the two detection scores --------------------------------------------------------------------------
#
# The paper (section 3.1) scores a trial with the logit of the real class; the authors' evaluation.py
# computes the EER on softmax P(real) = sigmoid(logit_real - logit_fake). The two rank trials differently
# whenever logit_real + logit_fake varies across trials (e.g. a random head, paper rows 10-12), so the
# rank-based metrics (EER, minDCF, AUC) differ. actDCF, Cllr and ACC read the LLR, the log-odds of P(real),
# so they are the same for both.

SCORE_KINDS = ("logit", "p_real")


def ranking_score(logit_fake: np.ndarray, logit_real: np.ndarray, kind: str = "logit") -> np.ndarray:
    """The score that ranks trials for EER, minDCF and AUC: `logit` = logit_real (the paper's score);
    `p_real` = softmax P(real) (the authors' evaluation.py), here as its log-odds logit_real - logit_fake:
    the same order as P(real), without the ties of a probability rounded to 1 (a CSV's 6 digits saturate
    once the logits differ by about 14.5)."""
    if kind == "logit":
        return np.asarray(logit_real, dtype=np.float64)
    if kind == "p_real":
        return llr_from_logits(logit_fake, logit_real)
    raise ValueError(f"unknown score kind {kind!r}; expected one of {SCORE_KINDS}")


def detection_metrics(labels: np.ndarray, logit_fake: np.ndarray, logit_real: np.ndarray,
                      p_spoof: float = ASVSPOOF5_P_SPOOF, c_miss: float = ASVSPOOF5_C_MISS,
                      c_fa: float = ASVSPOOF5_C_FA, kind: str = "logit") -> dict[str, float]:
    """EER, minDCF, actDCF, Cllr, AUC and ACC of one run on one test set (the columns of a scores CSV).

    EER, minDCF and AUC rank by `ranking_score(kind)` (default the paper's real logit); actDCF, Cllr and
    ACC use the LLR whatever the kind. Raises UndefinedMetricError when a class is missing."""
    labels = np.asarray(labels)
    score = ranking_score(logit_fake, logit_real, kind)
    llr = llr_from_logits(logit_fake, logit_real)
    p_real = np.exp(-np.logaddexp(0.0, -llr))   # sigmoid without overflow
    return {"eer": eer_from_labels(score, labels),
            "min_dcf": min_dcf(score, labels, p_spoof, c_miss, c_fa),
            "act_dcf": act_dcf(llr, labels, p_spoof, c_miss, c_fa),
            "cllr": cllr(llr, labels), "auc": auc(score, labels), "acc": accuracy(p_real, labels)}
