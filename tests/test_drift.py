"""Drift: Wasserstein estimators, the FAKE-only stage on embeddings files, and the figures module."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from deepfake_rl.drift import (drift, drift_stage, drift_summary, drift_table, load_fake_embeddings,
                               mean_abs_coordinate, resolve_method, runs_from_embedding_files, subsample,
                               wasserstein_exact, wasserstein_sliced)
from deepfake_rl.figures import drift_profiles, table1_heatmap

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(n, d))
    points[:, 0] += shift
    return points


def test_identical_samples_have_zero_drift():
    a = gaussian(60, 4, 0)
    # ot.dist's Euclidean cost goes through |x|^2 + |y|^2 - 2 x.y, so a zero distance comes out ~1e-8
    assert wasserstein_exact(a, a.copy()) == pytest.approx(0.0, abs=1e-6)
    assert wasserstein_sliced(a, a.copy()) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("shift", [-2.5, 0.7, 4.0])
def test_one_dimensional_shift_is_its_size(shift):
    a = gaussian(80, 1, 1)
    # in 1-D the optimal plan keeps the order, so every point moves by |shift|
    assert wasserstein_exact(a, a + shift) == pytest.approx(abs(shift), rel=1e-9)
    # one dimension: every projection is +-1 and E|theta_1| = 1, so sliced W1 is W1
    assert wasserstein_sliced(a, a + shift, n_projections=5) == pytest.approx(abs(shift), rel=1e-9)


def test_mean_abs_coordinate_known_values():
    assert mean_abs_coordinate(1) == pytest.approx(1.0)
    assert mean_abs_coordinate(2) == pytest.approx(2.0 / np.pi)     # E|cos U|, U uniform on the circle
    assert mean_abs_coordinate(3) == pytest.approx(0.5)             # uniform on [-1, 1] (Archimedes)


def test_sliced_and_exact_agree_on_shifted_gaussians():
    a, b = gaussian(400, 5, 2), gaussian(400, 5, 3, shift=3.0)
    exact, sliced = wasserstein_exact(a, b), wasserstein_sliced(a, b, n_projections=400)
    assert exact == pytest.approx(3.0, rel=0.12)
    assert sliced == pytest.approx(exact, rel=0.1)


def test_subsampling_is_deterministic_for_a_seed():
    a, b = gaussian(500, 3, 4), gaussian(450, 3, 5, shift=1.0)
    assert wasserstein_exact(a, b, max_points=100, seed=7) == wasserstein_exact(a, b, max_points=100, seed=7)
    assert wasserstein_exact(a, b, max_points=100, seed=7) != wasserstein_exact(a, b, max_points=100, seed=8)
    rows = subsample(a, 100, np.random.default_rng(3))
    assert rows.shape == (100, 3)
    assert np.array_equal(rows, subsample(a, 100, np.random.default_rng(3)))
    assert subsample(a, 1000, np.random.default_rng(3)) is a
    assert wasserstein_sliced(a, b, seed=1) == wasserstein_sliced(a, b, seed=1)


def test_auto_is_exact_only_when_every_set_fits():
    assert resolve_method("auto", [10, 20], max_points=20) == "exact"
    assert resolve_method("auto", [10, 21], max_points=20) == "sliced"
    small, large = gaussian(20, 2, 6), gaussian(30, 2, 7)
    assert drift(small, large, max_points=30).estimator == "exact"
    result = drift(small, large, max_points=25)
    assert (result.estimator, result.n_a, result.n_b) == ("sliced", 20, 30)
    with pytest.raises(ValueError, match="unknown drift method"):
        drift(small, large, method="fast")


@pytest.mark.parametrize("a, b, message", [
    (np.zeros((0, 3)), np.zeros((4, 3)), "empty"),
    (np.zeros((4, 3)), np.zeros((4, 2)), "dimensions differ"),
    (np.array([[0.0, np.nan]]), np.zeros((3, 2)), "NaN"),
    (np.zeros(4), np.zeros((4, 1)), "2-D"),
])
def test_bad_inputs_raise(a, b, message):
    with pytest.raises(ValueError, match=message):
        drift(a, b)


def write_embeddings(path: Path, real: np.ndarray, fake: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("embeddings", data=np.concatenate([real, fake]).astype(np.float32))
        handle.create_dataset("label", data=np.r_[np.ones(len(real)), np.zeros(len(fake))].astype(np.int8))
        handle.create_dataset("id", data=[f"u{i}" for i in range(len(real) + len(fake))],
                              dtype=h5py.string_dtype("utf-8"))


@pytest.fixture()
def run_files(tmp_path: Path) -> list[Path]:
    """Two seeds of one method: the test set's fakes are the reference's fakes shifted by 1 (seed 0) or 3
    (seed 1) along one axis; the real utterances of both files are far away and must not count."""
    files = []
    fakes = gaussian(40, 1, 8)
    for seed, shift in ((0, 1.0), (1, 3.0)):
        run = tmp_path / "runs" / "m" / "grpo" / f"seed{seed}" / "embeddings"
        write_embeddings(run / "asv19dev.h5", real=np.full((7, 1), 100.0), fake=fakes)
        write_embeddings(run / "dv.h5", real=np.full((9, 1), -100.0), fake=fakes + shift)
        files += [run / "dv.h5", run / "asv19dev.h5"]
    return files


def test_only_fake_utterances_are_used(run_files):
    assert load_fake_embeddings(run_files[0]).shape == (40, 1)
    long = drift_table(runs_from_embedding_files(run_files, "asv19dev"))
    assert list(long["seed"]) == [0, 1]
    assert np.allclose(long["drift"], [1.0, 3.0], atol=1e-5)
    assert list(long["n_test"]) == [40, 40] and list(long["n_reference"]) == [40, 40]
    assert set(long["estimator"]) == {"exact"}


def test_stage_writes_long_and_summary(run_files, tmp_path):
    long, summary = drift_stage(run_files, "asv19dev", tmp_path / "drift_long.csv", tmp_path / "drift.csv")
    written = pd.read_csv(tmp_path / "drift.csv")
    assert list(written.columns) == ["model", "method", "dataset", "drift_mean", "drift_std", "n_seeds", "estimator"]
    assert written.loc[0, "drift_mean"] == pytest.approx(2.0, abs=1e-4)
    assert written.loc[0, "drift_std"] == pytest.approx(np.sqrt(2.0), abs=1e-4)   # std(1, 3), ddof 1
    assert len(pd.read_csv(tmp_path / "drift_long.csv")) == 2
    assert drift_summary(long).equals(summary)


def test_missing_reference_is_an_error(run_files):
    with pytest.raises(ValueError, match="no itw.h5 of the same run"):
        runs_from_embedding_files(run_files, "itw")


def test_one_estimator_per_table(tmp_path):
    """A table whose sets straddle max_points is all sliced, never a mix."""
    for dataset, n in (("small", 5), ("large", 50), ("ref", 10)):
        write_embeddings(tmp_path / "m" / "sft" / "seed0" / "embeddings" / f"{dataset}.h5",
                         real=np.zeros((2, 3)), fake=gaussian(n, 3, n))
    files = sorted((tmp_path / "m").rglob("*.h5"))
    long = drift_table(runs_from_embedding_files(files, "ref"), max_points=20)
    assert set(long["estimator"]) == {"sliced"} and len(long) == 2


def png_ok(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_drift_profiles_figure(tmp_path):
    summary = pd.DataFrame({"model": "m", "method": ["none", "none", "sft", "sft", "grpo"],
                            "dataset": ["a", "b", "a", "b", "a"], "drift_mean": [3.0, 2.0, 1.0, 2.5, 1.2],
                            "drift_std": [np.nan, np.nan, 0.1, 0.2, 0.1], "n_seeds": [1, 1, 3, 3, 3],
                            "estimator": "exact"})
    path = tmp_path / "fig2a.png"
    drift_profiles(summary, "m", ["a", "b"], ["A", "B"], ["none", "sft", "grpo"], ["post-trained", "SFT", "GRPO"],
                   path)
    assert png_ok(path)
    with pytest.raises(ValueError):
        drift_profiles(summary, "m", ["a", "b"], ["A"], ["none"], ["x"], tmp_path / "bad.png")


def test_table1_heatmap_figure(tmp_path):
    table = pd.DataFrame({"row": [1, 2], "model": "XLS-R-2B", "pretrain": "yes", "posttrain": ["yes", "no"],
                          "finetune": ["x", "SFT"], "DFE24 4s": [3.4, np.nan], "in-domain ave.": [3.4, np.nan],
                          "ItW": [18.75, 2.0], "out-of-domain ave.": [18.75, 2.0]})
    table.to_csv(tmp_path / "table1.csv", index=False)
    table1_heatmap(tmp_path / "table1.csv", tmp_path / "table1.png")
    assert png_ok(tmp_path / "table1.png")
    assert not list(tmp_path.glob(".*.part"))
