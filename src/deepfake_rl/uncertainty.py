"""Uncertainty of EERs, beyond the paper (DESIGN section 5): how much of a Table 1 difference could be the
luck of which utterances are in a test set, and how much the luck of the training seed.

* ``bootstrap_eer``: percentile interval of one run's EER on one test set, resampling with replacement
  within each class (so both classes are always present). The unit resampled is the *recording* (source
  clip) when the trials' recordings are given: the segments of one recording share speaker, voice, attack
  and channel, so resampling them one by one treats correlated trials as independent and gives intervals
  too narrow and p-values too small (the DFE24 columns cut 72 recordings into up to 635 segments, DV 20
  into 429). A recording drawn k times brings all its segments k times. With one segment per recording
  (the out-of-domain stand-ins) this is exactly the utterance bootstrap, draw for draw.
* ``seed_interval``: mean over seeds with a Student-t interval (mean +- t_{k-1} s / sqrt(k)) over the k
  seeds' EERs: the training-seed uncertainty Table 1's seed means carry.
* ``paired_bootstrap``: two methods on the same test set, the same resampled recordings for both. The
  statistic is the one Table 1 prints: each method's EER averaged over its seeds (every seed scored on the
  resampled recordings). Averaging each utterance's score over seeds was rejected (it evaluates a seed
  ensemble, whose EER is not the table's), and so was pooling all seeds' trials into one DET curve (seeds
  with different score scales blur it). Seeds are not resampled: the test is conditional on the trained
  models; ``seed_interval`` is the complementary view. The two-sided p-value is that of the centred
  bootstrap, (1 + #{|d* - d| >= |d|}) / (B + 1), testing difference 0.

Resampling is vectorised: a resample is a vector of multiplicities over utterances, and one sort per
score vector serves every resample (the weighted DET curve is a cumulative sum along the sorted order),
so 1000 resamples of 10k utterances take seconds (tests/test_uncertainty.py times it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from deepfake_rl.io_utils import atomic_path
from deepfake_rl.metrics import UndefinedMetricError, eer_from_labels
from deepfake_rl.run_paths import SCORES, run_keys

CHUNK = 128     # resamples per vectorised block: bounds memory at a few [CHUNK, n] float arrays


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str


@dataclass(frozen=True)
class PairedTest:
    """EER(a) - EER(b) on the same utterances: point difference, its bootstrap interval, two-sided p."""

    eer_a: float
    eer_b: float
    difference: float
    low: float
    high: float
    p_value: float
    n_resamples: int


def _labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels).ravel()
    if np.sum(labels == 1) == 0 or np.sum(labels == 0) == 0:
        raise UndefinedMetricError(f"EER needs both classes: {np.sum(labels == 1)} real and {np.sum(labels == 0)} fake")
    return labels


def _class_groups(labels: np.ndarray, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per class: its utterances, each one's group index within the class, and the number of groups."""
    if groups is not None and np.shape(groups) != labels.shape:
        raise ValueError(f"{np.size(groups)} recording indices for {labels.size} utterances")
    per_class = []
    for value in (0, 1):
        members = np.flatnonzero(labels == value)
        if groups is None:
            per_class.append((members, np.arange(members.size), members.size))
        else:
            names, position = np.unique(np.asarray(groups)[members], return_inverse=True)
            per_class.append((members, position, names.size))
    return per_class


def stratified_weights(labels: np.ndarray, n_resamples: int, seed: int,
                       groups: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Blocks [<=CHUNK, n] of bootstrap multiplicities: in each class its recordings (`groups`: each utterance's
    recording, a name or index; None = every utterance its own recording) are drawn with replacement as many times as the class
    has recordings, and each utterance gets the multiplicity of its recording."""
    labels = _labels(labels)
    rng = np.random.default_rng(seed)
    classes = _class_groups(labels, groups)
    for start in range(0, n_resamples, CHUNK):
        block = min(CHUNK, n_resamples - start)
        weights = np.zeros((block, labels.size))
        for members, position, count in classes:
            draws = rng.integers(0, count, size=(block, count))
            flat = (draws + count * np.arange(block)[:, None]).ravel()
            drawn = np.bincount(flat, minlength=block * count).reshape(block, count)
            weights[:, members] = drawn[:, position]
        yield weights


def recording_names(ids: Sequence[str], recording_of: Mapping[str, str], where: str) -> np.ndarray:
    """Each utterance's recording, the `groups` of `stratified_weights`; `where` names the scores."""
    missing = [utterance for utterance in ids if utterance not in recording_of]
    if missing:
        raise ValueError(f"{where}: {len(missing)} scored utterances are not in the test set's store "
                         f"(e.g. {missing[0]!r}); were the scores made from another build of the store?")
    return np.array([recording_of[utterance] for utterance in ids], dtype=str)


def weighted_eers(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """EER of every row of `weights` (utterance multiplicities), as metrics.compute_eer would give on the
    resampled trials: DET points at tie-grouped distinct scores, mean of miss and false alarm where closest."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = _labels(labels)
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores, is_real = scores[order], labels[order] == 1
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    sorted_weights = np.atleast_2d(weights)[:, order]
    real_weights = np.where(is_real, sorted_weights, 0.0)
    fake_weights = sorted_weights - real_weights
    real_total, fake_total = real_weights.sum(axis=1, keepdims=True), fake_weights.sum(axis=1, keepdims=True)
    miss = np.cumsum(real_weights, axis=1)[:, last_of_tie] / real_total
    false_alarm = 1.0 - np.cumsum(fake_weights, axis=1)[:, last_of_tie] / fake_total
    rows = np.arange(miss.shape[0])
    miss = np.concatenate([np.zeros((rows.size, 1)), miss], axis=1)
    false_alarm = np.concatenate([np.ones((rows.size, 1)), false_alarm], axis=1)
    closest = np.argmin(np.abs(miss - false_alarm), axis=1)
    return (miss[rows, closest] + false_alarm[rows, closest]) / 2.0


def _digest(*arrays: np.ndarray | None) -> str:
    """A short key for the contents of arrays (None counts as an empty array)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.asarray([] if array is None else array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


class ResampleCache:
    """Each score vector's EER on every resample, computed once per resampling scheme: the resamples of a test
    set are the same for every run (same seed, same recordings), so one run's vector serves its interval and
    every paired test and average it is in. Results are those of computing each afresh, bit for bit."""

    def __init__(self) -> None:
        self._weights: dict[tuple, list[np.ndarray]] = {}
        self._eers: dict[tuple, np.ndarray] = {}

    def weights(self, key: tuple, make: Callable[[], Iterable[np.ndarray]]) -> list[np.ndarray]:
        if key not in self._weights:
            self._weights[key] = list(make())
        return self._weights[key]

    def eers(self, row: np.ndarray, labels: np.ndarray, key: tuple,
             make: Callable[[], Iterable[np.ndarray]]) -> np.ndarray:
        """EER of `row` on each resample of the scheme `key` (weight blocks from `make`)."""
        entry = (key, _digest(row, labels))
        if entry not in self._eers:
            self._eers[entry] = np.concatenate([weighted_eers(row, labels, w) for w in self.weights(key, make)])
        return self._eers[entry]


def _stratified_eers(row: np.ndarray, labels: np.ndarray, n_resamples: int, seed: int, groups: np.ndarray | None,
                     cache: ResampleCache | None) -> np.ndarray:
    """EER of one score vector on each stratified resample (memoised in `cache` when given)."""
    key = ("stratified", _digest(labels, None if groups is None else np.asarray(groups).astype(str)), n_resamples,
           seed)
    return (cache or ResampleCache()).eers(row, labels, key,
                                           lambda: stratified_weights(labels, n_resamples, seed, groups))


def _percentile(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_eer(scores: np.ndarray, labels: np.ndarray, n_resamples: int = 1000, confidence: float = 0.95,
                  seed: int = 0, groups: np.ndarray | None = None, cache: ResampleCache | None = None) -> Interval:
    """EER of one run on one test set with a stratified percentile-bootstrap interval (over the recordings
    `groups` names, else over utterances)."""
    resampled = _stratified_eers(np.asarray(scores, dtype=np.float64), _labels(labels), n_resamples, seed, groups,
                                 cache)
    unit = "utterances" if groups is None else "recordings"
    return Interval(eer_from_labels(scores, labels), *_percentile(resampled, confidence), confidence,
                    f"stratified percentile bootstrap over {unit}")


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean over seeds with a Student-t interval (NaN bounds with fewer than two seeds)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(np.mean(values))
    if values.size < 2:
        return Interval(mean, float("nan"), float("nan"), confidence, "t interval over seeds")
    half = stats.t.ppf(0.5 + confidence / 2.0, values.size - 1) * np.std(values, ddof=1) / np.sqrt(values.size)
    return Interval(mean, float(mean - half), float(mean + half), confidence, "t interval over seeds")


def _seed_mean_eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """Table 1's value: the EER of each seed's scores (rows), averaged over seeds."""
    return float(np.mean([eer_from_labels(row, labels) for row in np.atleast_2d(scores)]))


def _paired_resamples(scores_a: np.ndarray, scores_b: np.ndarray, labels: np.ndarray, n_resamples: int,
                      seed: int, groups: np.ndarray | None = None, cache: ResampleCache | None = None
                      ) -> tuple[float, float, np.ndarray]:
    """Seed-mean EER of a and of b on the utterances, and the n_resamples bootstrap values of their difference."""
    scores_a, scores_b = np.atleast_2d(scores_a), np.atleast_2d(scores_b)
    labels = _labels(labels)
    if scores_a.shape[1] != labels.size or scores_b.shape[1] != labels.size:
        raise ValueError(f"scores {scores_a.shape} and {scores_b.shape} do not match {labels.size} labels")

    def seed_mean(scores: np.ndarray) -> np.ndarray:
        return np.mean([_stratified_eers(row, labels, n_resamples, seed, groups, cache) for row in scores], axis=0)

    return (_seed_mean_eer(scores_a, labels), _seed_mean_eer(scores_b, labels),
            seed_mean(scores_a) - seed_mean(scores_b))


def _paired_test(eer_a: float, eer_b: float, resampled: np.ndarray, confidence: float) -> PairedTest:
    """Percentile interval and centred-bootstrap two-sided p-value of the difference eer_a - eer_b."""
    difference = eer_a - eer_b
    p_value = (1.0 + np.sum(np.abs(resampled - difference) >= abs(difference))) / (resampled.size + 1.0)
    return PairedTest(eer_a, eer_b, difference, *_percentile(resampled, confidence), float(p_value),
                      resampled.size)


def paired_bootstrap(scores_a: np.ndarray, scores_b: np.ndarray, labels: np.ndarray, n_resamples: int = 1000,
                     confidence: float = 0.95, seed: int = 0, groups: np.ndarray | None = None,
                     cache: ResampleCache | None = None) -> PairedTest:
    """Paired bootstrap of seed-mean EER(a) - EER(b); scores_* are [n_seeds, n] (or [n]) on the same utterances,
    resampled by recording when `groups` gives each utterance's recording."""
    return _paired_test(*_paired_resamples(scores_a, scores_b, labels, n_resamples, seed, groups, cache),
                        confidence)


def _share_recordings(sets: Sequence[tuple[np.ndarray, ...]]) -> bool:
    """Whether the sets' recordings are known and some recording is in two of them."""
    if any(len(item) < 4 or item[3] is None for item in sets):
        return False
    names = [set(np.asarray(item[3]).tolist()) for item in sets]
    return sum(map(len, names)) > len(set().union(*names))


def _joint_resamples(sets: Sequence[tuple[np.ndarray, ...]], n_resamples: int, seed: int,
                     cache: ResampleCache | None = None) -> tuple[float, float, np.ndarray]:
    """`_paired_resamples` of the average over sets cut from the same recordings: one draw of the recordings
    (stratified by class over all the sets' recordings) weights every set's segments of a recording alike."""
    label_of: dict[str, int] = {}
    for _, _, labels, names in sets:
        for name, label in zip(np.asarray(names).tolist(), np.asarray(labels).tolist()):
            if label_of.setdefault(name, label) != label:
                raise ValueError(f"recording {name!r} is real in one test set and fake in another")
    union = sorted(label_of)
    union_labels = np.array([label_of[name] for name in union])
    column = {name: index for index, name in enumerate(union)}
    cache = cache or ResampleCache()
    union_key = ("joint", _digest(np.array(union), union_labels), n_resamples, seed)
    drawn = cache.weights(union_key, lambda: stratified_weights(union_labels, n_resamples, seed))

    def seed_mean(scores: np.ndarray, labels: np.ndarray, where: np.ndarray) -> np.ndarray:
        key = (*union_key, _digest(where))
        return np.mean([cache.eers(row, labels, key, lambda: [block[:, where] for block in drawn])
                        for row in np.atleast_2d(scores)], axis=0)

    per_set = []
    for a, b, labels, names in sets:
        where = np.array([column[name] for name in np.asarray(names).tolist()])
        labels = _labels(labels)
        per_set.append(seed_mean(a, labels, where) - seed_mean(b, labels, where))
    eer_a = float(np.mean([_seed_mean_eer(a, labels) for a, _, labels, _ in sets]))
    eer_b = float(np.mean([_seed_mean_eer(b, labels) for _, b, labels, _ in sets]))
    return eer_a, eer_b, np.mean(per_set, axis=0)


def paired_average_bootstrap(sets: Sequence[tuple[np.ndarray, ...]], n_resamples: int = 1000,
                             confidence: float = 0.95, seed: int = 0, cache: ResampleCache | None = None
                             ) -> PairedTest:
    """Paired bootstrap of the difference of two methods' EERs averaged over several test sets (a Table 1
    average column). `sets` holds (scores_a, scores_b, labels[, recordings]) per test set. Sets that share
    recordings (the five DFE24 columns, segmentations of the same recordings) are resampled together: one
    draw of recordings for all. Otherwise each set is resampled on its own, with its own seed, which is right
    for sets with no recording in common (the out-of-domain sets) and too optimistic for sets that share
    recordings unknown to the test (utterances resampled)."""
    if not sets:
        raise ValueError("an average needs at least one test set")
    if _share_recordings(sets):
        return _paired_test(*_joint_resamples(sets, n_resamples, seed, cache), confidence)
    parts = [_paired_resamples(*item[:3], n_resamples, seed + index, item[3] if len(item) > 3 else None, cache)
             for index, item in enumerate(sets)]
    eer_a, eer_b, resampled = (np.mean(values, axis=0) for values in zip(*parts))
    return _paired_test(float(eer_a), float(eer_b), resampled, confidence)


# ---- stage-level: scores CSVs (written by stages.score) -> tables ----------------------------------------

def _parse(path: str | Path) -> dict:
    return {**run_keys(path, SCORES), "path": str(path)}


def _read_scores(path: str | Path, read: dict[str, pd.DataFrame] | None) -> pd.DataFrame:
    """A score CSV as a table by ID, read once when `read` (path -> table) is shared between callers."""
    if read is None:
        return pd.read_csv(path).set_index("ID")
    if str(path) not in read:
        read[str(path)] = pd.read_csv(path).set_index("ID")
    return read[str(path)]


def aligned_scores(paths: Sequence[str | Path], read: dict[str, pd.DataFrame] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, labels, scores [len(paths), n]) of score CSVs of the same utterances, rows in the first file's order.
    `read`: files already read (path -> table by ID), filled as files are read, so that the many pairs a run
    is tested in read its file once."""
    frames = [_read_scores(path, read) for path in paths]
    ids = frames[0].index
    rows = []
    for path, frame in zip(paths, frames):
        if frame.index.has_duplicates or set(frame.index) != set(ids):
            raise ValueError(f"{path}: utterance IDs differ from {paths[0]}")
        frame = frame.loc[ids]
        if not np.array_equal(frame["label"].to_numpy(), frames[0]["label"].to_numpy()):
            raise ValueError(f"{path}: labels differ from {paths[0]}")
        rows.append(frame["score"].to_numpy(dtype=np.float64))
    return ids.to_numpy(), frames[0]["label"].to_numpy(), np.vstack(rows)


Recordings = Mapping[str, Mapping[str, str]]    # test set -> utterance ID -> its recording (source clip)


def store_recordings(store_paths: Sequence[str | Path]) -> dict[str, dict[str, str]]:
    """Each store's segment -> source clip map, keyed by the store's file stem (the test set's name)."""
    from deepfake_rl.data.store import read_store_manifest

    recordings = {}
    for path in store_paths:
        manifest = read_store_manifest(path)
        recordings[Path(path).stem] = dict(zip(manifest["id"], manifest["source_id"]))
    return recordings


def _groups(recordings: Recordings | None, dataset: str, ids: Sequence[str], where: str) -> np.ndarray | None:
    """The recording of each utterance, or None (utterances resampled) without a map for the set."""
    if recordings is None:
        return None
    if dataset not in recordings:
        raise ValueError(f"{where}: no store of test set {dataset!r} to read its recordings from")
    return recording_names(ids, recordings[dataset], where)


INTERVAL_COLUMNS = ["model", "method", "seed", "dataset", "eer", "eer_low", "eer_high", "resampled",
                    "n_resampled_real", "n_resampled_fake"]


def _resampled_counts(labels: np.ndarray, groups: np.ndarray | None) -> tuple[int, int]:
    """How many units (recordings, or utterances) each class has: the real and fake sample sizes the interval
    rests on."""
    labels = np.asarray(labels)
    units = np.arange(labels.size) if groups is None else np.asarray(groups)
    return tuple(int(np.unique(units[labels == value]).size) for value in (1, 0))


def eer_intervals(score_files: Sequence[str | Path], n_resamples: int = 1000, confidence: float = 0.95,
                  seed: int = 0, recordings: Recordings | None = None,
                  cache: ResampleCache | None = None, read: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per run x test set: model, method, seed, dataset, eer, eer_low, eer_high (NaN when a class is missing),
    the unit resampled (recordings where `recordings` maps the set's utterances to them, else utterances)
    and how many of them each class has."""
    records = []
    for path in score_files:
        run = _parse(path)
        frame = _read_scores(path, read)
        groups = _groups(recordings, run["dataset"], frame.index.astype(str).tolist(), str(path))
        labels = frame["label"].to_numpy()
        try:
            interval = bootstrap_eer(frame["score"].to_numpy(), labels, n_resamples, confidence, seed, groups, cache)
            values = (interval.estimate, interval.low, interval.high)
        except UndefinedMetricError:
            values = (float("nan"),) * 3
        unit = "utterances" if groups is None else "recordings"
        records.append({k: run[k] for k in ("model", "method", "seed", "dataset")}
                       | dict(zip(INTERVAL_COLUMNS[4:], (*values, unit, *_resampled_counts(labels, groups)))))
    return pd.DataFrame(records, columns=INTERVAL_COLUMNS)


def seed_intervals(eer_long: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (model, method, dataset) of a table with an `eer` column per seed: n_seeds, mean, std, t interval."""
    records = []
    for (model, method, dataset), group in eer_long.groupby(["model", "method", "dataset"], sort=False):
        values = group["eer"].to_numpy(dtype=np.float64)
        interval = seed_interval(values, confidence)
        records.append({"model": model, "method": method, "dataset": dataset, "n_seeds": values.size,
                        "eer_mean": interval.estimate, "eer_std": np.std(values, ddof=1) if values.size > 1 else np.nan,
                        "eer_low": interval.low, "eer_high": interval.high})
    return pd.DataFrame(records)


PAIRED_COLUMNS = ["model", "dataset", "method_a", "method_b", "n_seeds_a", "n_seeds_b", "eer_a", "eer_b",
                  "difference", "low", "high", "p_value"]


def _method_scores(group: pd.DataFrame, method_a: str, method_b: str, recordings: Recordings | None,
                   read: dict[str, pd.DataFrame] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int, int] | None:
    """(scores_a [seeds, n], scores_b [seeds, n], labels, recording indices or None, seeds_a, seeds_b) of one
    test set, None if a method lacks it."""
    paths_a = group.loc[group["method"] == method_a].sort_values("seed")["path"].tolist()
    paths_b = group.loc[group["method"] == method_b].sort_values("seed")["path"].tolist()
    if not paths_a or not paths_b:
        return None
    ids, labels, scores = aligned_scores(paths_a + paths_b, read)
    groups = _groups(recordings, group["dataset"].iloc[0], [str(i) for i in ids], paths_a[0])
    return scores[:len(paths_a)], scores[len(paths_a):], labels, groups, len(paths_a), len(paths_b)


def _paired_record(model: str, dataset: str, pair: tuple[str, str], seeds: tuple[int, int],
                   test: PairedTest) -> dict:
    return {"model": model, "dataset": dataset, "method_a": pair[0], "method_b": pair[1], "n_seeds_a": seeds[0],
            "n_seeds_b": seeds[1], "eer_a": test.eer_a, "eer_b": test.eer_b, "difference": test.difference,
            "low": test.low, "high": test.high, "p_value": test.p_value}


def paired_tests(score_files: Sequence[str | Path], comparisons: Sequence[tuple[str, str]],
                 n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                 averages: Mapping[str, Sequence[str]] | None = None,
                 recordings: Recordings | None = None, cache: ResampleCache | None = None,
                 read: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Per model x test set x (method_a, method_b) with both methods present: the paired bootstrap test (over
    recordings where `recordings` maps the set's utterances). For each entry name -> test sets of `averages`,
    one more row per model and pair, dataset "avg:<name>": the test of the difference of the averages over
    those sets (``paired_average_bootstrap``), when both methods have all."""
    runs = pd.DataFrame([_parse(path) for path in score_files])
    records = []
    read = {} if read is None else read     # each score file read once for all the pairs it is in
    for model, by_model in runs.groupby("model", sort=False):
        per_set: dict[tuple[str, str, str], tuple] = {}
        for dataset, group in by_model.groupby("dataset", sort=False):
            for pair in comparisons:
                found = _method_scores(group, *pair, recordings, read)
                if found is None:
                    continue
                try:
                    test = paired_bootstrap(*found[:3], n_resamples, confidence, seed, found[3], cache)
                except UndefinedMetricError:
                    continue
                per_set[(dataset, *pair)] = found
                records.append(_paired_record(model, dataset, pair, found[4:], test))
        for name, datasets in (averages or {}).items():
            for pair in comparisons:
                found = [per_set.get((dataset, *pair)) for dataset in datasets]
                if not datasets or any(item is None for item in found):
                    continue
                test = paired_average_bootstrap([item[:4] for item in found], n_resamples, confidence, seed, cache)
                records.append(_paired_record(model, f"avg:{name}", pair, found[0][4:], test))
    return pd.DataFrame(records, columns=PAIRED_COLUMNS)


def uncertainty_stage(score_files: Sequence[str | Path], comparisons: Sequence[tuple[str, str]],
                      intervals_csv: str | Path, seeds_csv: str | Path, paired_csv: str | Path,
                      n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                      averages: Mapping[str, Sequence[str]] | None = None,
                      recordings: Recordings | None = None) -> None:
    """Writes the per-run bootstrap intervals, the across-seed intervals and the paired tests (CSV, atomically);
    `recordings` (``store_recordings``) makes every bootstrap resample recordings instead of utterances."""
    cache = ResampleCache()   # a run's resampled EERs serve its interval and all its paired tests
    read: dict[str, pd.DataFrame] = {}   # and each score file is read once for both
    intervals = eer_intervals(score_files, n_resamples, confidence, seed, recordings, cache, read)
    outputs = ((intervals, intervals_csv), (seed_intervals(intervals, confidence), seeds_csv),
               (paired_tests(score_files, comparisons, n_resamples, confidence, seed, averages, recordings, cache, read),
                paired_csv))
    for frame, path in outputs:
        with atomic_path(path) as temporary:
            frame.to_csv(temporary, index=False, float_format="%.6g")
