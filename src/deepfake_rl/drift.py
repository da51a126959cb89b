"""Drift (paper section 3.4): Wasserstein distance between the pooled embeddings of the FAKE utterances of a
test set and those of a reference set (ASVspoof 2019 LA dev in the paper; `asv19dev` here), per run.

Two estimators of W1 with Euclidean ground cost, both via POT:

* ``exact``: ``ot.emd2`` with uniform weights on seeded subsamples of at most ``max_points`` per side (the
  network simplex is cubic-ish in the number of points, so the sets must be bounded);
* ``sliced``: sliced W1 over ``n_projections`` seeded random directions, divided by E|theta_1| (the mean
  absolute coordinate of a uniform unit vector in d dimensions) so it equals W1 for a pure translation
  (and coincides with it in one dimension). It is O(n log n) per direction and has dimension-free sampling
  error, hence the choice for large sets. For other differences it is a different number from W1.
  In high dimension the exact estimator on a few thousand points is dominated by its sampling bias (two
  samples of one distribution are far apart); benchmarks/drift_benchmark.py prints both estimators.

A table never mixes the two: ``drift_table`` resolves ``auto`` once for all its rows. Every row uses the same
seed (same random streams for subsamples and projections), so row differences are not projection noise.
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

METHODS = ("auto", "exact", "sliced")
DEFAULT_MAX_POINTS = 2000
DEFAULT_N_PROJECTIONS = 500
FAKE = 0    # label of fake utterances in the embeddings files (1 = real)


@dataclass(frozen=True)
class Drift:
    """One drift value and how it was obtained."""

    value: float
    estimator: str      # "exact" or "sliced"
    n_a: int            # points of each set before any subsampling
    n_b: int


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


def subsample(x: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """At most `max_points` rows of x, drawn without replacement and kept in their original order."""
    if max_points < 1:
        raise ValueError(f"max_points must be positive, got {max_points}")
    if x.shape[0] <= max_points:
        return x
    return x[np.sort(rng.choice(x.shape[0], size=max_points, replace=False))]


def wasserstein_exact(a: np.ndarray, b: np.ndarray, max_points: int = DEFAULT_MAX_POINTS, seed: int = 0) -> float:
    """Exact W1 (Euclidean cost, uniform weights) between seeded subsamples of at most `max_points` per side."""
    a, b = _check(a, b)
    rng = np.random.default_rng(seed)
    a, b = subsample(a, max_points, rng), subsample(b, max_points, rng)
    cost = ot.dist(a, b, metric="euclidean")
    weights_a, weights_b = np.full(a.shape[0], 1.0 / a.shape[0]), np.full(b.shape[0], 1.0 / b.shape[0])
    return float(ot.emd2(weights_a, weights_b, cost, numItermax=max(100_000, 50 * a.shape[0] * b.shape[0])))


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


def resolve_method(method: str, sizes: Sequence[int], max_points: int) -> str:
    """`auto` is exact when every set fits in `max_points` (no subsampling needed), else sliced."""
    if method not in METHODS:
        raise ValueError(f"unknown drift method {method!r}; expected one of {METHODS}")
    if method != "auto":
        return method
    return "exact" if max(sizes) <= max_points else "sliced"


def drift(a: np.ndarray, b: np.ndarray, method: str = "auto", max_points: int = DEFAULT_MAX_POINTS,
          n_projections: int = DEFAULT_N_PROJECTIONS, seed: int = 0) -> Drift:
    """Wasserstein drift between embedding sets a [n, d] and b [m, d] with the chosen estimator."""
    a, b = _check(a, b)
    estimator = resolve_method(method, [a.shape[0], b.shape[0]], max_points)
    value = (wasserstein_exact(a, b, max_points, seed) if estimator == "exact"
             else wasserstein_sliced(a, b, n_projections, seed))
    return Drift(value, estimator, a.shape[0], b.shape[0])


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


def drift_table(runs: Sequence[Mapping[str, Any]], method: str = "auto", max_points: int = DEFAULT_MAX_POINTS,
                n_projections: int = DEFAULT_N_PROJECTIONS, seed: int = 0) -> pd.DataFrame:
    """One row per run x test set: model, method, seed, dataset, drift, n_test, n_reference, estimator.

    Each run mapping has model, method, seed, dataset, embeddings (test HDF5) and reference (HDF5). Only
    FAKE utterances of either file are used. `auto` is resolved once for the whole table."""
    cache: dict[str, np.ndarray] = {}

    def fakes(path: str | Path) -> np.ndarray:
        if str(path) not in cache:
            cache[str(path)] = load_fake_embeddings(path)
        return cache[str(path)]

    sizes = [n for run in runs for n in (fakes(run["embeddings"]).shape[0], fakes(run["reference"]).shape[0])]
    estimator = resolve_method(method, sizes or [0], max_points)
    records = []
    for run in runs:
        test, reference = fakes(run["embeddings"]), fakes(run["reference"])
        result = drift(test, reference, estimator, max_points, n_projections, seed)
        records.append({"model": run["model"], "method": run["method"], "seed": int(run["seed"]),
                        "dataset": run["dataset"], "drift": result.value, "n_test": result.n_a,
                        "n_reference": result.n_b, "estimator": result.estimator})
    return pd.DataFrame(records, columns=["model", "method", "seed", "dataset", "drift", "n_test", "n_reference",
                                          "estimator"])


def drift_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof 1; NaN for a single seed) of the drift over seeds."""
    grouped = long.groupby(["model", "method", "dataset", "estimator"], sort=False)["drift"]
    summary = grouped.agg(drift_mean="mean", drift_std="std", n_seeds="count").reset_index()
    return summary[["model", "method", "dataset", "drift_mean", "drift_std", "n_seeds", "estimator"]]


def drift_stage(embedding_files: Sequence[str | Path], reference_dataset: str, long_csv: str | Path,
                summary_csv: str | Path, method: str = "auto", max_points: int = DEFAULT_MAX_POINTS,
                n_projections: int = DEFAULT_N_PROJECTIONS, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drift of every run x test set against the run's own reference set; writes both CSVs atomically."""
    long = drift_table(runs_from_embedding_files(embedding_files, reference_dataset), method, max_points,
                       n_projections, seed)
    summary = drift_summary(long)
    for frame, path in ((long, long_csv), (summary, summary_csv)):
        with atomic_path(path) as temporary:
            frame.to_csv(temporary, index=False, float_format="%.6g")
    return long, summary
