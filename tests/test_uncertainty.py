"""Bootstrap intervals of EER, the across-seed interval and the paired bootstrap test."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfake_rl.metrics import UndefinedMetricError, eer_from_labels
from deepfake_rl.data.store import Segment, write_store
from deepfake_rl.uncertainty import (ResampleCache, aligned_scores, bootstrap_eer, paired_average_bootstrap,
                                     paired_bootstrap, recording_names, seed_interval, store_recordings, stratified_weights,
                                     uncertainty_stage, weighted_eers)


def trials(n: int, separation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(int)
    return rng.normal(size=n) + separation * labels, labels


def test_weighted_eer_is_the_eer_of_the_resampled_trials():
    scores, labels = trials(300, 1.0, 0)
    scores = np.round(scores, 1)                 # ties, within and across classes
    rng = np.random.default_rng(1)
    picks = [rng.integers(0, 300, size=300) for _ in range(20)]
    weights = np.stack([np.bincount(p, minlength=300) for p in picks]).astype(float)
    expected = [eer_from_labels(scores[p], labels[p]) for p in picks]
    assert np.allclose(weighted_eers(scores, labels, weights), expected)
    assert weighted_eers(scores, labels, np.ones(300))[0] == pytest.approx(eer_from_labels(scores, labels))


def segmented(scores: np.ndarray, labels: np.ndarray, pieces: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every trial cut into `pieces` segments that score alike (perfectly correlated): scores, labels, recordings."""
    return np.repeat(scores, pieces), np.repeat(labels, pieces), np.repeat(np.arange(scores.size), pieces)


def test_recording_weights_give_each_segment_its_recordings_draw():
    labels = np.array([0, 0, 0, 1, 1, 0, 1])
    groups = np.array([7, 7, 3, 5, 5, 9, 2])          # class 0: recordings 7 (2 segments), 3, 9; class 1: 5 (2), 2
    weights = np.concatenate(list(stratified_weights(labels, 300, seed=4, groups=groups)))
    assert np.array_equal(weights[:, 0], weights[:, 1]) and np.array_equal(weights[:, 3], weights[:, 4])
    assert np.all(weights[:, [0, 2, 5]].sum(axis=1) == 3) and np.all(weights[:, [3, 6]].sum(axis=1) == 2)
    assert np.all(weights[:, labels == 0].sum(axis=1) == weights[:, [1, 2, 5]].sum(axis=1) + weights[:, 0])
    # one segment per recording: the recording bootstrap is the utterance bootstrap, draw for draw
    one_each = np.concatenate(list(stratified_weights(labels, 300, seed=4, groups=np.arange(7))))
    assert np.array_equal(one_each, np.concatenate(list(stratified_weights(labels, 300, seed=4))))
    with pytest.raises(ValueError, match="6 recording indices for 7"):
        next(stratified_weights(labels, 10, seed=0, groups=groups[:6]))


def test_cutting_recordings_into_segments_narrows_only_the_utterance_bootstrap():
    """Ten alike segments per recording carry no more evidence than the recording: resampling recordings gives
    exactly the interval of the uncut set (same draws, each weight x 10); resampling segments one by one gives an
    interval about sqrt(10) times narrower, the optimism the recording bootstrap removes."""
    scores, labels = trials(80, 1.0, 11)
    whole = bootstrap_eer(scores, labels, n_resamples=400, seed=2)
    cut_scores, cut_labels, recordings = segmented(scores, labels, 10)
    by_recording = bootstrap_eer(cut_scores, cut_labels, n_resamples=400, seed=2, groups=recordings)
    by_segment = bootstrap_eer(cut_scores, cut_labels, n_resamples=400, seed=2)
    assert (by_recording.low, by_recording.high) == pytest.approx((whole.low, whole.high))
    assert by_recording.method.endswith("recordings") and by_segment.method.endswith("utterances")
    width = whole.high - whole.low
    assert by_segment.high - by_segment.low < 0.5 * width
    other = trials(80, 1.0, 12)[0]
    paired_whole = paired_bootstrap(scores, other, labels, n_resamples=400, seed=2)
    paired_cut = paired_bootstrap(cut_scores, np.repeat(other, 10), cut_labels, n_resamples=400, seed=2,
                                  groups=recordings)
    assert paired_cut.p_value == pytest.approx(paired_whole.p_value)
    assert (paired_cut.low, paired_cut.high) == pytest.approx((paired_whole.low, paired_whole.high))


def test_recording_names_name_the_scores_when_an_utterance_is_not_in_the_store():
    assert list(recording_names(["a_0", "a_1", "b_0"], {"a_0": "a", "a_1": "a", "b_0": "b"}, "x.csv")) == ["a", "a",
                                                                                                           "b"]
    with pytest.raises(ValueError, match=r"runs/x\.csv: 1 scored utterances are not in .*'c_0'"):
        recording_names(["a_0", "c_0"], {"a_0": "a"}, "runs/x.csv")


def test_an_average_over_segmentations_of_the_same_recordings_draws_the_recordings_once():
    """Two columns cut from the same recordings (2 and 3 alike segments each): the average's test is exactly
    the test of the uncut recordings, since one draw weights both columns alike. Resampled as independent
    sets they would give a narrower interval, as if the recordings had been heard twice."""
    scores, labels = trials(90, 1.0, 30)
    other = trials(90, 1.0, 31)[0]
    names = np.array([f"rec{i:03d}" for i in range(90)])
    columns = [(np.repeat(scores, k), np.repeat(other, k), np.repeat(labels, k), np.repeat(names, k)) for k in (2, 3)]
    uncut = paired_bootstrap(scores, other, labels, n_resamples=300, seed=4)
    joint = paired_average_bootstrap(columns, n_resamples=300, seed=4)
    assert (joint.difference, joint.low, joint.high, joint.p_value) == pytest.approx(
        (uncut.difference, uncut.low, uncut.high, uncut.p_value))
    independent = paired_average_bootstrap([column[:3] for column in columns], n_resamples=300, seed=4)
    assert independent.difference == pytest.approx(uncut.difference)
    assert independent.high - independent.low < 0.85 * (uncut.high - uncut.low)
    flipped = (columns[1][0], columns[1][1], 1 - columns[1][2], columns[1][3])
    with pytest.raises(ValueError, match="real in one test set and fake in another"):
        paired_average_bootstrap([columns[0], flipped], n_resamples=10)


def test_stratified_weights_keep_class_sizes_and_are_seeded():
    labels = np.array([0, 1, 1, 0, 0, 1, 0])
    blocks = list(stratified_weights(labels, 300, seed=5))
    weights = np.concatenate(blocks)
    assert weights.shape == (300, 7) and len(blocks) > 1
    assert np.all(weights[:, labels == 1].sum(axis=1) == 3) and np.all(weights[:, labels == 0].sum(axis=1) == 4)
    assert np.array_equal(weights, np.concatenate(list(stratified_weights(labels, 300, seed=5))))
    assert not np.array_equal(weights, np.concatenate(list(stratified_weights(labels, 300, seed=6))))


def test_bootstrap_interval_contains_estimate_and_shrinks_with_n():
    small = bootstrap_eer(*trials(200, 1.5, 2), n_resamples=400, seed=0)
    large = bootstrap_eer(*trials(5000, 1.5, 3), n_resamples=400, seed=0)
    for interval in (small, large):
        assert interval.low <= interval.estimate <= interval.high
    assert (large.high - large.low) < 0.5 * (small.high - small.low)
    assert bootstrap_eer(*trials(200, 1.5, 2), n_resamples=400, seed=0) == small


def test_bootstrap_is_fast():
    scores, labels = trials(10_000, 1.0, 4)
    start = time.perf_counter()
    bootstrap_eer(scores, labels, n_resamples=1000)
    assert time.perf_counter() - start < 10.0


def test_one_class_is_undefined():
    with pytest.raises(UndefinedMetricError):
        bootstrap_eer(np.array([0.1, 0.2]), np.array([1, 1]))


def test_seed_interval_hand_computed():
    # mean 0.2, s = 0.1, k = 3: t_{0.975, 2} = 4.302653, half-width 4.302653 * 0.1 / sqrt(3) = 0.248414
    interval = seed_interval([0.1, 0.2, 0.3])
    assert interval.estimate == pytest.approx(0.2)
    assert interval.low == pytest.approx(0.2 - 0.248414, abs=1e-6)
    assert interval.high == pytest.approx(0.2 + 0.248414, abs=1e-6)
    single = seed_interval([0.3])
    assert single.estimate == 0.3 and np.isnan(single.low) and np.isnan(single.high)


def test_paired_test_separates_different_systems():
    rng = np.random.default_rng(7)
    labels = (rng.random(2000) < 0.5).astype(int)
    good = np.stack([rng.normal(size=2000) + 3.0 * labels for _ in range(3)])
    poor = np.stack([rng.normal(size=2000) + 0.8 * labels for _ in range(2)])
    test = paired_bootstrap(good, poor, labels, n_resamples=300, seed=0)
    assert test.difference == pytest.approx(np.mean([eer_from_labels(s, labels) for s in good])
                                            - np.mean([eer_from_labels(s, labels) for s in poor]))
    assert test.difference < -0.2
    assert test.low <= test.difference <= test.high < 0.0
    assert test.p_value == pytest.approx(1.0 / 301)


def test_paired_test_identical_systems_are_not_different():
    scores, labels = trials(1000, 1.0, 8)
    test = paired_bootstrap(scores, scores.copy(), labels, n_resamples=200, seed=0)
    assert test.difference == 0.0 and test.p_value == 1.0


def test_paired_test_is_calibrated_under_the_null():
    """Pairs of equally good but different systems: p-values roughly uniform, about 5% below 0.05."""
    p_values = []
    for replicate in range(40):
        rng = np.random.default_rng(replicate)
        labels = (rng.random(600) < 0.5).astype(int)
        base = rng.normal(size=600) + 1.5 * labels
        a, b = base + 0.3 * rng.normal(size=600), base + 0.3 * rng.normal(size=600)
        p_values.append(paired_bootstrap(a, b, labels, n_resamples=200, seed=replicate).p_value)
    assert np.mean(np.array(p_values) < 0.05) <= 0.15
    assert 0.25 < np.median(p_values) < 0.8


def write_scores(path: Path, ids: list[str], labels: np.ndarray, scores: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"ID": ids, "label": labels, "score": scores}).to_csv(path, index=False)


def test_stage_aligns_by_id_and_writes_three_tables(tmp_path):
    scores, labels = trials(120, 2.0, 10)
    ids = [f"u{i:03d}" for i in range(120)]
    files = []
    for method, noise in (("sft", 1.0), ("grpo", 0.2)):
        for seed in (0, 1):
            noisy = scores + noise * np.random.default_rng(seed).normal(size=120)
            order = np.random.default_rng(100 + seed).permutation(120)    # files list utterances in any order
            path = tmp_path / "runs" / "m" / method / f"seed{seed}" / "scores" / "dv.csv"
            write_scores(path, [ids[i] for i in order], labels[order], noisy[order])
            files.append(path)
    read = {}
    aligned_ids, aligned_labels, matrix = aligned_scores(files, read)
    assert matrix.shape == (4, 120) and set(read) == {str(path) for path in files}
    first = files[0].read_bytes()
    files[0].write_text("not read again")           # the pairs a file is in share its one reading
    assert np.array_equal(aligned_scores(files[:2], read)[2], matrix[:2])
    files[0].write_bytes(first)
    position = [ids.index(i) for i in aligned_ids]
    assert np.array_equal(aligned_labels, labels[position])
    assert np.allclose(matrix[0], (scores + np.random.default_rng(0).normal(size=120))[position])
    outputs = [tmp_path / name for name in ("intervals.csv", "seeds.csv", "paired.csv")]
    uncertainty_stage(files, [("grpo", "sft")], *outputs, n_resamples=100)
    intervals, seeds, paired = (pd.read_csv(p) for p in outputs)
    assert len(intervals) == 4 and (intervals["eer_low"] <= intervals["eer"]).all()
    assert list(seeds["n_seeds"]) == [2, 2]
    assert len(paired) == 1 and paired.loc[0, "difference"] < 0
    expected = intervals.groupby("method")["eer"].mean()
    assert paired.loc[0, "eer_a"] == pytest.approx(expected["grpo"], abs=1e-5)


def test_mismatched_utterances_are_an_error(tmp_path):
    write_scores(tmp_path / "a.csv", ["x", "y"], np.array([0, 1]), np.array([0.1, 0.2]))
    write_scores(tmp_path / "b.csv", ["x", "z"], np.array([0, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="IDs differ"):
        aligned_scores([tmp_path / "a.csv", tmp_path / "b.csv"])


def test_average_test_is_the_mean_of_the_sets_and_matches_hand_cases():
    """One set: the average test is that set's test. Two sets: the point values are the means of the sets'
    seed-mean EERs, and a method better on both sets is significantly better on their average."""
    rng = np.random.default_rng(7)
    sets = []
    for n, margin in ((300, 1.0), (200, 2.0)):
        labels = (np.arange(n) % 2).astype(int)
        base = rng.normal(size=n) + margin * labels
        good, bad = base + 0.8 * labels, base + 0.3 * rng.normal(size=n)
        sets.append((good, bad, labels))
    single = paired_average_bootstrap(sets[:1], n_resamples=200, seed=3)
    assert single == paired_bootstrap(*sets[0], n_resamples=200, seed=3)
    both = paired_average_bootstrap(sets, n_resamples=200, seed=3)
    each = [paired_bootstrap(*item, n_resamples=200, seed=3 + i) for i, item in enumerate(sets)]
    assert both.eer_a == pytest.approx(np.mean([t.eer_a for t in each]))
    assert both.difference == pytest.approx(np.mean([t.difference for t in each]))
    assert both.difference < 0 and both.high < 0 and both.p_value < 0.05
    with pytest.raises(ValueError, match="at least one"):
        paired_average_bootstrap([])


def test_stage_writes_average_rows_only_when_every_set_is_there(tmp_path):
    scores, labels = trials(120, 2.0, 10)
    ids = [f"u{i:03d}" for i in range(120)]
    files = []
    for dataset in ("add23", "itw"):
        for method, noise in (("sft", 1.0), ("grpo", 0.2)):
            noisy = scores + noise * np.random.default_rng(len(dataset)).normal(size=120)
            path = tmp_path / "runs" / "m" / method / "seed1" / "scores" / f"{dataset}.csv"
            write_scores(path, ids, labels, noisy)
            files.append(path)
    outputs = [tmp_path / name for name in ("intervals.csv", "seeds.csv", "paired.csv")]
    uncertainty_stage(files, [("grpo", "sft")], *outputs, n_resamples=50,
                      averages={"out_of_domain": ["add23", "itw"], "missing": ["add23", "dv"]})
    paired = pd.read_csv(outputs[2])
    assert list(paired["dataset"]) == ["add23", "itw", "avg:out_of_domain"]
    average = paired.iloc[2]
    assert average["eer_a"] == pytest.approx(paired.iloc[:2]["eer_a"].mean(), abs=1e-5)


def test_stage_resamples_the_recordings_of_the_stores(tmp_path):
    """The stage reads each segment's recording from the test set's store; with recordings cut into alike
    segments its intervals and p-values are those of the uncut recordings, not the narrower per-segment ones."""
    scores, labels = trials(60, 1.5, 20)
    cut_scores, cut_labels, recordings = segmented(scores, labels, 4)
    ids = [f"r{r:03d}_{k}" for r, k in zip(recordings, np.tile(np.arange(4), 60))]
    segments = [Segment(np.zeros(400, dtype=np.float32), ids[i], f"r{recordings[i]:03d}", int(cut_labels[i]), "a",
                        "s", "en", 0.0) for i in range(ids.__len__())]
    write_store(tmp_path / "stores" / "dv.h5", segments, {})
    mapping = store_recordings([tmp_path / "stores" / "dv.h5"])
    assert set(mapping) == {"dv"} and mapping["dv"]["r005_2"] == "r005"
    files = []
    for method, noise in (("sft", 1.0), ("grpo", 0.3)):
        noisy = np.repeat(scores + noise * np.random.default_rng(3).normal(size=60), 4)
        path = tmp_path / "runs" / "m" / method / "seed1" / "scores" / "dv.csv"
        write_scores(path, ids, cut_labels, noisy)
        files.append(path)
    results = {}
    for unit, given in (("recordings", mapping), ("utterances", None)):
        outputs = [tmp_path / f"{unit}_{name}.csv" for name in ("intervals", "seeds", "paired")]
        uncertainty_stage(files, [("grpo", "sft")], *outputs, n_resamples=200, recordings=given)
        results[unit] = [pd.read_csv(path) for path in outputs]
    wide, narrow = results["recordings"][0], results["utterances"][0]
    assert ((wide["eer_high"] - wide["eer_low"]) > (narrow["eer_high"] - narrow["eer_low"])).all()
    expected = bootstrap_eer(np.repeat(scores + 1.0 * np.random.default_rng(3).normal(size=60), 4), cut_labels,
                             n_resamples=200, groups=recordings)
    sft = wide.loc[wide["method"] == "sft"].iloc[0]
    assert (sft["eer_low"], sft["eer_high"]) == pytest.approx((expected.low, expected.high), abs=1e-5)
    assert results["recordings"][2].loc[0, "p_value"] >= results["utterances"][2].loc[0, "p_value"]
    with pytest.raises(ValueError, match="no store of test set 'dv'"):
        uncertainty_stage(files, [("grpo", "sft")], *outputs, n_resamples=20, recordings={"add23": {}})


def test_a_shared_cache_gives_every_result_bit_for_bit():
    """The stage computes each run's resampled EERs once and reuses them in its interval, every paired test and
    both kinds of average; every number must equal the one computed afresh."""
    scores, labels = trials(60, 1.0, 40)
    names = np.array([f"rec{i:02d}" for i in range(60)])
    runs = [scores + 0.4 * np.random.default_rng(k).normal(size=60) for k in range(4)]
    a, b = np.stack(runs[:2]), np.stack(runs[2:])
    cut = [(np.repeat(a, k, axis=1), np.repeat(b, k, axis=1), np.repeat(labels, k), np.repeat(names, k))
           for k in (1, 2)]
    cache = ResampleCache()
    for _ in range(2):          # the second round is answered from the cache
        assert bootstrap_eer(a[0], labels, 200, seed=1, groups=names, cache=cache) == bootstrap_eer(
            a[0], labels, 200, seed=1, groups=names)
        assert paired_bootstrap(a, b, labels, 200, seed=1, groups=names, cache=cache) == paired_bootstrap(
            a, b, labels, 200, seed=1, groups=names)
        assert paired_bootstrap(b, a[:1], labels, 200, seed=1, cache=cache) == paired_bootstrap(
            b, a[:1], labels, 200, seed=1)
        assert paired_average_bootstrap(cut, 200, seed=1, cache=cache) == paired_average_bootstrap(cut, 200, seed=1)
        independent = [item[:3] for item in cut]
        assert paired_average_bootstrap(independent, 200, seed=1, cache=cache) == paired_average_bootstrap(
            independent, 200, seed=1)
