"""EER: hand-made cases, a cross-check against scikit-learn's ROC curve, and the EER of both scores (the
paper's real logit, table1.csv; the authors' P(real), table1_preal.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from deepfake_rl.metrics import UndefinedMetricError, compute_eer, det_curve, eer_from_labels, ranking_score
from deepfake_rl.tables import table1


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


# ---- both scores: the paper's real logit and the authors' softmax P(real) -----------------------------------
# Two real and two fake trials whose logit sums differ: by the real logit every fake is above every real,
# by P(real) (log-odds logit_real - logit_fake: reals 9, 8; fakes -3, -1) every real is above every fake.
BOTH_LOGITS = pd.DataFrame({"ID": list("abcd"), "label": [1, 1, 0, 0],
                            "logit_fake": [-10.0, -8.0, 5.0, 4.0], "logit_real": [-1.0, 0.0, 2.0, 3.0]})


def scores_csv(folder: Path, dataset: str, logits: pd.DataFrame) -> Path:
    """A scores CSV as stages.score writes it: score = real logit, p_real = softmax P(real)."""
    folder.mkdir(parents=True, exist_ok=True)
    p_real = 1.0 / (1.0 + np.exp(logits["logit_fake"] - logits["logit_real"]))
    frame = logits.assign(score=logits["logit_real"], p_real=p_real)
    frame[["ID", "label", "score", "p_real", "logit_fake", "logit_real"]].to_csv(folder / f"{dataset}.csv",
                                                                                   index=False)
    return folder / f"{dataset}.csv"


def test_the_two_scores_give_different_eers_hand_computed():
    labels, logit_fake, logit_real = (BOTH_LOGITS[c].to_numpy() for c in ("label", "logit_fake", "logit_real"))
    softmax = np.exp(np.c_[logit_fake, logit_real]) / np.exp(np.c_[logit_fake, logit_real]).sum(axis=1, keepdims=True)
    assert eer_from_labels(ranking_score(logit_fake, logit_real, "logit"), labels) == 1.0
    assert eer_from_labels(softmax[:, 1], labels) == 0.0
    assert eer_from_labels(ranking_score(logit_fake, logit_real, "p_real"), labels) == 0.0
    with pytest.raises(ValueError, match="unknown score kind"):
        ranking_score(logit_fake, logit_real, "prob")


def test_p_real_ranks_trials_like_the_softmax_without_its_saturation():
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=4.0, size=(400, 2))
    labels = (rng.random(400) < 0.5).astype(int)
    ranked = ranking_score(logits[:, 0], logits[:, 1], "p_real")
    softmax = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    assert np.all(np.diff(softmax[np.argsort(ranked, kind="mergesort")]) >= 0)     # the same order as P(real)
    assert eer_from_labels(ranked, labels) == eer_from_labels(softmax, labels)
    # logits 40 and 50 apart: float64 P(real) is 1.0 for both (a tie), the log-odds still order them
    far = ranking_score(np.zeros(2), np.array([40.0, 50.0]), "p_real")
    assert 1.0 / (1.0 + np.exp(-40.0)) == 1.0 / (1.0 + np.exp(-50.0)) and far[0] < far[1]


def test_table1_preal_is_the_eer_of_p_real(tmp_path: Path):
    runs = tmp_path / "runs" / "xlsr_2b" / "pre_grpo"      # paper row 12: GRPO from a random head
    test_sets = {"in_domain": {"add23": "ADD23"}, "out_of_domain": {"for": "FoR"}}
    files = [scores_csv(runs / f"seed{seed}" / "scores", dataset, BOTH_LOGITS)
             for seed in (1, 2) for dataset in ("add23", "for")]
    table = table1(files, test_sets, {"xlsr_2b": "XLS-R-2B"}, tmp_path / "eer_long.csv", tmp_path / "table1.csv",
                   preal_table_csv=tmp_path / "table1_preal.csv")
    logit, preal = pd.read_csv(tmp_path / "table1.csv"), pd.read_csv(tmp_path / "table1_preal.csv")
    assert list(preal.columns) == list(logit.columns) and list(preal["row"]) == list(logit["row"]) == [12]
    eer_columns = ["ADD23", "in-domain ave.", "FoR", "out-of-domain ave."]
    assert (logit[eer_columns] == 100.0).all(axis=None) and table[eer_columns].equals(logit[eer_columns])
    assert (preal[eer_columns] == 0.0).all(axis=None)
    long = pd.read_csv(tmp_path / "eer_long.csv")
    assert list(long["eer"]) == [1.0] * 4 and list(long["eer_preal"]) == [0.0] * 4
