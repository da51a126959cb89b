"""minDCF, actDCF, Cllr, AUC and ACC: hand-computed cases, formula identities and cross-checks, on both
scores (the paper's real logit and the authors' P(real))."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from deepfake_rl.metrics import (UndefinedMetricError, accuracy, act_dcf, auc, bayes_threshold, cllr,
                                 detection_metrics, llr_from_logits, min_dcf)
from deepfake_rl.tables import metrics_long

# the 4 + 4 trials of test_metrics.test_hand_computed_overlap
REAL = np.array([0.2, 0.6, 0.7, 0.9])
FAKE = np.array([0.1, 0.3, 0.5, 0.8])
SCORES = np.r_[REAL, FAKE]
LABELS = np.r_[np.ones(4, int), np.zeros(4, int)]


def test_min_dcf_hand_computed():
    # defaults: Cmiss (1 - Pspoof) = 0.95, Cfa Pspoof = 0.5, normalised DCF = 1.9 Pmiss + Pfa.
    # accept > t:  t=-inf: 0 + 1 = 1;  t=0.1: 0 + .75;  t=0.2: .475 + .75;  t=0.3: .475 + .5;
    #              t=0.5: .475 + .25 = 0.725;  t=0.6: .95 + .25;  t=0.7: 1.425 + .25;  t=0.8: 1.425;  t=0.9: 1.9
    assert min_dcf(SCORES, LABELS) == pytest.approx(0.725)


def test_min_dcf_other_costs_hand_computed():
    # Pspoof 0.5, Cmiss 1, Cfa 1: weights 0.5 and 0.5, normalised DCF = Pmiss + Pfa; best 0.25 + 0.25 at t=0.5
    assert min_dcf(SCORES, LABELS, p_spoof=0.5, c_miss=1.0, c_fa=1.0) == pytest.approx(0.5)


def test_min_dcf_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=300), 1)          # many ties within and across classes
    labels = (rng.random(300) < 0.4).astype(int)
    scores[labels == 1] += 0.8
    real, fake = scores[labels == 1], scores[labels == 0]
    costs = [1.9 * np.mean(real <= t) + np.mean(fake > t) for t in np.r_[-np.inf, np.unique(scores)]]
    assert min_dcf(scores, labels) == pytest.approx(min(costs))


def test_act_dcf_hand_computed():
    # threshold -log(0.95 / 0.5) = -log 1.9 = -0.642; real LLRs 2, -1, 0.5: one of three below (miss 1/3);
    # fake LLRs -3, -0.5, 1: two of three at or above (false alarm 2/3); 1.9 / 3 + 2 / 3 = 1.3
    llr = np.array([2.0, -1.0, 0.5, -3.0, -0.5, 1.0])
    labels = np.array([1, 1, 1, 0, 0, 0])
    assert bayes_threshold() == pytest.approx(-np.log(1.9))
    assert act_dcf(llr, labels) == pytest.approx(1.3)
    assert min_dcf(llr, labels) <= act_dcf(llr, labels)


def test_min_dcf_is_at_most_act_dcf_and_one():
    rng = np.random.default_rng(1)
    for shift, scale in [(0.0, 1.0), (2.0, 1.0), (2.0, 5.0), (-1.0, 0.3)]:
        labels = (rng.random(500) < 0.5).astype(int)
        llr = scale * (rng.normal(size=500) + shift * labels) - 1.0
        assert min_dcf(llr, labels) <= act_dcf(llr, labels) + 1e-12
        assert 0.0 <= min_dcf(llr, labels) <= 1.0


def test_cllr_uninformative_is_one_bit():
    assert cllr(np.zeros(7), np.array([1, 0, 0, 1, 1, 0, 1])) == pytest.approx(1.0)


def test_cllr_hand_computed():
    # real LLR log 3: -log2 sigmoid(log 3) = -log2(3/4); fake LLR -log 3: -log2(1 - 1/4) = -log2(3/4)
    llr = np.array([np.log(3.0), -np.log(3.0)])
    assert cllr(llr, np.array([1, 0])) == pytest.approx(np.log2(4.0 / 3.0))
    # wrong and confident: real LLR -log 3 costs log2(4) = 2 bits, fake LLR +log 3 as well
    assert cllr(-llr, np.array([1, 0])) == pytest.approx(2.0)


def test_cllr_large_llr_is_stable():
    assert cllr(np.array([800.0, -800.0]), np.array([1, 0])) == pytest.approx(0.0, abs=1e-12)
    assert cllr(np.array([-800.0, 800.0]), np.array([1, 0])) == pytest.approx(800.0 / np.log(2.0))


def test_auc_hand_computed_and_sklearn():
    # pairs (real > fake): 0.2 beats 1, 0.6 and 0.7 beat 3 each, 0.9 beats 4: 11 of 16
    assert auc(SCORES, LABELS) == pytest.approx(11 / 16)
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=400), 1)
    labels = (rng.random(400) < 0.3).astype(int)
    scores[labels == 1] += 0.5
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_accuracy_at_posterior_one_half():
    p_real = np.array([0.9, 0.4, 0.2, 0.7, 0.5])
    labels = np.array([1, 1, 0, 0, 0])
    # right: 0.9 (real), 0.2 (fake), 0.5 (a tie goes to fake); wrong: 0.4, 0.7
    assert accuracy(p_real, labels) == pytest.approx(3 / 5)


def test_llr_from_logits_is_the_softmax_log_odds():
    logits = np.array([[0.3, -1.2], [2.0, 2.5], [-4.0, 3.0]])
    llr = llr_from_logits(logits[:, 0], logits[:, 1])
    p_real = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    assert np.allclose(1.0 / (1.0 + np.exp(-llr)), p_real)


def test_detection_metrics_from_logits():
    logit_fake = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    logit_real = np.array([2.0, -1.0, 0.5, -3.0, -0.5, 1.0])
    labels = np.array([1, 1, 1, 0, 0, 0])
    metrics = detection_metrics(labels, logit_fake, logit_real)
    assert set(metrics) == {"eer", "min_dcf", "act_dcf", "cllr", "auc", "acc"}
    assert metrics["act_dcf"] == pytest.approx(1.3)
    assert metrics["acc"] == pytest.approx(4 / 6)     # LLR > 0: real 2, 0.5 right; fake -3, -0.5 right
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, logit_real))


@pytest.mark.parametrize("metric", [min_dcf, act_dcf, cllr, auc, accuracy])
def test_one_class_is_undefined(metric):
    with pytest.raises(UndefinedMetricError):
        metric(np.array([0.1, 0.2, 0.3]), np.array([1, 1, 1]))
    with pytest.raises(UndefinedMetricError):
        metric(np.array([0.1, 0.2, 0.3]), np.array([0, 0, 0]))


def test_nan_scores_rejected():
    with pytest.raises(ValueError):
        cllr(np.array([0.1, np.nan]), np.array([1, 0]))


def test_both_scores_hand_computed():
    """Reals (logit_fake, logit_real) = (-10, -1), (-8, 0); fakes (5, 2), (4, 3): by the real logit every
    fake is above every real (EER 1, AUC 0, minDCF 1 at accept-all), by P(real) (log-odds 9, 8 vs -3, -1)
    the classes separate (EER 0, AUC 1, minDCF 0). The LLR metrics are the same for both."""
    labels = np.array([1, 1, 0, 0])
    logit_fake, logit_real = np.array([-10.0, -8.0, 5.0, 4.0]), np.array([-1.0, 0.0, 2.0, 3.0])
    paper = detection_metrics(labels, logit_fake, logit_real)
    authors = detection_metrics(labels, logit_fake, logit_real, kind="p_real")
    assert (paper["eer"], paper["auc"], paper["min_dcf"]) == (1.0, 0.0, 1.0)
    assert (authors["eer"], authors["auc"], authors["min_dcf"]) == (0.0, 1.0, 0.0)
    for name in ("act_dcf", "cllr", "acc"):
        assert paper[name] == authors[name]
    assert authors["acc"] == 1.0 and authors["act_dcf"] == 0.0


def test_p_real_metrics_ignore_the_sum_of_the_logits():
    """A per-utterance offset added to both logits (what a random head's untrained sum does) leaves P(real)
    and every *_preal metric unchanged, while the real logit's ranking degrades."""
    rng = np.random.default_rng(5)
    labels = (rng.random(2000) < 0.5).astype(int)
    llr = rng.normal(size=2000) + 2.0 * (2 * labels - 1)
    offset = rng.normal(scale=20.0, size=2000)
    plain = detection_metrics(labels, -llr / 2, llr / 2, kind="p_real")
    shifted = detection_metrics(labels, offset - llr / 2, offset + llr / 2, kind="p_real")
    assert plain == pytest.approx(shifted, abs=1e-12)
    assert detection_metrics(labels, offset - llr / 2, offset + llr / 2)["eer"] > plain["eer"] + 0.2
    with pytest.raises(ValueError, match="unknown score kind"):
        detection_metrics(labels, -llr / 2, llr / 2, kind="softmax")


def test_metrics_long_has_every_metric_for_both_scores(tmp_path):
    folder = tmp_path / "runs" / "m" / "sft" / "seed1" / "scores"
    folder.mkdir(parents=True)
    logit_fake, logit_real = [-10.0, -8.0, 5.0, 4.0], [-1.0, 0.0, 2.0, 3.0]
    pd.DataFrame({"ID": list("abcd"), "label": [1, 1, 0, 0], "score": logit_real, "p_real": 0.5,
                  "logit_fake": logit_fake, "logit_real": logit_real}).to_csv(folder / "itw.csv", index=False)
    table = metrics_long([folder / "itw.csv"], tmp_path / "metrics_long.csv")
    written = pd.read_csv(tmp_path / "metrics_long.csv")
    names = ["eer", "min_dcf", "act_dcf", "cllr", "auc", "acc"]
    assert list(written.columns) == ["model", "method", "seed", "dataset", *names, *[f"{n}_preal" for n in names],
                                     "n_trials", "note"]
    assert (table.loc[0, "eer"], table.loc[0, "eer_preal"], table.loc[0, "auc"], table.loc[0, "auc_preal"]) == (
        1.0, 0.0, 0.0, 1.0)
    fakes_only = folder / "for.csv"
    pd.read_csv(folder / "itw.csv").assign(label=0).to_csv(fakes_only, index=False)
    undefined = metrics_long([fakes_only], tmp_path / "undefined.csv")
    assert undefined[[f"{n}_preal" for n in names]].isna().all(axis=None) and undefined["note"].iloc[0]
