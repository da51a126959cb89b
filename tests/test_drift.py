"""Drift: exact W1 (the default, averaged over seeded subsamples), the sliced estimator (labelled, never
W1), the FAKE-only stage on embeddings files, and the figures module."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import ot
import pandas as pd
import pytest

from deepfake_rl import figures
from deepfake_rl.config import ConfigError, validate_config
from deepfake_rl.drift import (LABELS, drift, drift_stage, drift_summary, drift_table, load_fake_embeddings,
                               mean_abs_coordinate, runs_from_embedding_files, subsample, subsampled_w1,
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


def test_exact_w1_hand_computed_in_one_and_two_dimensions():
    # 1-D, 3 vs 2 points: W1 = integral |F_a - F_b| = (1/2 - 1/3) on [0, 1) + (2/3 - 1/2) on [1, 2) = 1/3
    assert wasserstein_exact(np.array([[0.0], [1.0], [2.0]]), np.array([[0.0], [2.0]])) == pytest.approx(1 / 3)
    # 2-D, one point against two: its mass splits in halves, 0.5 * |(3, 4)| + 0.5 * 0 = 2.5
    assert wasserstein_exact(np.zeros((1, 2)), np.array([[3.0, 4.0], [0.0, 0.0]])) == pytest.approx(2.5)
    # 2-D, (+-1, 0) against (0, +-1): every matching moves each point sqrt(2)
    horizontal, vertical = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, -1.0]])
    assert wasserstein_exact(horizontal, vertical) == pytest.approx(np.sqrt(2.0))
    # a 2-D translation moves every point by the shift's length
    points = gaussian(50, 2, 9)
    assert wasserstein_exact(points, points + [3.0, 4.0]) == pytest.approx(5.0, rel=1e-6)


def test_sliced_is_not_w1():
    """(+-1, 0) against (0, +-1): W1 = sqrt(2); along direction t the projections are +-cos t and +-sin t, 1-D
    W1 ||cos t| - |sin t||, mean over t 4 (sqrt 2 - 1) / pi, divided by E|theta_1| = 2 / pi: 2 (sqrt 2 - 1)."""
    horizontal, vertical = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, -1.0]])
    sliced = wasserstein_sliced(horizontal, vertical, n_projections=20_000)
    assert sliced == pytest.approx(2.0 * (np.sqrt(2.0) - 1.0), rel=0.02)
    result = drift(horizontal, vertical, method="sliced", n_projections=2000)
    assert result.estimator == LABELS["sliced"] == "sliced (not W1)"
    assert np.isnan(result.subsample_std) and result.n_subsamples == 0
    assert drift(horizontal, vertical).estimator == "W1"
    assert drift(horizontal, vertical).value == pytest.approx(np.sqrt(2.0))


def test_mean_abs_coordinate_known_values():
    assert mean_abs_coordinate(1) == pytest.approx(1.0)
    assert mean_abs_coordinate(2) == pytest.approx(2.0 / np.pi)     # E|cos U|, U uniform on the circle
    assert mean_abs_coordinate(3) == pytest.approx(0.5)             # uniform on [-1, 1] (Archimedes)


def test_sliced_and_exact_agree_on_shifted_gaussians():
    a, b = gaussian(400, 5, 2), gaussian(400, 5, 3, shift=3.0)
    exact, sliced = wasserstein_exact(a, b), wasserstein_sliced(a, b, n_projections=400)
    assert exact == pytest.approx(3.0, rel=0.12)
    assert sliced == pytest.approx(exact, rel=0.1)


def test_subsampled_w1_is_the_mean_over_seeded_subsample_pairs():
    a, b = gaussian(500, 3, 4), gaussian(450, 3, 5, shift=1.0)
    result = drift(a, b, max_points=100, n_subsamples=4, seed=7)
    # by hand: one generator for the seed, a's then b's subsample for each pair in turn
    rng = np.random.default_rng(7)
    by_hand = [wasserstein_exact(subsample(a, 100, rng), subsample(b, 100, rng)) for _ in range(4)]
    assert result.value == pytest.approx(np.mean(by_hand), rel=1e-12)
    assert result.subsample_std == pytest.approx(np.std(by_hand, ddof=1), rel=1e-12) and result.subsample_std > 0
    assert (result.estimator, result.n_subsamples, result.n_a, result.n_b) == ("W1", 4, 500, 450)
    assert drift(a, b, max_points=100, n_subsamples=4, seed=7) == result                 # reproducible by seed
    assert drift(a, b, max_points=100, n_subsamples=4, seed=8).value != result.value
    assert np.array_equal(subsampled_w1(a, b, 100, 4, 7), by_hand)


def test_sets_that_fit_are_used_whole_once():
    a, b = gaussian(30, 2, 1), gaussian(40, 2, 2, shift=2.0)
    result = drift(a, b, max_points=40, n_subsamples=5)
    assert result.value == pytest.approx(wasserstein_exact(a, b)) and result.n_subsamples == 1
    assert result.subsample_std == 0.0                # no subsampling: nothing varies
    one = drift(a, b, max_points=20, n_subsamples=1)  # subsampled once: the spread is unknown, not 0
    assert one.n_subsamples == 1 and np.isnan(one.subsample_std)


def test_large_sets_stay_w1_never_switch_to_sliced():
    """The removed `auto` made any table with a set above max_points sliced (another quantity)."""
    small, large = gaussian(20, 2, 6), gaussian(30, 2, 7)
    result = drift(small, large, max_points=25)
    assert (result.estimator, result.n_a, result.n_b, result.n_subsamples) == ("W1", 20, 30, 5)


@pytest.mark.parametrize("method", ["auto", "fast"])
def test_auto_and_unknown_estimators_are_rejected(method):
    small, large = gaussian(20, 2, 6), gaussian(30, 2, 7)
    with pytest.raises(ValueError, match="was removed" if method == "auto" else "unknown drift estimator"):
        drift(small, large, method=method)
    with pytest.raises(ValueError, match="was removed" if method == "auto" else "unknown drift estimator"):
        drift_table([], method=method)


def test_config_validation_rejects_auto_and_says_why(default_config):
    default_config["drift"]["estimator"] = "auto"
    with pytest.raises(ConfigError) as error:
        validate_config(default_config)
    assert "drift.estimator: 'auto' is not one of ['exact', 'sliced']" in str(error.value)
    assert "'auto' was removed" in str(error.value) and "not W1" in str(error.value)
    del default_config["drift"]["estimator"]
    default_config["drift"]["n_subsamples"] = 0
    with pytest.raises(ConfigError, match="drift.n_subsamples"):
        validate_config(default_config)


def test_an_emd_that_stops_before_optimality_is_an_error(monkeypatch):
    monkeypatch.setattr(ot, "emd2", lambda *args, **kwargs: (1.0, {"warning": "numItermax reached before optimality"}))
    with pytest.raises(RuntimeError, match="numItermax"):
        wasserstein_exact(gaussian(5, 2, 0), gaussian(5, 2, 1))


def test_subsample_rows_and_projections_are_seeded():
    a, b = gaussian(500, 3, 4), gaussian(450, 3, 5, shift=1.0)
    rows = subsample(a, 100, np.random.default_rng(3))
    assert rows.shape == (100, 3)
    assert np.array_equal(rows, subsample(a, 100, np.random.default_rng(3)))
    assert subsample(a, 1000, np.random.default_rng(3)) is a
    assert wasserstein_sliced(a, b, seed=1) == wasserstein_sliced(a, b, seed=1)


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
    assert set(long["estimator"]) == {"W1"} and list(long["drift_subsample_std"]) == [0.0, 0.0]


def test_stage_writes_long_and_summary(run_files, tmp_path):
    long, summary = drift_stage(run_files, "asv19dev", tmp_path / "drift_long.csv", tmp_path / "drift.csv")
    written = pd.read_csv(tmp_path / "drift.csv")
    assert list(written.columns) == ["model", "method", "dataset", "drift_mean", "drift_std", "drift_subsample_std",
                                     "n_seeds", "estimator"]
    assert list(pd.read_csv(tmp_path / "drift_long.csv").columns) == [
        "model", "method", "seed", "dataset", "drift", "drift_subsample_std", "n_subsamples", "n_test",
        "n_reference", "estimator"]
    assert written.loc[0, "drift_mean"] == pytest.approx(2.0, abs=1e-4)
    assert written.loc[0, "drift_std"] == pytest.approx(np.sqrt(2.0), abs=1e-4)   # std(1, 3), ddof 1
    assert len(pd.read_csv(tmp_path / "drift_long.csv")) == 2
    assert drift_summary(long).equals(summary)


def test_missing_reference_is_an_error(run_files):
    with pytest.raises(ValueError, match="no itw.h5 of the same run"):
        runs_from_embedding_files(run_files, "itw")


def test_a_table_straddling_max_points_is_all_w1(tmp_path):
    """Sets below and above max_points: all W1, subsampled (with a spread) only where a side is too large."""
    for dataset, n in (("small", 5), ("large", 50), ("ref", 10)):
        write_embeddings(tmp_path / "m" / "sft" / "seed0" / "embeddings" / f"{dataset}.h5",
                         real=np.zeros((2, 3)), fake=gaussian(n, 3, n))
    files = sorted((tmp_path / "m").rglob("*.h5"))
    long = drift_table(runs_from_embedding_files(files, "ref"), max_points=20, n_subsamples=3).set_index("dataset")
    assert set(long["estimator"]) == {"W1"} and len(long) == 2
    assert long.loc["small", "n_subsamples"] == 1 and long.loc["small", "drift_subsample_std"] == 0.0
    assert long.loc["large", "n_subsamples"] == 3 and long.loc["large", "drift_subsample_std"] > 0
    sliced = drift_table(runs_from_embedding_files(files, "ref"), method="sliced")
    assert set(sliced["estimator"]) == {"sliced (not W1)"} and sliced["drift_subsample_std"].isna().all()


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


@pytest.mark.parametrize("estimator", ["W1", "sliced (not W1)"])
def test_drift_figure_names_its_estimator(tmp_path, monkeypatch, estimator):
    drawn = []
    monkeypatch.setattr(figures, "save_png", lambda figure, path: drawn.append(figure))
    summary = pd.DataFrame({"model": "m", "method": "sft", "dataset": ["a", "b"], "drift_mean": [1.0, 2.0],
                            "drift_std": [0.1, 0.2], "drift_subsample_std": 0.0, "n_seeds": 3,
                            "estimator": estimator})
    drift_profiles(summary, "m", ["a", "b"], ["A", "B"], ["sft"], ["SFT"], tmp_path / "x.png", title="Fig. 2(a)")
    axes = drawn[0].axes[0]
    assert axes.get_title() == f"Fig. 2(a) [{estimator}]" and estimator in axes.get_ylabel()
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
