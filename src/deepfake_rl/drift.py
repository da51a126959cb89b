"""Drift (paper section 3.4): Wasserstein distance between the pooled embeddings of the FAKE utterances of a
test set and those of a reference set (ASVspoof 2019 LA dev in the paper; `asv19dev` here), per run.

The paper's quantity is W1 with Euclidean ground cost. Two estimators, both via POT:

* ``exact`` (the default): W1 itself, ``ot.emd2`` with uniform weights and cost ``ot.dist(a, b, "euclidean")``.
  The network simplex is super-quadratic in the number of points, so a side with more than ``max_points``
  points is replaced by a seeded subsample of ``max_points`` of them, ``n_subsamples`` times; the value is
  the mean over the subsample pairs and their standard deviation (ddof 1) is reported beside it. When
  neither side exceeds ``max_points`` every point is used, one computation is the answer and the spread
  is 0. In high dimension W1 between finite samples is biased upwards (two samples of one distribution are
  far apart: 42.9 for 2000-point samples of N(0, I_1024), `drift_benchmark.py --floor`), so values are
  comparable between rows only at equal ``max_points``.
* ``sliced`` (only on request): sliced W1 over ``n_projections`` seeded random directions divided by
  E|theta_1|, the mean absolute coordinate of a uniform unit vector, so that it equals W1 for a pure
  translation (and in one dimension). It is at most W1 up to projection noise (projections are
  1-Lipschitz); for other differences (a rotation, a change of shape) it is another, smaller number,
  hence its label ``sliced (not W1)`` in the tables and the figure titles.

``auto`` (exact when every set fitted in max_points, else sliced for the whole table) was removed: it
made the table's unit depend on the sizes of the test sets. Every row uses the same seed, so row
differences are not subsampling or projection noise of different streams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import ot
import pandas as pd

from deepfake_rl.io_utils import atomic_path
from deepfake_rl.run_paths import EMBEDDINGS, run_keys

ESTIMATORS = ("exact", "sliced")
LABELS = {"exact": "W1", "sliced": "sliced (not W1)"}    # the `estimator` column and figure titles
AUTO_REMOVED = ("drift estimator 'auto' was removed: it switched a whole table to the sliced Wasserstein "
                "distance, which is not W1, whenever a set exceeded max_points; use 'exact' (W1 averaged "
                "over subsamples) or ask for 'sliced' explicitly")
DEFAULT_MAX_POINTS = 2000
DEFAULT_N_SUBSAMPLES = 5
DEFAULT_N_PROJECTIONS = 500
FAKE = 0    # label of fake utterances in the embeddings files (1 = real)
LONG_COLUMNS = ["model", "method", "seed", "dataset", "drift", "drift_subsample_std", "n_subsamples", "n_test",
                "n_reference", "estimator"]
SUMMARY_COLUMNS = ["model", "method", "dataset", "drift_mean", "drift_std", "drift_subsample_std", "n_seeds",
                   "estimator"]


@dataclass(frozen=True)
class Drift:
    """One drift value and how it was obtained."""

    value: float            # exact: mean W1 over subsample pairs; sliced: the rescaled sliced distance
    subsample_std: float    # std (ddof 1) of W1 over subsample pairs; 0 without subsampling; NaN if unknown
    estimator: str          # LABELS[...]: "W1" or "sliced (not W1)"
    n_a: int                # points of each set before any subsampling
    n_b: int
    n_subsamples: int       # subsample pairs averaged (1 when every point is used; 0 for sliced)


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"embedding sets must be 2-D [n, d], got shapes {a.shape} and {b.shape}")
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError(f"empty embedding set: {a.shape[0]} and {b.shape[0]} points")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"embedding dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("embeddings contain NaN or infinite values")
    return a, b


def check_estimator(method: str) -> str:
    """The estimator name, or a ValueError saying why `auto` is gone / what is allowed."""
    if method == "auto":
        raise ValueError(AUTO_REMOVED)
    if method not in ESTIMATORS:
        raise ValueError(f"unknown drift estimator {method!r}; expected one of {ESTIMATORS}")
    return method


def subsample(x: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """At most `max_points` rows of x, drawn without replacement and kept in their original order."""
    if max_points < 1:
        raise ValueError(f"max_points must be positive, got {max_points}")
    if x.shape[0] <= max_points:
        return x
    return x[np.sort(rng.choice(x.shape[0], size=max_points, replace=False))]


def wasserstein_exact(a: np.ndarray, b: np.ndarray) -> float:
    """W1 between all points of a and b (uniform weights, Euclidean cost) by POT's network simplex.

    The iteration cap is raised with the problem size (POT's default 100k stops 2000 x 2000 problems
    early), and a plan that is still not optimal is an error rather than a silently wrong number."""
    a, b = _check(a, b)
    cost = ot.dist(a, b, metric="euclidean")
    weights_a, weights_b = np.full(a.shape[0], 1.0 / a.shape[0]), np.full(b.shape[0], 1.0 / b.shape[0])
    value, log = ot.emd2(weights_a, weights_b, cost, numItermax=max(100_000, 50 * a.shape[0] * b.shape[0]),
                         log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 on {a.shape[0]} x {b.shape[0]} points: {log['warning']}")
    return float(value)


def subsampled_w1(a: np.ndarray, b: np.ndarray, max_points: int = DEFAULT_MAX_POINTS,
                  n_subsamples: int = DEFAULT_N_SUBSAMPLES, seed: int = 0) -> np.ndarray:
    """W1 of each of `n_subsamples` seeded subsample pairs (at most `max_points` per side; a side that fits
    is used whole); a single value when neither side needs subsampling (every pair would be the same)."""
    a, b = _check(a, b)
    if n_subsamples < 1:
        raise ValueError(f"n_subsamples must be positive, got {n_subsamples}")
    if max(a.shape[0], b.shape[0]) <= max_points:
        return np.array([wasserstein_exact(a, b)])
    rng = np.random.default_rng(seed)
    return np.array([wasserstein_exact(subsample(a, max_points, rng), subsample(b, max_points, rng))
                     for _ in range(n_subsamples)])


def mean_abs_coordinate(dim: int) -> float:
    """E|theta_1| for theta uniform on the unit sphere of R^dim: Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))."""
    return math.exp(math.lgamma(dim / 2) - math.lgamma((dim + 1) / 2)) / math.sqrt(math.pi)


def wasserstein_sliced(a: np.ndarray, b: np.ndarray, n_projections: int = DEFAULT_N_PROJECTIONS,
                       seed: int = 0) -> float:
    """Sliced W1 over seeded random directions, rescaled to W1 for translations (see the module docstring)."""
    a, b = _check(a, b)
    if n_projections < 1:
        raise ValueError(f"n_projections must be positive, got {n_projections}")
    projections = ot.sliced.get_random_projections(a.shape[1], n_projections, seed=np.random.RandomState(seed))
    sliced = ot.sliced_wasserstein_distance(a, b, projections=projections, p=1)
    return float(sliced) / mean_abs_coordinate(a.shape[1])


def drift(a: np.ndarray, b: np.ndarray, method: str = "exact", max_points: int = DEFAULT_MAX_POINTS,
          n_subsamples: int = DEFAULT_N_SUBSAMPLES, n_projections: int = DEFAULT_N_PROJECTIONS,
          seed: int = 0) -> Drift:
    """Wasserstein drift between embedding sets a [n, d] and b [m, d] with the chosen estimator."""
    a, b = _check(a, b)
    if check_estimator(method) == "sliced":
        return Drift(wasserstein_sliced(a, b, n_projections, seed), float("nan"), LABELS["sliced"],
                     a.shape[0], b.shape[0], 0)
    values = subsampled_w1(a, b, max_points, n_subsamples, seed)
    subsampled = max(a.shape[0], b.shape[0]) > max_points
    spread = float(np.std(values, ddof=1)) if values.size > 1 else (float("nan") if subsampled else 0.0)
    return Drift(float(np.mean(values)), spread, LABELS["exact"], a.shape[0], b.shape[0], int(values.size))


# ---- the stage: embeddings HDF5 files (written by stages.score) -> long and summary tables ----------------

def load_fake_embeddings(path: str | Path) -> np.ndarray:
    """The pooled embeddings of the FAKE utterances (label 0) of one embeddings HDF5 file."""
    with h5py.File(path, "r") as handle:
        labels = handle["label"][()]
        embeddings = handle["embeddings"][()]
    if embeddings.shape[0] != labels.shape[0]:
        raise ValueError(f"{path}: {embeddings.shape[0]} embeddings but {labels.shape[0]} labels")
    fakes = embeddings[labels == FAKE]
    if fakes.shape[0] == 0:
        raise ValueError(f"{path}: no fake utterances (label 0) to measure drift on")
    return fakes


def runs_from_embedding_files(files: Sequence[str | Path], reference_dataset: str) -> list[dict[str, Any]]:
    """Drift jobs for `<model>/<method>/seed<N>/embeddings/<dataset>.h5` files: each test set of a run is paired
    with the same run's embeddings of `reference_dataset` (the embedding space is the run's own), which must be
    among `files`; the reference itself is not a row."""
    parsed = []
    for path in files:
        parsed.append({**run_keys(path, EMBEDDINGS), "embeddings": str(path)})
    references = {(p["model"], p["method"], p["seed"]): p["embeddings"]
                  for p in parsed if p["dataset"] == reference_dataset}
    runs = []
    for entry in parsed:
        if entry["dataset"] == reference_dataset:
            continue
        key = (entry["model"], entry["method"], entry["seed"])
        if key not in references:
            raise ValueError(f"{entry['embeddings']}: no {reference_dataset}.h5 of the same run among the inputs")
        runs.append({**entry, "reference": references[key]})
    return runs


def drift_table(runs: Sequence[Mapping[str, Any]], method: str = "exact", max_points: int = DEFAULT_MAX_POINTS,
                n_subsamples: int = DEFAULT_N_SUBSAMPLES, n_projections: int = DEFAULT_N_PROJECTIONS,
                seed: int = 0) -> pd.DataFrame:
    """One row per run x test set: model, method, seed, dataset, drift, drift_subsample_std, n_subsamples,
    n_test, n_reference, estimator (its label).

    Each run mapping has model, method, seed, dataset, embeddings (test HDF5) and reference (HDF5). Only
    FAKE utterances of either file are used."""
    check_estimator(method)
    cache: dict[str, np.ndarray] = {}

    def fakes(path: str | Path) -> np.ndarray:
        if str(path) not in cache:
            cache[str(path)] = load_fake_embeddings(path)
        return cache[str(path)]

    records = []
    for run in runs:
        result = drift(fakes(run["embeddings"]), fakes(run["reference"]), method, max_points, n_subsamples,
                       n_projections, seed)
        records.append({"model": run["model"], "method": run["method"], "seed": int(run["seed"]),
                        "dataset": run["dataset"], "drift": result.value,
                        "drift_subsample_std": result.subsample_std, "n_subsamples": result.n_subsamples,
                        "n_test": result.n_a, "n_reference": result.n_b, "estimator": result.estimator})
    return pd.DataFrame(records, columns=LONG_COLUMNS)


def drift_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof 1; NaN for a single seed) of the drift over seeds, and the mean over
    seeds of each run's spread over subsamples (how much of the seed spread the subsampling could explain)."""
    grouped = long.groupby(["model", "method", "dataset", "estimator"], sort=False)
    summary = grouped.agg(drift_mean=("drift", "mean"), drift_std=("drift", "std"), n_seeds=("drift", "count"),
                          drift_subsample_std=("drift_subsample_std", "mean")).reset_index()
    return summary[SUMMARY_COLUMNS]


def drift_stage(embedding_files: Sequence[str | Path], reference_dataset: str, long_csv: str | Path,
                summary_csv: str | Path, method: str = "exact", max_points: int = DEFAULT_MAX_POINTS,
                n_subsamples: int = DEFAULT_N_SUBSAMPLES, n_projections: int = DEFAULT_N_PROJECTIONS,
                seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drift of every run x test set against the run's own reference set; writes both CSVs atomically."""
    long = drift_table(runs_from_embedding_files(embedding_files, reference_dataset), method, max_points,
                       n_subsamples, n_projections, seed)
    summary = drift_summary(long)
    for frame, path in ((long, long_csv), (summary, summary_csv)):
        with atomic_path(path) as temporary:
            frame.to_csv(temporary, index=False, float_format="%.6g")
    return long, summary
